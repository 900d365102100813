"""memsim per call on the small multi-core traces a compiler sends: Hierarchy.simulate on the adreno740
profile (12 cores, per-core read-only L1, shared write-back L2 and SLC), traces of 5k-60k rows.

Run: .venv/bin/python benchmarks/bench_memsim_calls.py [--calls 200] [--base DIR] [--turns 5]

The traces are made here, like a compiled kernel's: work-groups of 8x8 work-items spread round-robin over
the cores; each work-item reads a 3x3 window of 8-B texels of an input image (tiled as the profile lays
images out) and 4 texels of a weight buffer, and stores one texel of the output image (one row in
about six is a store, as in the traces of `smartmem compare swin`). Image sizes vary so traces span
5k-60k rows. Times are CPU time per call (time.process_time) with one numba thread (a compiler calls
simulate from one thread; a second thread on a shared 2-vCPU VM mostly waits), everything simulate does
included (address map, checks, state reset, report).

With ``--base DIR`` (a checkout root holding another smartmem_sim/memsim, e.g. from
``git worktree add DIR <commit>``) the same traces run on that tree and on this one in turns (separate
processes, ``--turns`` of each, base first), and both are printed side by side with their ratio; the
report counts are compared too.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_traces(memsim, calls: int, seed: int = 0):
    """``calls`` (trace, surface table) pairs of 5k-60k rows for the adreno740 profile."""
    profile = memsim.load_profile("adreno740")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(calls):
        w = h = int(rng.choice([24, 32, 40, 48, 56, 64]))  # output image side, in texels
        groups_x, groups_y = w // 8, h // 8
        g = np.arange(groups_x * groups_y)
        item = np.arange(64)
        gx = np.repeat(g % groups_x, 64)
        gy = np.repeat(g // groups_x, 64)
        x = gx * 8 + np.tile(item % 8, g.size)
        y = gy * 8 + np.tile(item // 8, g.size)
        core = np.repeat(g % profile.hierarchy().cores, 64)
        # per work-item: 9 input texels, 4 weights, 1 store
        dx = np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1])
        dy = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1])
        n_items = x.size
        per = 14
        surf = np.tile(np.array([0] * 9 + [1] * 4 + [2]), n_items)
        xs = np.empty((n_items, per), np.int64)
        ys = np.zeros((n_items, per), np.int64)
        xs[:, :9] = np.clip(x[:, None] + dx, 0, w - 1)
        ys[:, :9] = np.clip(y[:, None] + dy, 0, h - 1)
        xs[:, 9:13] = (rng.integers(0, 64, n_items)[:, None] * 4 + np.arange(4)) * 8  # buffer byte offsets
        xs[:, 13] = x
        ys[:, 13] = y
        write = np.tile(np.array([False] * 13 + [True]), n_items)
        table = memsim.SurfaceTable([memsim.Image2D(w, h, "fp16"), memsim.Buffer(64 * 4 * 8),
                                     memsim.Image2D(w, h, "fp16")], profile.image_layout)
        trace = memsim.Trace.from_columns(core=np.repeat(core, per).astype(np.int32), surface=surf,
                                          x=xs.ravel(), y=ys.ravel(), write=write, nbytes=8)
        out.append((trace, table))
    return out


def worker(calls: int) -> dict:
    """This process's memsim (whichever is first on sys.path) on the traces: CPU ms per call (best of 3
    passes over all calls) and a digest of the counts."""
    import numba

    from smartmem_sim import memsim
    numba.set_num_threads(1)
    traces = make_traces(memsim, calls)
    hier = memsim.load_profile("adreno740").hierarchy()
    for t, s in traces[:3]:
        hier.simulate(t, s)  # compile / cache load
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        reports = [hier.simulate(t, s) for t, s in traces]
        best = min(best, time.process_time() - t0)
    counts = [[(lv.hits, lv.misses, lv.writebacks, lv.bytes_written) for lv in r.levels] + [r.dram_bytes_read]
              for r in reports]
    rows = [len(t) for t, _ in traces]
    return {"ms_per_call": 1e3 * best / calls, "ns_per_row": 1e9 * best / sum(rows), "rows": [min(rows),
            int(np.median(rows)), max(rows)], "counts": hashlib.sha1(json.dumps(counts).encode()).hexdigest()}


def run_in(tree: Path, calls: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, __file__, "--worker", "--calls", str(calls)]
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--base", type=Path, help="a checkout root with another smartmem_sim/memsim to compare with")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.calls)))
        return 0
    print(f"# load average {os.getloadavg()[0]:.1f} (start)")
    if args.base is None:
        r = run_in(ROOT, args.calls)
        print(f"{args.calls} calls of {r['rows'][0]}-{r['rows'][2]} rows (median {r['rows'][1]}), adreno740: "
              f"{r['ms_per_call']:.3f} ms per call, {r['ns_per_row']:.1f} ns per row (CPU, 1 thread)")
        return 0
    res = {"base": [], "new": []}
    for _ in range(args.turns):
        res["base"].append(run_in(args.base.resolve(), args.calls))
        res["new"].append(run_in(ROOT, args.calls))
    b = min(r["ms_per_call"] for r in res["base"])
    n = min(r["ms_per_call"] for r in res["new"])
    same = len({r["counts"] for r in res["base"] + res["new"]}) == 1
    rows = res["new"][0]["rows"]
    print(f"{args.calls} calls of {rows[0]}-{rows[2]} rows (median {rows[1]}), adreno740, CPU ms per call, best of "
          f"{args.turns} processes each (taking turns), 1 numba thread")
    print(f"  base ({args.base}): {b:.3f} ms/call   this tree: {n:.3f} ms/call   speed-up {b / n:.2f}x   "
          f"same counts: {'yes' if same else 'NO'}")
    print(f"# load average {os.getloadavg()[0]:.1f} (end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
