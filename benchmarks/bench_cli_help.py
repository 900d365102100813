"""`smartmem --help` wall time (the package issue asks < 0.5 s), next to a bare `python -c pass` in the same run.

Each is started N times as a fresh process (what a user waits for); the median and the best are printed::

    .venv/bin/python benchmarks/bench_cli_help.py [--n 15]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _times(cmd: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=15)
    args = ap.parse_args(argv)
    rows = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("smartmem --help", [sys.executable, "-m", "smartmem_sim.cli", "--help"]),
            ("smartmem compare --help", [sys.executable, "-m", "smartmem_sim.cli", "compare", "--help"])]
    base = None
    print(f"{'command':26s} {'median s':>9s} {'best s':>7s} {'over python':>12s}")
    for label, cmd in rows:
        t = _times(cmd, args.n)
        med = statistics.median(t)
        base = base or med
        print(f"{label:26s} {med:9.3f} {min(t):7.3f} {med - base:+11.3f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
