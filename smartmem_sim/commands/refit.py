"""`smartmem refit --csv ROWS.csv --profile P --train M1,M2 --out DIR`: fit the device-wide timing parameters
of a profile (launch overhead, latency hiding, issue rate) on the measured kernels of some models and report
the accuracy on the others (smartmem_sim/calibration/refit.py; the rows come from `smartmem validate --csv`)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from smartmem_sim.calibration.refit_args import add_arguments

    p = subparsers.add_parser("refit", help="fit a profile's timing parameters to measured kernels (held-out report)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from smartmem_sim.calibration.refit import run_args

    return run_args(args)
