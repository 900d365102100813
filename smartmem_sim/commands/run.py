"""`smartmem run MODEL.onnx --policy P[,P...]`: compile the model with each policy, execute every kernel on
an OpenCL device, print per-kernel and total device times; --check compares the outputs with onnxruntime,
--timeline writes the measured per-kernel timeline as Chrome-trace JSON (opens in Perfetto) and --csv
writes one row per policy (model, policy, kernels, total device ms, max relative error, pass).

Inputs are drawn from --seed (smartmem_sim.inputs.random_inputs: float inputs standard normal, token ids
uniform over the table they index); stripped weights (the zoo ships models without weights) are filled by
smartmem_sim.compiler.frontend.materialize_weights with the same seed, so a run is reproducible. Several policies in one
call run one after another on the same device, inputs and weights, so their times compare; with
--repeat N each policy's plan runs N times and the run with the median total is reported.

--texel-reuse on|off|auto chooses how kernels are generated (smartmem_sim/kernels/ops/program.py): on keeps each read's
texels in per-lane registers, off fetches on every read; auto (default) takes the ``texel_reuse`` of the
[execution] table of the device's profile (smartmem_sim/memsim/devices/NAME.toml), the device found by matching
the OpenCL platform/device label against PROFILE_OF_DEVICE (on when none matches).

The ``search`` policy prices layouts with the memsim-backed cost model of a device profile:
--search-profile NAME, by default the profile PROFILE_OF_DEVICE matches (h100_opencl on an H100)."""
from __future__ import annotations

import csv
import io
import sys

import numpy as np

from smartmem_sim.errors import UserError

RTOL = {"fp32": 1e-4, "fp16": 2e-2}  # relative to the output's largest magnitude
CSV_FIELDS = ("model", "policy", "storage", "device", "kernels", "total_device_ms", "repeat", "max_rel_error",
              "pass", "texel_reuse")
# OpenCL "platform / device" label substring -> the device's profile, smartmem_sim/memsim/devices/NAME.toml (first match)
PROFILE_OF_DEVICE = (("NVIDIA H100", "h100_opencl"), ("Portable Computing Language", "pocl_cpu"))
TEXEL_REUSE_CHOICES = ("on", "off", "auto")
PROTOBUF_LIMIT = 2**31 - 1  # bytes a serialized ModelProto may have


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute a compiled model on an OpenCL device, with per-kernel times",
                              description=__doc__)
    p.add_argument("model", help="an .onnx file or a zoo network (NAME, or NAME.tiny for its tiny twin)")
    p.add_argument("--policy", required=True,
                   help="naive, fusion, smartmem or search, or several separated by commas")
    p.add_argument("--opencl-device", "--device-name", dest="device_name", metavar="DEVICE", default=None, help="substring of the OpenCL platform/device to use")
    p.add_argument("--storage", default="fp32", help="fp32 or fp16 (CL_HALF_FLOAT images, half buffers)")
    p.add_argument("--check", action="store_true", help="compare the outputs with onnxruntime (exit 1 on mismatch)")
    p.add_argument("--timeline", default=None,
                   help="write the per-kernel timeline (Chrome-trace JSON) here (one policy only)")
    p.add_argument("--csv", default=None, help="write one row per policy to this CSV file")
    p.add_argument("--repeat", default="1", help="run each plan this many times, report the median (default 1)")
    p.add_argument("--quiet", action="store_true", help="print totals only, not every kernel")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="bind a symbolic input dim")
    p.add_argument("--seed", default="0", help="seed of the random inputs and weights (default 0)")
    p.add_argument("--texel-reuse", default="auto",
                   help="on, off or auto: per-lane texel registers in the kernels (auto: the [execution] table "
                        "of the device's profile, smartmem_sim/memsim/devices/NAME.toml; on for an unknown device)")
    p.add_argument("--profile", "--search-profile", dest="search_profile", metavar="PROFILE", default=None,
                   help="device profile whose simulator prices the search policy's layouts (default: the "
                        "profile of this OpenCL device, see PROFILE_OF_DEVICE)")
    p.set_defaults(func=run)


