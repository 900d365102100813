"""Measured sweep of MatMul tiles on an OpenCL device, beside the simulator's price of each (issue 21).

For each zoo model and policy, the plan is compiled as `smartmem run` compiles it (the tuned policies' tiles
priced on PROFILE), its largest MatMul/Gemm steps (by multiply-adds, one per distinct shape and layout) are
taken, and each is rebuilt with every tile of --tiles that is legal for it. Two modes, same kernels (the
source hash is in every row, so the two CSVs join on it):

    # on the device: time every (step, tile) kernel alone, median of --repeat runs after a warm-up
    python3 scripts/device/tile_sweep.py measure --out $OUT/tile_sweep_measured.csv vit swin
    # here: the simulator's predicted seconds for the same kernels on PROFILE
    .venv/bin/python scripts/device/tile_sweep.py predict --out tile_sweep_predicted.csv vit swin
    # the two joined: per step, the measured best tile against the simulator's best and the compiler's choice
    .venv/bin/python scripts/device/tile_sweep.py report tile_sweep_measured.csv tile_sweep_predicted.csv

The tile the compiler chose is flagged (`chosen`); the report says whether the simulator's best tile is within
10% of the measured best, per step.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import statistics
import sys
import time
from dataclasses import replace
from math import prod

import numpy as np

TILES = ((1, 1), (2, 1), (1, 2), (2, 2), (4, 1), (1, 4), (4, 2), (2, 4), (4, 4), (8, 2), (2, 8))
FIELDS = ("model", "policy", "step", "op_type", "macs", "layouts", "tile", "chosen", "source_sha",
          "global_size", "local_size", "seconds", "mode", "device")


def _plans(model: str, policies, profile: str, storage: str):
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.running import load_for_run
    from smartmem_sim.simulation import compile_for

    proto, label, _ = load_for_run(model, 0)
    graph = load_model(proto, name=label)
    for policy in policies:
        yield policy, compile_for(graph, policy, profile, storage=storage)


def _macs(plan, step) -> int:
    a = plan.tensors[step.inputs[0].tensor].shape
    out = plan.tensors[step.outputs[0]].shape
    k = a[0] if step.op_type == "Gemm" and step.attrs.get("transA") else a[-1]
    return int(prod(out)) * int(k)


def _layouts(plan, step) -> str:
    names = [plan.tensors[i.tensor].layout.name for i in step.inputs[:2]]
    return "x".join(names) + "->" + plan.tensors[step.outputs[0]].layout.name


def _steps(plan, top: int):
    """The ``top`` MatMul/Gemm steps with the most multiply-adds, one per (shapes, layouts)."""
    seen, out = set(), []
    mm = [s for s in plan.steps if s.op_type in ("MatMul", "Gemm")]
    for s in sorted(mm, key=lambda s: -_macs(plan, s)):
        key = (tuple(tuple(plan.tensors[i.tensor].shape) for i in s.inputs), _layouts(plan, s))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out[:top]


def _variants(plan, step, constants, reuse: bool, tiles):
    """(tile, plan, step, kernels) for each legal tile; the chosen tile is the step's own."""
    from smartmem_sim.kernels.errors import KernelError
    from smartmem_sim.kernels.library import step_kernels

    for t in dict.fromkeys((tuple(step.tile), *tiles)):
        s = replace(step, tile=t)
        p = replace(plan, steps=[s if x.id == step.id else x for x in plan.steps])
        try:
            kernels = step_kernels(p, s, constants, texel_reuse=reuse)
        except KernelError:
            continue
        yield t, p, s, kernels


def _time(handle, plan, kernels, constants, repeat: int) -> float:
    """Median seconds of the step's kernels (sum over its launches), inputs random, after one warm-up."""
    from smartmem_sim.kernels.execute import allocate, upload
    from smartmem_sim.kernels.runtime.launch import compile_source, launch

    rng = np.random.default_rng(0)
    names = dict.fromkeys(a for k in kernels for a in k.args)
    mem = {}
    for n in names:
        t = plan.tensors[n]
        mem[n] = allocate(handle, t, plan.storage)
        value = constants.get(n)
        if value is None:
            value = rng.standard_normal(t.shape).astype(np.float32)
        upload(mem[n], t, value, plan.storage)
    progs = [compile_source(handle, k.source) for k in kernels]
    runs = []
    for r in range(repeat + 1):
        ns = 0
        for k, prog in zip(kernels, progs, strict=True):
            ns += launch(handle, prog, k.entry, k.global_size, k.local_size, [mem[a] for a in k.args],
                         label=k.name).timing().duration_ns
        if r:
            runs.append(ns * 1e-9)
    return statistics.median(runs)


