"""Speed of whole-network simulation and of layout search (seconds; targets: Swin-T under one policy <= 5 s,
CSwin search <= 2 s). Also the sampling error on a network small enough to simulate exactly.

    .venv/bin/python benchmarks/bench_simulate.py [--device adreno740]

Uses full-size zoo files where committed, else the tiny twin (printed). Never a timed test.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.costs import AnalyticalCost, SimulatedCost  # noqa: E402
from compiler.pipeline import compile_model  # noqa: E402
from smartmem_sim.simulate import ProgramSampler, cost_model, load_graph, simulate_plan  # noqa: E402
from smartmem_sim.zoo import store  # noqa: E402


def _graph(name):
    tiny = not store.model_path(name, False).exists()
    return load_graph(name, tiny=tiny), "tiny twin" if tiny else "full size"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="adreno740")
    args = ap.parse_args(argv)
    cost_model(args.device)  # numba caches warm before timing
    t = time.time()
    graph, size = _graph("swin")
    plan = compile_model(graph, "smartmem", "fp16")
    r = simulate_plan(plan, args.device, cost_model(args.device))
    print(f"swin ({size}) smartmem: load+compile+simulate {time.time() - t:.2f} s, {len(plan.steps)} kernels, "
          f"predicted {r.seconds * 1e3:.3f} ms +-{100 * r.rel_error:.1f}%  (target <= 5 s)")
    graph, size = _graph("cswin")
    for label, cost in (("analytical", AnalyticalCost(args.device)), ("simulator", cost_model(args.device))):
        t = time.time()
        plan = compile_model(graph, "search", "fp16", cost=cost, search_candidates=2 if label == "simulator" else 3)
        dt = time.time() - t
        print(f"cswin ({size}) search with the {label} cost: {dt:.2f} s ({plan.search['method']}, "
              f"{plan.search['variables']} tensors, {plan.search['evaluations']} evaluations), predicted "
              f"{plan.search['predicted_before_s'] * 1e3:.3f} -> {plan.search['predicted_after_s'] * 1e3:.3f} ms "
              f"(target <= 2 s)")
    graph, size = load_graph("swin", tiny=True), "tiny twin"
    plan = compile_model(graph, "smartmem", "fp16")
    t = time.time()
    exact = simulate_plan(plan, cost=SimulatedCost(args.device, ProgramSampler(), row_budget=10**9))
    t_exact = time.time() - t
    sampled = simulate_plan(plan, cost=cost_model(args.device))
    print(f"swin ({size}) exact {exact.seconds * 1e3:.3f} ms in {t_exact:.1f} s; sampled {sampled.seconds * 1e3:.3f} ms "
          f"(error {100 * (sampled.seconds / exact.seconds - 1):+.1f}%, stated +-{100 * sampled.rel_error:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
