"""How long the ``search`` policy takes to compile each tiny zoo twin, next to ``smartmem`` (the rule-based
policy it extends) in the same run. The timing-model issue asks for <= 5 s per tiny twin on 2 cores.

Each model is compiled in a fresh cost model (no memo carried from one model to the next), after one
warm-up compile of a small model so that numba's compilation is not charged to the first row::

    .venv/bin/python benchmarks/bench_search_compile.py [--device adreno740] [--models vit,swin] [--csv OUT.csv]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time


def main(argv=None) -> int:
    from smartmem_sim.simulation import compile_for, cost_model, load_graph
    from smartmem_sim.zoo import list_models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="adreno740", help="memsim profile the search prices with")
    ap.add_argument("--models", default=",".join(list_models()), help="comma-separated zoo models (tiny twins)")
    ap.add_argument("--storage", default="fp16")
    ap.add_argument("--csv", help="write the rows here too")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    compile_for(load_graph("resnext", True), "search", args.device, args.storage, cost_model(args.device))
    rows = []
    print(f"{'model':16s} {'smartmem s':>10s} {'search s':>9s} {'ratio':>6s}  (device {args.device}, "
          f"{os.cpu_count()} CPUs)")
    for m in models:
        graph = load_graph(m, True)
        t0 = time.perf_counter()
        compile_for(graph, "smartmem", args.device, args.storage)
        t1 = time.perf_counter()
        compile_for(graph, "search", args.device, args.storage, cost_model(args.device))
        t2 = time.perf_counter()
        rows.append({"model": m, "smartmem_s": t1 - t0, "search_s": t2 - t1})
        print(f"{m:16s} {t1 - t0:10.2f} {t2 - t1:9.2f} {(t2 - t1) / max(t1 - t0, 1e-9):6.1f}", flush=True)
    worst = max(rows, key=lambda r: r["search_s"])
    print(f"slowest search: {worst['model']} {worst['search_s']:.2f} s; over 5 s: "
          f"{sum(r['search_s'] > 5 for r in rows)} of {len(rows)}")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
