"""The options of ``smartmem refit`` and ``python -m smartmem_sim.calibration.refit``, apart from refit.py so that
registering the subcommand (``smartmem --help``) imports no simulator."""
from __future__ import annotations

import argparse


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``smartmem refit`` and ``python -m smartmem_sim.calibration.refit``."""
    ap.add_argument("--csv", required=True, help="measured rows (smartmem validate --csv)")
    ap.add_argument("--profile", required=True, help="memsim profile (shipped name or .toml with [occupancy])")
    ap.add_argument("--train", required=True, help="comma-separated models (as in the CSV's model column) to fit on")
    ap.add_argument("--out", required=True, help="folder for terms.csv, report.txt, predictions.csv, the profile")
    ap.add_argument("--texel-reuse", choices=("on", "off", "device"), default="device",
                    help="how the measured kernels were built: with texel registers (on), without (off), or "
                         "as the profile's [execution] table says (device, default)")
