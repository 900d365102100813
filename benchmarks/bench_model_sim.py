"""Whole-network simulation time per policy, split into its parts, cold and with the kernel cache warm.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_model_sim.py [--models swin,vit,resnext] [--device adreno740]

For each full-size network and policy, in one process and one run (numba compiled beforehand by a tiny twin,
so compilation is not counted):

- cold: a fresh cost model and no kernel cache: compile (layout passes, tile tuning, search) and simulate
  every kernel. CPU seconds split into trace generation (item_accesses + the GPU issue order),
  memsim (Hierarchy.simulate: every cache level) and the rest (passes, building kernels, the timing formula);
- warm: the same again with a fresh cost model reading the kernel cache the cold run filled
  (smartmem_sim/kernel_cache.py): what a second `compare`, or a what-if on a timing parameter, costs.

"compare" rows: the four policies through one shared cost model (identical kernels simulated once), as the
`compare` command runs them. Predicted latencies are printed so that cold and warm can be seen to agree.
memsim against pycachesim is `make bench` (benchmarks/bench_memsim.py). Never a timed test.
"""
from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartmem_sim.compiler.costs import SimulatedCost  # noqa: E402
from smartmem_sim.kernel_cache import KernelCache  # noqa: E402
from smartmem_sim.kernels.trace import sample  # noqa: E402
from smartmem_sim.memsim import hierarchy  # noqa: E402
from smartmem_sim.simulation import compile_for, load_graph, simulate_plan  # noqa: E402

PARTS: dict[str, float] = {}


def _timed(owner, name: str, part: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            PARTS[part] = PARTS.get(part, 0.0) + time.process_time() - t

    setattr(owner, name, wrapper)


_timed(sample, "item_accesses", "trace")
_timed(sample, "scheduled_trace", "trace")
_timed(hierarchy.Hierarchy, "simulate", "memsim")


def _run(graph, policies, device, store) -> tuple[float, float, list[float]]:
    """(wall s, CPU s, predicted ms per policy) of compiling and simulating ``policies`` on one cost model."""
    PARTS.clear()
    cost = SimulatedCost(device, store=store)
    t0, c0 = time.perf_counter(), time.process_time()
    ms = [simulate_plan(compile_for(graph, p, device, cost=cost), cost=cost).seconds * 1e3 for p in policies]
    return time.perf_counter() - t0, time.process_time() - c0, ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="swin,vit,resnext")
    ap.add_argument("--policies", default="naive,fusion,smartmem,search")
    ap.add_argument("--device", default="adreno740")
    args = ap.parse_args(argv)
    policies = args.policies.split(",")
    models = args.models.split(",")
    _run(load_graph(models[0], tiny=True), policies, args.device, None)  # numba compiled (or loaded) here
    print(f"# {args.device}; CPU seconds of this process (wall in brackets); trace = item_accesses + issue "
          "order, memsim = Hierarchy.simulate, rest = passes, kernel building, timing; warm = kernel cache hit")
    print(f"{'model':8} {'policy':9} {'cold CPU':>9} {'(wall)':>8} {'trace':>7} {'memsim':>7} {'rest':>7}"
          f" {'warm CPU':>9} {'(wall)':>8}  {'predicted ms (cold = warm)':>26}")
    for model in models:
        graph = load_graph(model)
        rows = [[p] for p in policies] + [policies]
        for group in rows:
            label = group[0] if len(group) == 1 else "compare"
            with tempfile.TemporaryDirectory() as folder:
                store = KernelCache(folder)
                wall, cpu, ms = _run(graph, group, args.device, store)
                parts = dict(PARTS)
                wall_w, cpu_w, ms_w = _run(graph, group, args.device, KernelCache(folder))
            same = "yes" if ms == ms_w else "NO"
            rest = cpu - parts.get("trace", 0) - parts.get("memsim", 0)
            print(f"{model:8} {label:9} {cpu:9.2f} {f'({wall:.2f})':>8} {parts.get('trace', 0):7.2f} "
                  f"{parts.get('memsim', 0):7.2f} {rest:7.2f} {cpu_w:9.2f} {f'({wall_w:.2f})':>8}  "
                  f"{' '.join(f'{m:.3f}' for m in ms):>20} {same}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
