"""memsim speed: accesses per second through a 2-level hierarchy, side by side with pycachesim.

Run: .venv/bin/python benchmarks/bench_memsim.py [--rows 10000000] [--pycachesim-rows 1000000]

Traces (8-byte accesses, the size of an RGBA fp16 texel):
- sequential: consecutive texels of a buffer;
- random: uniformly random texels of a 64 MiB buffer;
- texture walk: an fp16 image (4096 wide, tiled 8x4 like Adreno), walked by 16x16 work-groups in
  row-major group order, row-major inside a group; addresses come from memsim.surfaces.
Hierarchy: L1 4 KiB 4-way 64 B lines (per core), L2 256 KiB 16-way 64 B lines, LRU, unsectored, so
pycachesim (module cachesim) simulates exactly the same thing; the script checks the hit/miss counts
agree on the subset pycachesim runs. pycachesim is timed on the first --pycachesim-rows accesses and its
rate is assumed constant over the trace (said in the output). memsim times are best of --repeat runs,
after one warm-up call (numba compile/cache load excluded) and include everything simulate_resolved does
(row checks, all levels, DRAM accounting), not the address map (timed separately for the texture walk).
Every rate is given twice: from CPU time (time.process_time, steadier on a shared machine) and from wall
time; the ratio to pycachesim uses CPU time for both. The load average is printed before and after: on a
loaded machine both rates drop and the 2-thread speedup is meaningless (threads wait for time slices).
Multi-core: the texture walk spread over 8 cores (work-group g on core g % 8), 1 vs 2 numba threads
(wall time: CPU time adds up over threads).
Single-thread rows (memsim and pycachesim alike) run with the calling thread pinned to one CPU
(os.sched_setaffinity; --no-pin to leave it free): on the 2-vCPU VM unpinned runs of the same binary on an
idle machine differed by up to 1.7x, mostly from migrations. Pinned runs still differ by up to 1.7x from
run to run (the VM's host), for pycachesim as much as for memsim: compare ratios within one run, and
report several runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from memsim.cache import CacheLevel
from memsim.hierarchy import Hierarchy
from memsim.surfaces import Image2D, ImageLayout, SurfaceTable
from memsim.trace import Trace

L1 = dict(name="L1", size=4096, ways=4, line=64, per_core=True, write="read-only", write_allocate=False)
L2 = dict(name="L2", size=262144, ways=16, line=64)
TEXEL = 8


def texture_walk(rows: int, cores: int = 1):
    width = 4096
    height = -(-rows // width)
    height = -(-height // 16) * 16
    gx, gy = width // 16, height // 16
    g = np.arange(gx * gy)
    local = np.arange(256)
    group = np.repeat(g, 256)
    lx = np.tile(local % 16, g.size)
    ly = np.tile(local // 16, g.size)
    x = (group % gx) * 16 + lx
    y = (group // gx) * 16 + ly
    core = (group % cores).astype(np.int32)
    table = SurfaceTable([Image2D(width, height, "fp16")], ImageLayout("tiled", tile_width=8, tile_height=4))
    trace = Trace.from_columns(core=core[:rows], surface=0, x=x[:rows], y=y[:rows], write=False, nbytes=TEXEL)
    return trace, table


def best_time(fn, repeat):
    """(best CPU seconds, best wall seconds, last result) over ``repeat`` calls."""
    cpu = wall = float("inf")
    out = None
    for _ in range(repeat):
        t, w = time.process_time(), time.perf_counter()
        out = fn()
        cpu = min(cpu, time.process_time() - t)
        wall = min(wall, time.perf_counter() - w)
    return cpu, wall, out


def pycachesim_run(addrs):
    import cachesim

    l2 = cachesim.Cache("L2", L2["size"] // (L2["ways"] * L2["line"]), L2["ways"], L2["line"], "LRU")
    l1 = cachesim.Cache("L1", L1["size"] // (L1["ways"] * L1["line"]), L1["ways"], L1["line"], "LRU",
                        load_from=l2, store_to=l2)
    mem = cachesim.MainMemory()
    mem.load_to(l2)
    mem.store_from(l2)
    sim = cachesim.CacheSimulator(l1, mem)
    lst = addrs.tolist()
    t, w = time.process_time(), time.perf_counter()
    sim.load(lst, length=TEXEL)
    return time.process_time() - t, time.perf_counter() - w, [(c.backend.HIT_count, c.backend.MISS_count) for c in (l1, l2)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pycachesim-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the single-thread runs to one CPU")
    args = ap.parse_args(argv)
    n = args.rows
    cpus = os.sched_getaffinity(0)
    numba.set_num_threads(1)  # starts numba's thread pool before the pin (new threads inherit the caller's)
    if not args.no_pin:
        os.sched_setaffinity(0, {max(cpus)})  # this thread only
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numba {numba.__version__}, "
          f"threading layer {numba.config.THREADING_LAYER}, load average {os.getloadavg()[0]:.1f} (start)")
    print(f"# {n:,} accesses of {TEXEL} B per trace; pycachesim timed on the first {args.pycachesim_rows:,} "
          f"and scaled; memsim best of {args.repeat}; single-thread rows "
          f"{'unpinned' if args.no_pin else f'pinned to CPU {max(cpus)}'}")
    rng = np.random.default_rng(0)
    walk, table = texture_walk(n)
    _, t_resolve, walk_addrs = best_time(lambda: table.resolve(walk), args.repeat)
    traces = {
        "sequential": np.arange(n, dtype=np.int64) * TEXEL,
        "random": rng.integers(0, (64 << 20) // TEXEL, n).astype(np.int64) * TEXEL,
        "texture walk": walk_addrs.astype(np.int64),
    }
    h = Hierarchy([CacheLevel(**L1), CacheLevel(**L2)], cores=1)
    zeros = np.zeros(n, np.int32)
    loads = np.zeros(n, bool)
    nbytes = np.full(n, TEXEL, np.int32)
    numba.set_num_threads(1)
    h.simulate_resolved(traces["sequential"][:1000], zeros[:1000], loads[:1000], nbytes[:1000])  # warm-up
    print(f"{'trace':<14}{'memsim CPU':>11}{'(ns/acc)':>9}{'wall':>7}{'1-value CPU':>12}{'(ns/acc)':>9}"
          f"{'pycachesim CPU':>15}{'wall':>7}{'ratio':>7}{'1-value':>8}{'L1 hit %':>9}{'L2 hit %':>9}  counts agree"
          "   [M acc/s]")
    for name, addrs in traces.items():
        cpu, wall, rep = best_time(lambda a=addrs: h.simulate_resolved(a, zeros, loads, nbytes), args.repeat)
        # the same rows with core, write and nbytes given once for all (as pycachesim gets its length)
        cpu1, _, rep1 = best_time(lambda a=addrs: h.simulate_resolved(a, 0, False, TEXEL), args.repeat)
        k = min(args.pycachesim_rows, n)
        ref_cpu, ref_wall, ref_counts = pycachesim_run(addrs[:k])
        sub = h.simulate_resolved(addrs[:k], zeros[:k], loads[:k], nbytes[:k])
        agree = ref_counts == [(s.hits, s.misses) for s in sub.levels] and rep1.to_dict() == rep.to_dict()
        ours, ours1, theirs = n / cpu / 1e6, n / cpu1 / 1e6, k / ref_cpu / 1e6
        print(f"{name:<14}{ours:>11.1f}{1e9 * cpu / n:>9.2f}{n / wall / 1e6:>7.1f}{ours1:>12.1f}{1e9 * cpu1 / n:>9.2f}"
              f"{theirs:>15.2f}{k / ref_wall / 1e6:>7.2f}{ours / theirs:>6.1f}x{ours1 / theirs:>7.1f}x"
              f"{100 * rep.levels[0].hit_rate:>9.1f}{100 * rep.levels[1].hit_rate:>9.1f}  {'yes' if agree else 'NO'}")
    print(f"texture walk address map (SurfaceTable.resolve): {n / t_resolve / 1e6:.1f} M rows/s (wall)")

    os.sched_setaffinity(0, cpus)  # the multi-thread rows need every CPU
    cores = 8
    mwalk, mtable = texture_walk(n, cores)
    maddrs = mtable.resolve(mwalk)
    hm = Hierarchy([CacheLevel(**L1), CacheLevel(**L2)], cores=cores)
    rates = {}
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            break
        numba.set_num_threads(threads)
        hm.simulate_resolved(maddrs[:1000], mwalk.core[:1000], mwalk.write[:1000], mwalk.nbytes[:1000])
        cpu, wall, rep = best_time(lambda: hm.simulate_resolved(maddrs, mwalk.core, mwalk.write, mwalk.nbytes),
                                   args.repeat)
        rates[threads] = n / wall / 1e6
        print(f"multi-core texture walk ({cores} cores, {hm.partitioning()[1] and 2 ** hm.partitioning()[1]} L2 set "
              f"partitions, L1 hit {100 * rep.levels[0].hit_rate:.1f}%), {threads} thread(s): "
              f"{rates[threads]:.1f} M acc/s wall ({n / cpu / 1e6:.1f} per CPU second)")
    if 2 in rates:
        print(f"2 threads / 1 thread (wall): {rates[2] / rates[1]:.2f}x")
    print(f"# load average {os.getloadavg()[0]:.1f} (end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
