"""Regenerate every table and figure of experiments/results/ in one command (the paper's Tables 1, 7, 8,
Figs 7-12, and the cache-size study). Each script reads the sweep cache (.cache/sweep) and computes only
what is missing, so a rerun after a finished one takes seconds; a run from a fresh clone computes everything.

    .venv/bin/python experiments/make_figures.py [--only fig7,table8] [--tiny] [--workers 2] [--stamp] [--replot]

``--tiny`` runs every script on the tiny twins into experiments/results/tiny/ (a smoke run of minutes);
otherwise each script runs at its committed scale (SCRIPTS below: full size except the batch study).
Prints and writes (results/make_figures.log) each script's wall time. Figures are PNG (200 dpi), SVG and PDF
with the commit and command in their metadata; ``--stamp`` draws them under each figure as well, ``--replot``
redraws every figure from the CSVs already written (seconds, no simulation; the CSVs and the log are kept).
The calibration's validate plots are redrawn by experiments/replot_validate.py.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

# name -> (script, arguments at the committed scale); order: cheap first, shared results computed once
SCRIPTS: dict[str, tuple[str, list[str]]] = {
    "table7": ("table7_op_counts.py", []),
    "table8": ("table8_simulated.py", []),
    "table1": ("table1_transform_share.py", []),
    "per_op": ("per_op_time.py", []),
    "fig7": ("fig7_memory.py", []),
    "fig8_9": ("fig8_9_ablation.py", []),
    "fig12": ("fig12_roofline.py", []),
    "fig11": ("fig11_portability.py", ["--models", "swin,vit,resnext,convnext,cswin,sd_text_encoder"]),
    "fig10": ("fig10_batch.py", []),  # tiny twins by default (batch-N exports from torch)
    "cache_sensitivity": ("cache_sensitivity.py", []),
}
TINY_MODELS = "swin,vit,resnext"


def command(name: str, tiny: bool, workers: int, flags: tuple[str, ...] = ()) -> list[str]:
    """The command line of one script; ``flags`` (--stamp, --replot) go to every script."""
    script, extra = SCRIPTS[name]
    cmd = [sys.executable, str(Path(__file__).with_name(script)), *flags]
    if name == "table7":
        return cmd + (["--models", TINY_MODELS, "--out", str(common.RESULTS / "tiny" / name)] if tiny else [])
    cmd += ["--workers", str(workers)]
    if tiny:
        return cmd + ["--tiny", "--models", TINY_MODELS, "--out", str(common.RESULTS / "tiny" / name)]
    return cmd + extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(SCRIPTS)}")
    ap.add_argument("--tiny", action="store_true", help="tiny twins of 3 networks into results/tiny/ (smoke run)")
    ap.add_argument("--workers", type=int, default=2, help="sweep worker processes (1: in-process)")
    ap.add_argument("--stamp", action="store_true", help="draw the commit and command under each figure (they are "
                    "always in the files' metadata)")
    ap.add_argument("--replot", action="store_true", help="redraw the figures from the CSVs already written, "
                    "simulating nothing (the log is not rewritten)")
    args = ap.parse_args(argv)
    flags = tuple(f for f, on in (("--stamp", args.stamp), ("--replot", args.replot)) if on)
    names = [n for n in args.only.split(",") if n] or list(SCRIPTS)
    bad = [n for n in names if n not in SCRIPTS]
    if bad:
        raise common.UserError(f"--only: unknown script(s) {bad}; choose from {', '.join(SCRIPTS)}")
    log, status = [], 0
    t_all = time.perf_counter()
    for n in names:
        cmd = command(n, args.tiny, args.workers, flags)
        print(f"== {n}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, cwd=common.ROOT)
        wall = time.perf_counter() - t0
        log.append(f"{n}\t{wall:.1f} s\texit {rc}\t{' '.join(Path(c).name if i == 1 else c for i, c in enumerate(cmd[1:], 1))}")
        print(f"== {n}: exit {rc}, {wall:.1f} s", flush=True)
        status = status or rc
    total = time.perf_counter() - t_all
    if args.replot:  # the log times the runs that computed the CSVs, not a redraw
        return status
    text = common.header(scale="tiny" if args.tiny else "committed", total_s=f"{total:.0f}") + "\n" + "\n".join(log) + "\n"
    out = common.RESULTS / ("tiny" if args.tiny else "") / "make_figures.log"
    common.write_text(out, text)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
