"""`smartmem run MODEL.onnx --policy P[,P...]`: compile the model with each policy, execute every kernel on
an OpenCL device, print per-kernel and total device times; --check compares the outputs with onnxruntime,
--timeline writes the measured per-kernel timeline as Chrome-trace JSON (opens in Perfetto) and --csv
writes one row per policy (model, policy, kernels, total device ms, max relative error, pass, texel registers,
latency ms).

Inputs are drawn from --seed (smartmem_sim.inputs.random_inputs: float inputs standard normal, token ids
uniform over the table they index); stripped weights (the zoo ships models without weights) are filled by
smartmem_sim.compiler.frontend.materialize_weights with the same seed, so a run is reproducible. Several policies in one
call run one after another on the same device, inputs and weights, so their times compare; with
--repeat N each policy's plan runs N times and the run with the median total is reported. With N >= 2 the
latency is reported too: the host wall time from the first launch to the queue's end, median of the runs
after the first (which builds the kernels), launches included, as a framework's forward call is timed.

--texel-reuse on|off|auto chooses how kernels are generated (smartmem_sim/kernels/ops/program.py): on keeps each read's
texels in per-lane registers, off fetches on every read; auto (default) takes the ``texel_reuse`` of the
[execution] table of the device's profile (smartmem_sim/memsim/devices/NAME.toml), the device found by matching
the OpenCL platform/device label against smartmem_sim.running.PROFILE_OF_DEVICE (on when none matches).

The ``search`` policy prices layouts with the memsim-backed cost model of a device profile:
--search-profile NAME, by default the profile PROFILE_OF_DEVICE matches (h100_opencl on an H100)."""
from __future__ import annotations

import csv
import io
import sys

from smartmem_sim.errors import UserError

CSV_FIELDS = ("model", "policy", "storage", "device", "kernels", "total_device_ms", "repeat", "max_rel_error",
              "pass", "texel_reuse", "latency_ms")


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


def _policies(text: str) -> list[str]:
    from smartmem_sim.running import check_policies

    return check_policies([p.strip() for p in text.split(",") if p.strip()])


def run(args) -> int:
    from pathlib import Path

    from smartmem_sim.atomic import write_text
    from smartmem_sim.kernels.runtime.timeline import write_chrome_trace
    from smartmem_sim.running import run_policies

    policies = _policies(args.policy)
    if args.timeline and len(policies) > 1:
        raise UserError("--timeline takes one policy; run each policy separately for its timeline")
    seed, dims, repeat = _int(args.seed, "--seed", 0), _dims(args.dim), _int(args.repeat, "--repeat", 1)
    runs = run_policies(args.model, policies, opencl_device=args.device_name, storage=args.storage, seed=seed,
                        dims=dims, texel_reuse=args.texel_reuse, search_profile=args.search_profile,
                        repeat=repeat, check=args.check, progress=len(policies) > 1 or repeat > 1, log=print)
    label = Path(args.model).name if Path(args.model).is_file() else args.model
    rows, ok_all = [], True
    for r in runs:
        for note in r.notes:
            print(f"note: {note}")
        print(f"{label}  policy {r.policy}  storage {r.storage}  device {r.device}")
        if not args.quiet:
            from smartmem_sim.tables import print_table

            print_table(("kernel", "global", "time us"),
                        [(k.name, "x".join(map(str, k.global_size)), f"{t.duration_ns / 1e3:.1f}")
                         for k, t in zip(r.kernels, r.timings, strict=True)], left=1)
        print(f"total: {len(r.timings)} kernels, {r.total_ms:.3f} ms device time"
              + (f" (median of {repeat} runs)" if repeat > 1 else "")
              + ("" if r.latency_ms is None else f"; latency {r.latency_ms:.3f} ms (host wall time, launches included)"))
        if args.timeline:
            write_chrome_trace(r.timings, args.timeline, metadata={"model": label, "policy": r.policy})
            print(f"timeline: {args.timeline}")
        for c in r.checks:
            print(f"check {c.name}: max error {c.max_error:.2e} of max |value| ({'ok' if c.ok else 'MISMATCH'}, "
                  f"tolerance {c.tolerance:g})")
        ok_all &= r.ok is not False
        rows.append({"model": r.model, "policy": r.policy, "storage": r.storage, "device": r.device,
                     "kernels": len(r.kernels), "total_device_ms": f"{r.total_ms:.4f}", "repeat": repeat,
                     "max_rel_error": "" if not r.checks else f"{r.max_error:.3e}",
                     "pass": "" if not r.checks else r.ok, "texel_reuse": "on" if r.texel_reuse else "off",
                     "latency_ms": "" if r.latency_ms is None else f"{r.latency_ms:.4f}"})
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
