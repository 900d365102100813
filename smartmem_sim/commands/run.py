"""`smartmem run MODEL.onnx --policy P`: compile the model with a policy, execute every kernel on an OpenCL
device, print per-kernel and total device times; --check compares the outputs with onnxruntime and
--timeline writes the measured per-kernel timeline as Chrome-trace JSON (opens in Perfetto).

Inputs are random normal values from --seed; stripped weights (the zoo ships models without weights) are
filled by compiler.frontend.materialize_weights with the same seed, so a run is reproducible."""
from __future__ import annotations

import sys

import numpy as np

from smartmem_sim.errors import UserError

RTOL = {"fp32": 1e-4, "fp16": 2e-2}  # relative to the output's largest magnitude


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute a compiled model on an OpenCL device, with per-kernel times",
                              description=__doc__)
    p.add_argument("model", help="path to an .onnx model")
    p.add_argument("--policy", required=True, help="naive, fusion or smartmem")
    p.add_argument("--device-name", default=None, help="substring of the OpenCL platform/device to use")
    p.add_argument("--storage", default="fp32", help="fp32 or fp16 (CL_HALF_FLOAT images, half buffers)")
    p.add_argument("--check", action="store_true", help="compare the outputs with onnxruntime (exit 1 on mismatch)")
    p.add_argument("--timeline", default=None, help="write the per-kernel timeline (Chrome-trace JSON) here")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="bind a symbolic input dim")
    p.add_argument("--seed", default="0", help="seed of the random inputs and weights (default 0)")
    p.set_defaults(func=run)


def _dims(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.strip().lstrip("-").isdigit() or int(value) < 1:
            raise UserError(f"--dim must look like NAME=VALUE with a positive integer, got {item!r}")
        out[name.strip()] = int(value)
    return out


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--seed must be an integer, got {text!r}") from None


def run(args) -> int:
    from pathlib import Path

    import onnx

    from compiler.frontend.load import load_model
    from compiler.frontend.read import read_model
    from compiler.frontend.weights import materialize_weights
    from compiler.pipeline import POLICIES, compile_model
    from kernels.execute import execute
    from kernels.runtime.device import select_device
    from kernels.runtime.timeline import write_chrome_trace

    if args.policy not in POLICIES:
        raise UserError(f"--policy must be one of {', '.join(POLICIES)}, got {args.policy!r}")
    if args.storage not in RTOL:
        raise UserError(f"--storage must be fp32 or fp16, got {args.storage!r}")
    path = Path(args.model)
    if not path.is_file():
        raise UserError(f"model file {args.model!r} does not exist")
    seed, dims = _seed(args.seed), _dims(args.dim)
    model = materialize_weights(read_model(path), seed)
    graph = load_model(model, dims=dims or None, name=path.stem)
    plan = compile_model(graph, args.policy, storage=args.storage)
    rng = np.random.default_rng(seed)
    feeds = {name: rng.standard_normal(graph.tensor(name).shape).astype(np.float32) for name in graph.inputs}
    handle = select_device(args.device_name) if args.device_name else select_device()
    inputs = {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}
    result = execute(plan, handle, inputs)
    print(f"{path.name}  policy {args.policy}  storage {args.storage}  device {handle.info.label}")
    print(f"{'kernel':48s} {'global':>12s} {'time_us':>10s}")
    for k, t in zip(result.kernels, result.timings, strict=True):
        print(f"{k.name[:48]:48s} {'x'.join(map(str, k.global_size)):>12s} {t.duration_ns / 1e3:10.1f}")
    print(f"total: {len(result.timings)} kernels, {result.total_ns / 1e6:.3f} ms device time")
    if args.timeline:
        write_chrome_trace(result.timings, args.timeline, metadata={"model": path.name, "policy": args.policy})
        print(f"timeline: {args.timeline}")
    if not args.check:
        return 0
    import onnxruntime as ort

    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    sess = ort.InferenceSession(bound.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    want = dict(zip(names, sess.run(None, {k: v for k, v in feeds.items() if k in {i.name for i in sess.get_inputs()}}),
                    strict=True))
    ok = True
    for n in plan.outputs:
        source = plan.tensors[n].source or n
        ref = np.asarray(want[source], np.float32)
        err = float(np.abs(result.outputs[n] - ref).max()) / max(float(np.abs(ref).max()), 1e-30)
        good = err <= RTOL[args.storage]
        ok &= good
        print(f"check {source}: max error {err:.2e} of max |value| ({'ok' if good else 'MISMATCH'}, "
              f"tolerance {RTOL[args.storage]:g})")
    if not ok:
        print("smartmem run: outputs differ from onnxruntime", file=sys.stderr)
    return 0 if ok else 1
