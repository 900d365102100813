"""Does a short OpenCL kernel on the H100 take ~5 us or ~14 us depending on what ran before it, and does the SM
clock follow? (The bimodal small kernels of experiments/results/calibration/README.md.)

One process, one device: a tiny copy kernel (37,632 work-items, one float4 each, like swin's Copy steps) is
launched in four patterns, each N times, all enqueued before a user event releases them:
  tiny-stream   tiny, tiny, tiny, ...
  after-heavy   heavy, tiny, heavy, tiny, ...   (heavy: ~100 us of arithmetic on every SM)
  after-medium  medium, tiny, ...               (medium: ~12 us)
  tiny-after-pause  tiny, then the host sleeps 2 ms, repeated (the GPU idles between kernels)
and the tiny kernel's start-to-end time is summarised per pattern. Meanwhile a thread samples
`nvidia-smi --query-gpu=clocks.sm` every ~20 ms; the samples are written with the pattern running at the time.

    python3 scripts/device/clock_probe.py --out DIR [--device NVIDIA] [--n 400]
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyopencl as cl

SRC = """
__kernel void tiny(__global const float4* a, __global float4* b) { int i = get_global_id(0); b[i] = a[i] + 1.0f; }
__kernel void spin(__global float* out, int iters) {
    float x = get_global_id(0) * 1e-7f;
    for (int k = 0; k < iters; ++k) x = x * 0.999999f + 1e-7f;
    out[get_global_id(0)] = x;
}
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="NVIDIA")
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = next(d for p in cl.get_platforms() for d in p.get_devices() if args.device in p.name or args.device in d.name)
    ctx = cl.Context([dev])
    q = cl.CommandQueue(ctx, dev, properties=cl.command_queue_properties.PROFILING_ENABLE)
    prg = cl.Program(ctx, SRC).build()
    n_items = 37632
    a = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, n_items * 16)
    b = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, n_items * 16)
    spin_items = 132 * 2048
    s = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, spin_items * 4)
    tiny, spin = cl.Kernel(prg, "tiny"), cl.Kernel(prg, "spin")
    tiny.set_args(a, b)

    def spin_event(iters, wait_for=None):
        spin.set_args(s, np.int32(iters))
        return cl.enqueue_nd_range_kernel(q, spin, (spin_items,), (256,), wait_for=wait_for)

    # size the heavy and medium kernels by measuring the spin kernel once
    e = spin_event(20000)
    e.wait()
    per_iter_ns = (e.profile.end - e.profile.start) / 20000
    heavy, medium = int(100e3 / per_iter_ns), int(12e3 / per_iter_ns)

    samples = []
    state = {"pattern": "start", "stop": False}

    def sampler():
        while not state["stop"]:
            try:
                r = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm", "--format=csv,noheader,nounits"],
                                   capture_output=True, text=True, timeout=5)
                samples.append((time.time(), state["pattern"], r.stdout.strip()))
            except Exception as exc:  # noqa: BLE001 (a probe: record and go on)
                samples.append((time.time(), state["pattern"], f"error {exc}"))
            time.sleep(0.02)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    rows = []
    for pattern in ("tiny-stream", "after-heavy", "after-medium", "tiny-stream-2", "tiny-after-pause"):
        state["pattern"] = pattern
        gate = cl.UserEvent(ctx)
        events = []
        for i in range(args.n):
            w = [gate] if i == 0 else None
            if pattern == "after-heavy":
                spin_event(heavy, w)
                w = None
            elif pattern == "after-medium":
                spin_event(medium, w)
                w = None
            events.append(cl.enqueue_nd_range_kernel(q, tiny, (n_items,), (64,), wait_for=w))
            if pattern == "tiny-after-pause":
                if i == 0:
                    gate.set_status(cl.command_execution_status.COMPLETE)
                q.finish()
                time.sleep(0.002)
        if pattern != "tiny-after-pause":
            gate.set_status(cl.command_execution_status.COMPLETE)
        q.finish()
        us = np.array([(ev.profile.end - ev.profile.start) / 1e3 for ev in events])
        rows.append({"pattern": pattern, "n": len(us), "p10_us": np.percentile(us, 10), "median_us": np.median(us),
                     "p90_us": np.percentile(us, 90), "share_over_10us": float(np.mean(us > 10))})
        print(rows[-1], flush=True)
        time.sleep(0.3)
    state["stop"] = True
    th.join()
    with open(out / "clock_probe.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(out / "clock_samples.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time_s", "pattern", "sm_clock_mhz"])
        w.writerows(samples)
    for pattern in sorted({p for _, p, _ in samples}):
        vals = [float(c) for _, p, c in samples if p == pattern and c.replace(".", "").isdigit()]
        if vals:
            print(f"clock during {pattern}: {len(vals)} samples, median {np.median(vals):.0f} MHz, "
                  f"min {min(vals):.0f}, max {max(vals):.0f}")
    print(f"spin: {per_iter_ns:.2f} ns/iter; heavy {heavy} iters, medium {medium}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
