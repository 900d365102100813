"""How the multi-core line-stream path's chunk size (memsim.hierarchy.CORES_CHUNK_ROWS) sets its speed on 1 and 2
threads: each chunk is three parallel steps, so small chunks pay the threads' start and wait more often.

Run: .venv/bin/python benchmarks/bench_cores_chunk_rows.py [--rows 10000000] [--repeat 7]

The trace is bench_memsim.py's multi-core texture walk (8 cores, one value for write and nbytes); wall time,
best of --repeat, every chunk size and thread count taking turns in each repeat; the reports must agree.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_memsim import L1, L2, TEXEL, texture_walk  # noqa: E402

from smartmem_sim.memsim import hierarchy as H  # noqa: E402
from smartmem_sim.memsim.cache import CacheLevel  # noqa: E402

SIZES = (1 << 15, 1 << 16, 1 << 17, 1 << 18)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    walk, table = texture_walk(args.rows, 8)
    addrs = table.resolve(walk)
    default = H.CORES_CHUNK_ROWS
    hs = {}
    for size in SIZES:
        H.CORES_CHUNK_ROWS = size  # read when a hierarchy's buffers are made (its first simulation)
        hs[size] = H.Hierarchy([CacheLevel(**L1), CacheLevel(**L2)], cores=8)
        for t in (1, 2):
            numba.set_num_threads(t)
            hs[size].simulate_resolved(addrs[:1000], walk.core[:1000], False, TEXEL)
    H.CORES_CHUNK_ROWS = default
    best, reports = {}, {}
    for _ in range(args.repeat):
        for size, h in hs.items():
            for t in (1, 2):
                numba.set_num_threads(t)
                w = time.perf_counter()
                reports[size] = h.simulate_resolved(addrs, walk.core, False, TEXEL).to_dict()
                best[size, t] = min(best.get((size, t), float("inf")), time.perf_counter() - w)
    print(f"# {args.rows:,} rows, 8 cores, wall ms, best of {args.repeat}; reports agree: "
          f"{'yes' if all(r == reports[SIZES[0]] for r in reports.values()) else 'NO'}; default {default} rows")
    for size in SIZES:
        one, two = best[size, 1], best[size, 2]
        print(f"chunk {size:7d} rows: 1 thread {one * 1e3:6.1f}  2 threads {two * 1e3:6.1f}  "
              f"over 1 thread {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