def _dims(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.strip().lstrip("-").isdigit() or int(value) < 1:
            raise UserError(f"--dim must look like NAME=VALUE with a positive integer, got {item!r}")
        out[name.strip()] = int(value)
    return out


def _int(text: str, flag: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{flag} must be an integer, got {text!r}") from None
    if value < low:
        raise UserError(f"{flag} must be at least {low}, got {value}")
    return value


def texel_reuse_for(choice: str, label: str) -> tuple[bool, str]:
    """(texel_reuse, why) for ``--texel-reuse choice`` on the OpenCL device labelled ``label``."""
    if choice not in TEXEL_REUSE_CHOICES:
        raise UserError(f"--texel-reuse must be one of {', '.join(TEXEL_REUSE_CHOICES)}, got {choice!r}")
    if choice != "auto":
        return choice == "on", f"--texel-reuse {choice}"
    for needle, name in PROFILE_OF_DEVICE:
        if needle in label:
            from smartmem_sim import memsim

            return memsim.load_profile(name).require_execution().texel_reuse, f"auto: device table '{name}'"
    return True, "auto: no device table matches this device, on"


def search_profile_for(choice: str | None, label: str) -> str:
    """The device profile that prices ``search``: ``--search-profile`` or the one the device label matches."""
    if choice:
        from smartmem_sim import memsim

        memsim.load_profile(choice).require_execution()  # a clear error for a profile without an [execution] table
        return choice
    for needle, name in PROFILE_OF_DEVICE:
        if needle in label:
            return name
    raise UserError(f"--policy search: no device profile matches the OpenCL device '{label}'; "
                    "name one with --search-profile (e.g. adreno740, h100_opencl)")


def _policies(text: str) -> list[str]:
    from smartmem_sim.compiler.pipeline import POLICIES

    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if not names or bad:
        raise UserError(f"--policy must be one or more of {', '.join(POLICIES)} separated by commas, got {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--policy names a policy twice: {text!r}")
    return names


def _serialized_size(model) -> int:
    """Bytes of the serialized model; PROTOBUF_LIMIT where protobuf cannot even count them (past 2 GB)."""
    from google.protobuf.message import EncodeError

    try:
        return model.ByteSize()
    except EncodeError:
        return PROTOBUF_LIMIT


def _reference(model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    if _serialized_size(model) < PROTOBUF_LIMIT:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    else:  # weights past protobuf's 2 GB (SD-UNet, Pythia-1B in fp32): hand onnxruntime a file with external data
        import tempfile

        import onnx

        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # saving with external data rewrites the initializers the IR shares
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/model.onnx"
            # tensors under 1 KB stay inline: onnxruntime reads some (Unsqueeze axes, Reshape shapes) at load
            onnx.save_model(copy, path, save_as_external_data=True, location="weights.bin", size_threshold=1024)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(None, {k: v for k, v in feeds.items() if k in wanted}), strict=True))


def run(args) -> int:
    from pathlib import Path

    from smartmem_sim.atomic import write_text
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.frontend.read import read_model
    from smartmem_sim.compiler.frontend.weights import materialize_weights
    from smartmem_sim.inputs import random_inputs
    from smartmem_sim.kernels.execute import execute, fit_to_device
    from smartmem_sim.kernels.runtime.device import select_device
    from smartmem_sim.kernels.runtime.timeline import write_chrome_trace
    from smartmem_sim.simulation import compile_for

    policies = _policies(args.policy)
    if args.storage not in RTOL:
        raise UserError(f"--storage must be fp32 or fp16, got {args.storage!r}")
    if args.timeline and len(policies) > 1:
        raise UserError("--timeline takes one policy; run each policy separately for its timeline")
    path = Path(args.model)
    zoo_net = None
    if not path.is_file():
        if path.suffix == ".onnx":
            raise UserError(f"model file {args.model!r} does not exist")
        from smartmem_sim.simulation import zoo_name

        zoo_net = zoo_name(args.model)  # a zoo network (NAME.tiny: its tiny twin), or a UserError
    seed, dims, repeat = _int(args.seed, "--seed", 0), _dims(args.dim), _int(args.repeat, "--repeat", 1)
    if args.texel_reuse not in TEXEL_REUSE_CHOICES:  # checked before the slow steps
        raise UserError(f"--texel-reuse must be one of {', '.join(TEXEL_REUSE_CHOICES)}, got {args.texel_reuse!r}")
    if "search" in policies and args.search_profile:
        search_profile_for(args.search_profile, "")  # a bad name fails before the slow steps
    if zoo_net is None:
        model, label = read_model(path), path.name
    else:
        from smartmem_sim import zoo

        model, label = zoo.load(zoo_net[0], tiny=zoo_net[1], weights=False), zoo_net[0] + (".tiny" * zoo_net[1])
    model = materialize_weights(model, seed)
    graph = load_model(model, dims=dims or None, name=Path(label).stem if zoo_net is None else label)
    feeds = random_inputs(graph, seed)
    handle = select_device(args.device_name) if args.device_name else select_device()
    reuse, why = texel_reuse_for(args.texel_reuse, handle.info.label)
    print(f"texel reuse: {'on' if reuse else 'off'} ({why})")
    profile = search_profile_for(args.search_profile, handle.info.label) if "search" in policies else "adreno740"
    if "search" in policies:
        print(f"search: layouts priced by the simulator on profile {profile}")
    want = _reference(model, feeds) if args.check else None
    from smartmem_sim.progress import bar

    rows, ok_all = [], True
    for policy in bar(policies, desc="run", unit="policy", show=len(policies) > 1 or repeat > 1):
        plan, notes = fit_to_device(compile_for(graph, policy, profile, storage=args.storage), handle)
        for note in notes:
            print(f"note: {note}")
        inputs = {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}
        runs = [execute(plan, handle, inputs, texel_reuse=reuse)]  # generates the kernels (with the weights' values)
        kernels = runs[0].kernels
        runs += [execute(plan, handle, inputs, kernels=kernels) for _ in range(repeat - 1)]
        result = sorted(runs, key=lambda r: r.total_ns)[(repeat - 1) // 2]
        print(f"{label}  policy {policy}  storage {args.storage}  device {handle.info.label}")
        if not args.quiet:
            print(f"{'kernel':48s} {'global':>12s} {'time_us':>10s}")
            for k, t in zip(result.kernels, result.timings, strict=True):
                print(f"{k.name[:48]:48s} {'x'.join(map(str, k.global_size)):>12s} {t.duration_ns / 1e3:10.1f}")
        total_ms = result.total_ns / 1e6
        print(f"total: {len(result.timings)} kernels, {total_ms:.3f} ms device time"
              + (f" (median of {repeat} runs)" if repeat > 1 else ""))
        if args.timeline:
            write_chrome_trace(result.timings, args.timeline, metadata={"model": label, "policy": policy})
            print(f"timeline: {args.timeline}")
        err, good = float("nan"), True
        if want is not None:
            err, good = _check(plan, result, want, args.storage)
            ok_all &= good
        rows.append({"model": (path.stem if zoo_net is None else label).removesuffix(".tiny"), "policy": policy, "storage": args.storage,
                     "device": handle.info.label, "kernels": len(kernels), "total_device_ms": f"{total_ms:.4f}",
                     "repeat": repeat, "max_rel_error": "" if want is None else f"{err:.3e}",
                     "pass": "" if want is None else good, "texel_reuse": "on" if reuse else "off"})
    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(args.csv, buf.getvalue())
        print(f"csv: {args.csv}")
    if not ok_all:
        print("smartmem run: outputs differ from onnxruntime", file=sys.stderr)
    return 0 if ok_all else 1


def _check(plan, result, want: dict[str, np.ndarray], storage: str) -> tuple[float, bool]:
    """Largest error over the outputs, each relative to its output's largest magnitude."""
    worst, ok = 0.0, True
    for n in plan.outputs:
        source = plan.tensors[n].source or n
        ref = np.asarray(want[source], np.float32)
        err = float(np.abs(result.outputs[n] - ref).max()) / max(float(np.abs(ref).max()), 1e-30)
        good = err <= RTOL[storage]
        ok &= good
        worst = max(worst, err)
        print(f"check {source}: max error {err:.2e} of max |value| ({'ok' if good else 'MISMATCH'}, "
              f"tolerance {RTOL[storage]:g})")
    return worst, ok
