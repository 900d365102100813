"""Tiled vs untiled MatMul kernels (smartmem_sim/kernels/ops/program.py, output tiling) on one OpenCL device:
GFLOP/s of the generated kernel for a few ViT-B / Swin-T GEMM shapes (batch 1), every tile in the same run.

Run: .venv/bin/python benchmarks/bench_tiled_matmul.py [--device pocl] [--repeat 3] [--tiles 2x1,4x1,2x2,4x2]
     [--shapes 197x768x768,...] [--layout mnn|smartmem] [--texel-reuse auto|on|off] [--storage fp32] [--csv out.csv]

On the H100: --device NVIDIA --repeat 50. Each kernel is built once, launched once to warm up and checked
against numpy (a wrong kernel is reported, not timed), then launched --repeat times; the time is the median
of the OpenCL profiling durations (start to end on the device clock). A shape is MxKxN: A is (1, M, K), B
(K, N), out (1, M, N). Layouts: ``mnn`` stores A with its lanes along K and B and the output with their lanes
along N (MNN's and clvk's GEMM layout: a tile shares A's texel along N and B's along M); ``smartmem`` stores
B with its lanes along K (SmartMem's reduction-dim layout). ``--texel-reuse auto`` takes the device table's
choice (on for PoCL and phones, off for the H100), as ``smartmem run`` does.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from smartmem_sim.kernels.execute import allocate, download, upload  # noqa: E402
from smartmem_sim.kernels.library import step_kernels, tile_plan  # noqa: E402
from smartmem_sim.kernels.runtime.device import select_device  # noqa: E402
from smartmem_sim.kernels.runtime.launch import compile_source, launch  # noqa: E402
from smartmem_sim.layout.image import image_layout  # noqa: E402
from smartmem_sim.layout.plan import Plan, Step, StoredTensor, identity_operand  # noqa: E402
from smartmem_sim.running import texel_reuse_for  # noqa: E402

SHAPES = ("197x768x768", "197x768x3072", "197x3072x768", "3136x96x384", "3136x384x96")
TILES = ("2x1", "4x1", "2x2", "4x2")
LAYOUTS = {"mnn": ("lane_k", "lane_n"), "smartmem": ("lane_k", "lane_k")}  # (A's lanes, B's lanes)


def _pair(text: str, n: int, what: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        out = ()
    if len(out) != n or min(out) < 1:
        raise SystemExit(f"bench_tiled_matmul: {what} {text!r} is not {'x'.join('N' * n)} with positive integers")
    return out


def matmul_plan(m: int, k: int, n: int, layout: str, storage: str) -> Plan:
    """A one-step MatMul plan: A (1, M, K) lanes along K, B (K, N) lanes as ``layout`` says, out (1, M, N)
    lanes along N."""
    _, b_lanes = LAYOUTS[layout]
    a_lay = image_layout((1, m, k), width=(2,), height=(0, 1), lane=2, name="a")
    b_lay = image_layout((k, n), width=(1,), height=(0,), lane=1 if b_lanes == "lane_n" else 0, name="b")
    y_lay = image_layout((1, m, n), width=(2,), height=(0, 1), lane=2, name="y")
    tensors = {"a": StoredTensor("a", (1, m, k), a_lay, "input"), "b": StoredTensor("b", (k, n), b_lay, "weight"),
               "y": StoredTensor("y", (1, m, n), y_lay, "output")}
    step = Step("mm", "MatMul", ("mm",), (identity_operand("a", (1, m, k)), identity_operand("b", (k, n))), ("y",))
    return Plan("bench", "bench", storage, tensors, [step], ["a"], ["y"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="pocl", help="substring of the OpenCL platform/device name (NVIDIA on the H100)")
    ap.add_argument("--shapes", default=",".join(SHAPES[:2] + SHAPES[3:4]), help="MxKxN,... (default: %(default)s)")
    ap.add_argument("--tiles", default=",".join(TILES), help="TXxTY,... timed beside 1x1 (default: %(default)s)")
    ap.add_argument("--layout", choices=sorted(LAYOUTS), default="mnn")
    ap.add_argument("--texel-reuse", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--storage", choices=("fp32", "fp16"), default="fp32")
    ap.add_argument("--repeat", type=int, default=3, help="timed launches per kernel (median)")
    ap.add_argument("--csv", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("bench_tiled_matmul: --repeat must be at least 1")
    shapes = [_pair(s, 3, "shape") for s in args.shapes.split(",") if s]
    tiles = [(1, 1)] + [t for t in (_pair(s, 2, "tile") for s in args.tiles.split(",") if s) if t != (1, 1)]
    handle = select_device(args.device)
    reuse, why = texel_reuse_for(args.texel_reuse, handle.info.label)
    print(f"device: {handle.info.label}; texel reuse {'on' if reuse else 'off'} ({why}); layout {args.layout}; "
          f"storage {args.storage}; median of {args.repeat}")
    print(f"{'shape':>14} {'tile':>5} {'global':>12} {'ms':>10} {'GFLOP/s':>9} {'x 1x1':>6}")
    rows = []
    rng = np.random.default_rng(0)
    for m, k, n in shapes:
        plan = matmul_plan(m, k, n, args.layout, args.storage)
        a = rng.standard_normal((1, m, k)).astype(np.float32)
        b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        want = a @ b
        mem = {name: allocate(handle, t, args.storage) for name, t in plan.tensors.items()}
        upload(mem["a"], plan.tensors["a"], a, args.storage)
        upload(mem["b"], plan.tensors["b"], b, args.storage)
        base = None
        for tile in tiles:
            tiled = tile_plan(plan, tile)
            (kd,) = step_kernels(tiled, tiled.steps[0], texel_reuse=reuse)
            program = compile_source(handle, kd.source)
            argv_ = [mem[x] for x in kd.args]
            launch(handle, program, kd.entry, kd.global_size, kd.local_size, argv_).timing()  # warm-up
            got = download(mem["y"], plan.tensors["y"], args.storage)
            tol = 2e-2 if args.storage == "fp16" else 1e-3
            ok = bool(np.allclose(got, want, rtol=tol, atol=tol))
            ns = [launch(handle, program, kd.entry, kd.global_size, kd.local_size, argv_).timing().duration_ns
                  for _ in range(args.repeat)] if ok else []
            med = statistics.median(ns) if ns else float("nan")
            gflops = 2.0 * m * k * n / med if ns else float("nan")
            base = gflops if tile == (1, 1) else base
            ratio = gflops / base if base else float("nan")
            shape, tname = f"{m}x{k}x{n}", f"{tile[0]}x{tile[1]}"
            gsize = f"{kd.global_size[0]}x{kd.global_size[1]}"
            print(f"{shape:>14} {tname:>5} {gsize:>12} {med / 1e6:>10.3f} {gflops:>9.2f} {ratio:>6.2f}"
                  + ("" if ok else "  WRONG RESULT, not timed"), flush=True)
            rows.append({"device": handle.info.label, "shape": shape, "m": m, "k": k, "n": n, "tile": tname,
                         "layout": args.layout, "storage": args.storage, "texel_reuse": "on" if reuse else "off",
                         "global_size": gsize, "local_size": f"{kd.local_size[0]}x{kd.local_size[1]}",
                         "repeat": args.repeat, "median_ms": med / 1e6, "gflops": gflops, "vs_untiled": ratio,
                         "correct": ok, "kernel": kd.entry})
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {args.csv}")
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
