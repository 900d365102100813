"""PyTorch eager on the device's GPU, what users would otherwise run: per model, end-to-end latency (CUDA events,
median of --repeat calls after --warmup) and the kernel-time sum of one call (torch.profiler, CUDA kernels'
device time), fp32, batch 1, TF32 off, random weights (timm configs of the zoo models, seed 0).

    python3 scripts/device/torch_eager.py --out $OUT/torch_eager.csv swin vit convnext resnext

Needs torch with CUDA and timm (both on the lent H100 machine); run it in the same call as our kernels.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile

TIMM = {  # zoo name -> timm model (smartmem_sim/zoo/paper_table.toml's config lines)
    "swin": "swin_tiny_patch4_window7_224",
    "vit": "vit_base_patch16_224",
    "convnext": "convnext_tiny",
    "resnext": "resnext50_32x4d",
    "regnet": "regnetx_016",
    "efficientvit": "efficientvit_b1",
}


def measure(name: str, warmup: int, repeat: int) -> dict:
    import timm
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = timm.create_model(TIMM[name], pretrained=False).eval().cuda()
    x = torch.randn(1, 3, 224, 224, device="cuda")
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        torch.cuda.synchronize()
        for _ in range(repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            model(x)
            torch.cuda.synchronize()
    # the profiler table's "Self CUDA time total": every kernel's device time, counted once, at the op that
    # launched it (microseconds); the attribute was self_cuda_time_total before torch 2.4
    avg = prof.key_averages()
    kernel_us = sum(getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) for e in avg)
    kernels = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
    return {"model": name, "timm": TIMM[name], "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "eager_latency_ms": round(statistics.median(times), 4), "eager_kernel_sum_ms": round(kernel_us / 1e3, 4),
            "kernels": len(kernels), "repeat": repeat}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", choices=sorted(TIMM))
    ap.add_argument("--out", required=True, help="CSV file to write (atomically)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for name in args.models:
        row = measure(name, args.warmup, args.repeat)
        print(row, flush=True)
        rows.append(row)
    folder = os.path.dirname(os.path.abspath(args.out))
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, newline="", suffix=".tmp") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.replace(f.name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
