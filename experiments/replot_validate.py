"""Redraw the committed `smartmem validate` plots under experiments/results/calibration/ from their rows CSVs
(smartmem_sim.calibration.validate_plot: no device, no simulation; the CSV keeps measured and predicted times).

    .venv/bin/python experiments/replot_validate.py [--stamp]

Each plot's title keeps what the run that made it said before the share within +-10% (profile vs device, or
vs the rows it predicted again), taken from the plots these replace; the share comes from the CSV.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smartmem_sim.calibration.validate_plot import replot  # noqa: E402

CALIBRATION = ROOT / "experiments" / "results" / "calibration"
H100 = "NVIDIA CUDA / NVIDIA H100 80GB HBM3"
# CSV (relative to CALIBRATION) -> the title's head, as the run that measured or predicted it wrote it
PLOTS = {
    "h100/validate.csv": f"h100_opencl vs {H100}",
    "h100/validate_base_profile.csv": "h100_opencl vs rows of experiments/results/calibration/h100/validate.csv",
    "h100/pre_reuse/validate.csv": f"h100_opencl_calibrated vs {H100}",
    "h100/pre_reuse/validate_calibrated_refit.csv":
        "h100_opencl_calibrated vs rows of experiments/results/calibration/h100/pre_reuse/validate.csv",
    "h100_registers_off_gated/validate.csv": f"h100_opencl vs {H100} (texel registers off, gated launches)",
    "h100_registers_off_ungated/validate.csv": f"h100_opencl vs {H100} (texel registers off, ungated launches)",
    "h100_registers_on_ungated/validate.csv": f"h100_opencl vs {H100} (texel registers on, ungated launches)",
    "pocl/validate.csv": "pocl_cpu_calibrated vs Portable Computing Language / pthread-haswell-AMD EPYC",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamp", action="store_true", help="draw the source under each figure too")
    args = ap.parse_args(argv)
    for rel, title in PLOTS.items():
        csv_path = CALIBRATION / rel
        out = csv_path.with_suffix(".png")
        for written in replot(csv_path, out, title, stamp=args.stamp, source=str(csv_path.relative_to(ROOT))):
            print(f"wrote {written.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
