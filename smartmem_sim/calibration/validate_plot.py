"""Redraw a ``smartmem validate`` plot from its rows CSV: no device and no simulation, because the CSV keeps
both the measured and the predicted time of every kernel (``smartmem validate --from-csv`` predicts again
under a profile instead; this draws exactly the numbers that were written).

    python -m smartmem_sim.calibration.validate_plot ROWS.csv OUT.png [--title TEXT] [--stamp]

Writes OUT.png (200 dpi), OUT.svg and OUT.pdf. The title ends with the share of kernels within +-10%,
computed from the CSV; ``--title`` gives what goes before it (e.g. "h100_opencl vs NVIDIA H100"), by default
the CSV's name.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from smartmem_sim.calibration import stats
from smartmem_sim.calibration.validate import KernelRow, plot, read_rows
from smartmem_sim.errors import UserError


def read_plot_rows(path: str | Path) -> list[KernelRow]:
    """The rows of a validate CSV with their predicted times (``validate.read_rows`` drops those, because
    --from-csv predicts again)."""
    out = read_rows(str(path), keep_predicted=True)
    rows = [r for r in out if r.measured_us > 0 and r.predicted_us > 0]
    if not rows:
        raise UserError(f"{path}: no row with positive measured and predicted times")
    return rows


def commit() -> str:
    """Short hash of the checkout's HEAD, for the figure's metadata ("unknown" outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def replot(csv_path: str | Path, out: str | Path, title: str | None = None, band: float = 0.10,
           stamp: bool = False, source: str | None = None) -> list[Path]:
    """Draw the validate plot of ``csv_path`` to ``out`` (.png, .svg and .pdf); returns the paths written.
    ``source`` names the CSV in the files' metadata (default: ``csv_path`` as given)."""
    rows = read_plot_rows(csv_path)
    within = stats.share_within([r.rel_error for r in rows], band)
    head = title or Path(csv_path).name
    full = f"{head}: {within:.0%} of {len(rows)} kernels within +-{band:.0%}"
    return plot(rows, str(out), full, band, description=f"commit {commit()}; redrawn from {source or csv_path} "
                f"by smartmem_sim.calibration.validate_plot", stamp=stamp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="rows CSV written by `smartmem validate --csv`")
    ap.add_argument("out", help="output path; .png, .svg and .pdf are written beside it")
    ap.add_argument("--title", default=None, help="what the title says before the share within the band")
    ap.add_argument("--stamp", action="store_true", help="draw the source under the figure too (it is always in "
                    "the files' metadata)")
    args = ap.parse_args(argv)
    try:
        for written in replot(args.csv, args.out, args.title, stamp=args.stamp):
            print(f"wrote {written}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
