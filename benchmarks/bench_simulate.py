"""Speed of whole-network simulation and of layout search (seconds; targets: Swin-T under one policy <= 5 s,
CSwin search <= 2 s). Also the sampling error on a network small enough to simulate exactly.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_simulate.py [--device adreno740] [--skip-swin]

The CSwin search is timed as ``compile_model(graph, "search", cost=...)`` (what the <= 2 s target is about:
the smartmem passes it runs first included), then split into its parts on the smartmem plan: the passes
alone, building the layout problem (candidates + pricing every factor table), and solving it. With the
simulator cost it is timed cold (a fresh cost model: every distinct kernel simulated) and warm (the shared
model after simulating the smartmem plan, as experiments/search_vs_smartmem.py runs it). Wall seconds and
this process's CPU seconds are printed: on a shared machine the CPU figure is the steadier one.

Uses full-size zoo files where committed, else the tiny twin (printed). Never a timed test.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartmem_sim.compiler.costs import AnalyticalCost, SimulatedCost  # noqa: E402
from smartmem_sim.compiler.pipeline import compile_model  # noqa: E402
from smartmem_sim.compiler.search.problem import build_problem  # noqa: E402
from smartmem_sim.compiler.search.solve import solve  # noqa: E402
from smartmem_sim.simulation import cost_model, load_graph, simulate_plan  # noqa: E402
from smartmem_sim.zoo import store  # noqa: E402


class _Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s ({self.cpu:.2f} s CPU)"


def _graph(name):
    tiny = not store.model_path(name, False).exists()
    return load_graph(name, tiny=tiny), "tiny twin" if tiny else "full size"


def _search(graph, size, label, cost, candidates) -> None:
    with _Clock() as total:
        plan = compile_model(graph, "search", "fp16", cost=cost, search_candidates=candidates)
    s = plan.search
    print(f"cswin ({size}) search with the {label} cost, {candidates} candidates: {total} (target <= 2 s); "
          f"{s['method']}, {s['variables']} tensors, {s['factors']} factors, {s['evaluations']} evaluations; "
          f"predicted {s['predicted_before_s'] * 1e3:.3f} -> {s['predicted_after_s'] * 1e3:.3f} ms", flush=True)


def _parts(graph, label, cost, candidates) -> None:
    with _Clock() as passes:
        smart = compile_model(graph, "smartmem", "fp16")
    with _Clock() as build:
        problem = build_problem(smart, cost, candidates)
    with _Clock() as solving:
        solve(problem)
    sims = f", {len(cost.memo)} kernels simulated so far" if isinstance(cost, SimulatedCost) else ""
    print(f"  parts ({label}): smartmem passes {passes}, candidates + pricing {build} "
          f"({problem.evaluations} evaluations{sims}), solve {solving}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="adreno740")
    ap.add_argument("--skip-swin", action="store_true", help="only the CSwin search timings")
    args = ap.parse_args(argv)
    cost_model(args.device)  # numba caches warm before timing
    compile_model(load_graph("swin", tiny=True), "search", "fp16", cost=AnalyticalCost(args.device))
    if not args.skip_swin:
        with _Clock() as t:
            graph, size = _graph("swin")
            plan = compile_model(graph, "smartmem", "fp16")
            r = simulate_plan(plan, args.device, cost_model(args.device))
        print(f"swin ({size}) smartmem: load+compile+simulate {t}, {len(plan.steps)} kernels, "
              f"predicted {r.seconds * 1e3:.3f} ms +-{100 * r.rel_error:.1f}%  (target <= 5 s)", flush=True)
    graph, size = _graph("cswin")
    analytical = AnalyticalCost(args.device)
    _search(graph, size, "analytical", analytical, 3)
    _parts(graph, "analytical", analytical, 3)
    cold = SimulatedCost(args.device)
    _search(graph, size, "simulator (cold)", cold, 2)
    warm = SimulatedCost(args.device)
    simulate_plan(compile_model(graph, "smartmem", "fp16"), cost=warm)
    _search(graph, size, "simulator (warm: smartmem plan simulated first)", warm, 2)
    _parts(graph, "simulator, all kernels simulated already", warm, 2)
    if not args.skip_swin:
        graph, size = load_graph("swin", tiny=True), "tiny twin"
        plan = compile_model(graph, "smartmem", "fp16")
        t = time.time()
        exact = simulate_plan(plan, cost=SimulatedCost(args.device, row_budget=10**9))
        t_exact = time.time() - t
        sampled = simulate_plan(plan, cost=cost_model(args.device))
        print(f"swin ({size}) exact {exact.seconds * 1e3:.3f} ms in {t_exact:.1f} s; sampled "
              f"{sampled.seconds * 1e3:.3f} ms (error {100 * (sampled.seconds / exact.seconds - 1):+.1f}%, "
              f"stated +-{100 * sampled.rel_error:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
