"""Does the simulator pick the tile the device measures fastest? For every (shape, layout) of a measured
bench_tiled_matmul.py CSV, price each tile's kernel with the memsim-backed cost model of a profile
(SimulatedCost, the compiler's oracle) and compare: the simulator's best tile, its measured time against the
measured best (the issue's check: within 10%), and Spearman's rho between predicted and measured times.
No device needed::

    .venv/bin/python benchmarks/tile_choice_vs_measured.py \\
        benchmarks/results/bench_tiled_matmul/h100_2026-12-07/tiled_mnn.csv [more CSVs] --profile h100_opencl
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_tiled_matmul import matmul_plan  # noqa: E402
from smartmem_sim.calibration.stats import spearman  # noqa: E402
from smartmem_sim.compiler.costs import SimulatedCost  # noqa: E402
from smartmem_sim.kernels.library import tile_plan  # noqa: E402
from smartmem_sim.kernels.trace.sample import ProgramSampler  # noqa: E402


def predicted_ms(cost: SimulatedCost, m: int, k: int, n: int, layout: str, storage: str, tile: tuple[int, int]) -> float:
    plan = tile_plan(matmul_plan(m, k, n, layout, storage), tile)
    return cost.evaluate(plan, plan.steps[0]).seconds * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+", help="bench_tiled_matmul.py --csv files (measured)")
    ap.add_argument("--profile", default="h100_opencl")
    ap.add_argument("--out", help="write the per-kernel rows here (CSV)")
    args = ap.parse_args(argv)
    groups = defaultdict(list)
    for path in args.csv:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                groups[(r["shape"], r["layout"], r["storage"], r["texel_reuse"])].append(r)
    rows, hits = [], 0
    print(f"{'shape':>14s} {'layout':>8s}  {'measured best':>14s}  {'simulator best':>14s}  {'its measured':>12s}  "
          f"{'vs best':>7s}  {'rho':>5s}")
    for (shape, layout, storage, reuse), rs in groups.items():
        cost = SimulatedCost(args.profile, ProgramSampler(texel_reuse=reuse == "on"))
        m, k, n = (int(rs[0][c]) for c in ("m", "k", "n"))
        pred = {}
        for r in rs:
            tile = tuple(int(v) for v in r["tile"].split("x"))
            pred[r["tile"]] = predicted_ms(cost, m, k, n, layout, storage, tile)
            rows.append({"shape": shape, "layout": layout, "tile": r["tile"], "measured_ms": float(r["median_ms"]),
                         "predicted_ms": pred[r["tile"]]})
        meas = {r["tile"]: float(r["median_ms"]) for r in rs}
        best_m = min(meas, key=meas.get)
        best_p = min(pred, key=pred.get)
        off = meas[best_p] / meas[best_m] - 1
        hits += off <= 0.10
        rho = spearman([pred[t] for t in meas], list(meas.values()))
        print(f"{shape:>14s} {layout:>8s}  {best_m:>6s} {meas[best_m]:7.3f}  {best_p:>6s} {pred[best_p]:7.3f}  "
              f"{meas[best_p]:10.3f}ms  {off:+7.1%}  {rho:5.2f}")
    print(f"simulator's tile within 10% of the measured best: {hits} of {len(groups)} (profile {args.profile})")
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
