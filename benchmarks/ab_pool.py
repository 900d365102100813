"""Pool several runs of bench_memsim_ab_inprocess.py (their ``--csv`` files) into one verdict per row.

One run's median ratio moves by a few percent with the host (on the project's 2-vCPU VM a 41-round run read
0.94 and 0.98 for the same row minutes apart), so a bound of 5% cannot be read off one run. Here the rounds of
every run are pooled per row, and the median ratio (new rate / base rate) is given with a bootstrap 95%
interval that resamples whole runs and then rounds within them (a run's host state is shared by its rounds, so
runs, not rounds, are the independent draws). A row passes when the interval's lower end is at least
``--bound`` (default 0.95: "more than 5% slower is a regression").

    .venv/bin/python benchmarks/ab_pool.py RUN1.csv RUN2.csv ... [--bound 0.95] [--seed 0]
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np


def read_runs(paths: list[Path]) -> dict[str, list[np.ndarray]]:
    """Per row (in the order first seen), one array of per-round ratios per run."""
    runs: dict[str, list[np.ndarray]] = defaultdict(list)
    for path in paths:
        per_row: dict[str, list[float]] = defaultdict(list)
        with path.open(newline="") as f:
            for rec in csv.DictReader(f):
                if rec["same"] != "1":
                    raise SystemExit(f"{path}: row {rec['row']!r} reports different counts: not a speed question")
                per_row[rec["row"]].append(float(rec["ratio"]))
        for row, ratios in per_row.items():
            runs[row].append(np.array(ratios))
    return runs


def bootstrap_median(runs: list[np.ndarray], rng: np.random.Generator, draws: int = 2000) -> tuple[float, float]:
    """95% interval of the pooled median: resample runs with replacement, then rounds within each."""
    meds = np.empty(draws)
    for d in range(draws):
        picked = [runs[i] for i in rng.integers(0, len(runs), len(runs))]
        meds[d] = np.median(np.concatenate([r[rng.integers(0, r.size, r.size)] for r in picked]))
    lo, hi = np.percentile(meds, [2.5, 97.5])
    return float(lo), float(hi)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path, nargs="+", help="bench_memsim_ab_inprocess.py --csv files, one per run")
    ap.add_argument("--bound", type=float, default=0.95, help="lowest acceptable ratio new/base (default 0.95)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    runs = read_runs(args.csv)
    print(f"# {len(args.csv)} runs pooled; ratio = new rate / base rate; interval: bootstrap 95% (runs, then rounds);"
          f" pass: interval's lower end >= {args.bound}")
    print(f"{'row':40s} {'rounds':>6s} {'run medians (min-max)':>22s} {'pooled median':>14s} {'95% interval':>15s}  verdict")
    failed = 0
    for row, rs in runs.items():
        meds = [float(np.median(r)) for r in rs]
        pooled = float(np.median(np.concatenate(rs)))
        lo, hi = bootstrap_median(rs, rng)
        ok = lo >= args.bound
        failed += not ok
        print(f"{row:40s} {sum(r.size for r in rs):6d} {min(meds):10.3f}-{max(meds):<11.3f} {pooled:14.3f} "
              f"{lo:7.3f}-{hi:<7.3f}  {'pass' if ok else 'FAIL'}")
    print(f"# {len(runs) - failed} of {len(runs)} rows pass")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