def report(measured: str, predicted: str) -> list[str]:
    """Per (model, policy, step): measured best tile, the simulator's best and the compiler's chosen tile, with
    the measured time of each over the measured best; rows join on the kernels' source hash."""
    def read(path):
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    pred = {r["source_sha"]: float(r["seconds"]) for r in read(predicted)}
    steps: dict[tuple, list] = {}
    for r in read(measured):
        if r["source_sha"] in pred:
            steps.setdefault((r["model"], r["policy"], r["step"]), []).append(
                (r["tile"], float(r["seconds"]), pred[r["source_sha"]], r["chosen"] == "1"))
    lines = ["model    policy    step              tiles  measured best        simulator's best (measured/best)"
             "  chosen (measured/best)"]
    within = chosen_within = 0
    for (model, policy, step), rows in steps.items():
        best = min(rows, key=lambda t: t[1])
        sim = min(rows, key=lambda t: t[2])
        chosen = next((t for t in rows if t[3]), None)
        within += sim[1] <= 1.10 * best[1]
        chosen_within += chosen is not None and chosen[1] <= 1.10 * best[1]
        lines.append(f"{model:8} {policy:9} {step:17} {len(rows):5}  {best[0]:5} {best[1] * 1e6:9.1f} us   "
                     f"{sim[0]:5} {sim[1] / best[1]:5.2f}x"
                     + (f"                         {chosen[0]:5} {chosen[1] / best[1]:5.2f}x" if chosen else ""))
    lines.append(f"simulator's best tile within 10% of the measured best: {within} of {len(steps)} steps; "
                 f"compiler's choice: {chosen_within} of {len(steps)}")
    return lines


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "report":
        if len(argv) != 3:
            sys.exit("usage: tile_sweep.py report MEASURED.csv PREDICTED.csv")
        print("\n".join(report(argv[1], argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("measure", "predict"))
    ap.add_argument("models", nargs="+")
    ap.add_argument("--policies", default="fusion,smartmem")
    ap.add_argument("--profile", default="h100_opencl", help="prices the compiler's tiles, and predict's times")
    ap.add_argument("--storage", default="fp32")
    ap.add_argument("--top", type=int, default=3, help="MatMul steps per model and policy")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="NVIDIA", help="OpenCL device name substring (measure)")
    ap.add_argument("--texel-reuse", default="auto", choices=("on", "off", "auto"))
    ap.add_argument("--budget-s", type=float, default=300.0, help="stop measuring after this long")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from smartmem_sim.kernels.execute import _weight
    from smartmem_sim.memsim.profiles import load_profile
    from smartmem_sim.running import texel_reuse_for

    handle = cost = None
    if args.mode == "measure":
        from smartmem_sim.kernels.runtime.device import select_device

        handle = select_device(args.device)
        reuse, _ = texel_reuse_for(args.texel_reuse, handle.info.label)
        device = handle.info.label
    else:
        from smartmem_sim.simulation import cost_model

        cost = cost_model(args.profile)
        execution = load_profile(args.profile).require_execution()
        reuse = execution.texel_reuse if args.texel_reuse == "auto" else args.texel_reuse == "on"
        device = args.profile
    start = time.monotonic()
    rows = []
    for model in args.models:
        for policy, plan in _plans(model, args.policies.split(","), args.profile, args.storage):
            constants = {n: _weight(plan, n, {}) for n, t in plan.tensors.items() if t.kind == "weight"}
            for step in _steps(plan, args.top):
                for t, p, s, kernels in _variants(plan, step, constants, reuse, TILES):
                    if time.monotonic() - start > args.budget_s:
                        print(f"budget of {args.budget_s:.0f} s spent; stopping", file=sys.stderr)
                        break
                    if args.mode == "measure":
                        seconds = _time(handle, p, kernels, constants, args.repeat)
                    else:
                        seconds = cost.evaluate(p, s).seconds
                    sha = hashlib.sha256("".join(k.source for k in kernels).encode()).hexdigest()[:16]
                    rows.append({"model": model, "policy": policy, "step": step.id, "op_type": step.op_type,
                                 "macs": _macs(plan, step), "layouts": _layouts(plan, step),
                                 "tile": f"{t[0]}x{t[1]}", "chosen": int(t == tuple(step.tile)),
                                 "source_sha": sha, "global_size": "x".join(map(str, kernels[0].global_size)),
                                 "local_size": "x".join(map(str, kernels[0].local_size or ())),
                                 "seconds": f"{seconds:.9g}", "mode": args.mode, "device": device})
                    print(f"{model} {policy} {step.id} {t[0]}x{t[1]}{' *' if t == tuple(step.tile) else ''}: "
                          f"{seconds * 1e6:.1f} us", flush=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
