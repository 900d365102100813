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
rate is assumed constant over the trace (said in the output).
memsim.simulate_addresses, the 1-D entry point, is timed as a user calls it (int64 addresses; nbytes one
value, or writes and nbytes as bool and int64 arrays), everything the call does included.
Hierarchy.simulate_resolved is timed three times per trace: with core, write and nbytes as columns (a value per row), with one
value for every row (what pycachesim gets: addresses and one length), both with int64 addresses, and with
one value and int32 addresses (the same addresses, as Hierarchy.simulate takes them from
SurfaceTable.resolve(narrow=True) when the surfaces end below 2 GiB: half the bytes to read per row). All
include everything simulate_resolved does (row checks, all levels, DRAM accounting), not the address map
(timed separately for the texture walk). Times are CPU time (time.process_time, steadier on a shared machine), best of
--repeat after one warm-up call (numba compile/cache load excluded), with memsim and pycachesim taking
turns in every repeat: the host of this VM has slow spells of a minute or more (the same binary runs up
to 1.7x slower), and taking turns puts both sides of a ratio in the same spell.
Multi-core: the texture walk spread over 8 cores (work-group g on core g % 8), 1 vs 2 numba threads (or
--threads 1,2,4,8), taking turns (wall time: CPU time adds up over threads), with write and nbytes as columns
and as one value (int64 addresses), and as one value with int32 addresses; best of --mc-repeat (runs of tens
of milliseconds, where one preemption of a thread shows). Next to it, what the host gives a second thread in the same minutes: read bandwidth with 1 and 2 threads, and the
gain of a compute-bound loop; a pass cannot scale further than its host does.
Single-thread rows (memsim and pycachesim alike) run with the calling thread pinned to one CPU
(os.sched_setaffinity; --no-pin to leave it free): unpinned runs of the same binary on an idle machine
differed by up to 1.7x, mostly from migrations. The thread pool is kept to one logical CPU per physical
core (from /sys/devices/system/cpu/*/topology; --all-cpus to use every logical CPU): two threads on the two
hyperthreads of one core share its units and say little about how the passes scale.
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from smartmem_sim.memsim.addresses import simulate_addresses
from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.surfaces import Image2D, ImageLayout, SurfaceTable
from smartmem_sim.memsim.trace import Trace

L1 = dict(name="L1", size=4096, ways=4, line=64, per_core=True, write="read-only", write_allocate=False)
L2 = dict(name="L2", size=262144, ways=16, line=64)
TEXEL = 8


def texture_walk(rows: int, cores: int = 1, memsim=None):
    """The bench's texture walk: 16x16 work-groups over a 4096-wide fp16 image in an 8x4-tiled layout, dealt to
    ``cores`` round robin. ``memsim``: the package whose Trace and SurfaceTable to build (another checkout's
    top-level memsim, for bench_memsim_ab_inprocess.py); this tree's by default."""
    if memsim is not None:
        surfaces, trace_mod = (importlib.import_module(f"{memsim.__name__}.{m}") for m in ("surfaces", "trace"))
        return _texture_walk(rows, cores, surfaces.Image2D, surfaces.ImageLayout, surfaces.SurfaceTable,
                             trace_mod.Trace)
    return _texture_walk(rows, cores, Image2D, ImageLayout, SurfaceTable, Trace)


def _texture_walk(rows, cores, Image2D, ImageLayout, SurfaceTable, Trace):
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


def one_cpu_per_core(cpus: set[int]) -> set[int]:
    """The lowest logical CPU of each physical core among ``cpus`` (all of them where the topology is not
    readable)."""
    keep = set()
    for cpu in cpus:
        try:
            siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text()
        except OSError:
            return set(cpus)
        first = int(siblings.replace("-", ",").split(",")[0])
        keep.add(first if first in cpus else cpu)
    return keep


def timed(fn):
    """(CPU seconds, wall seconds, result) of one call."""
    t, w = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - t, time.perf_counter() - w, out


def pycachesim_run(addrs):
    """pycachesim on the same hierarchy: (CPU seconds, wall seconds, [(hits, misses)] per level)."""
    import cachesim

    l2 = cachesim.Cache("L2", L2["size"] // (L2["ways"] * L2["line"]), L2["ways"], L2["line"], "LRU")
    l1 = cachesim.Cache("L1", L1["size"] // (L1["ways"] * L1["line"]), L1["ways"], L1["line"], "LRU",
                        load_from=l2, store_to=l2)
    mem = cachesim.MainMemory()
    mem.load_to(l2)
    mem.store_from(l2)
    sim = cachesim.CacheSimulator(l1, mem)
    lst = addrs.tolist()
    cpu, wall, _ = timed(lambda: sim.load(lst, length=TEXEL))
    return cpu, wall, [(c.backend.HIT_count, c.backend.MISS_count) for c in (l1, l2)]


@numba.njit(parallel=True, cache=True)
def _stream_read(a, parts, out):
    n = a.shape[0] // parts
    for p in numba.prange(parts):
        s = 0
        for i in range(p * n, (p + 1) * n):
            s += a[i]
        out[p] = s


def read_bandwidth(threads: int, repeat: int) -> float:
    """GB/s of a parallel sum over 512 MB with ``threads`` numba threads (best of ``repeat``): what the
    host's memory gives one and two threads, which bounds how a memory-bound pass can scale."""
    a = np.ones(1 << 26, np.int64)
    out = np.zeros(8, np.int64)
    numba.set_num_threads(threads)
    _stream_read(a[:1024], 8, out)
    return max(a.nbytes / timed(lambda: _stream_read(a, 8, out))[1] for _ in range(repeat)) / 1e9


@numba.njit(parallel=True, cache=True)
def _chains(parts, n, out):
    for p in numba.prange(parts):
        x = np.arange(8).astype(np.uint64) + np.uint64(p)
        for i in range(n):
            for j in range(8):  # 8 independent chains: bound by the core's throughput, not a latency
                x[j] = (x[j] ^ (x[j] >> np.uint64(7))) + np.uint64(i)
        out[p] = x.sum()


def compute_seconds(threads: int, repeat: int) -> float:
    """Wall seconds of a compute-bound loop (no memory traffic) over 8 tasks with ``threads`` numba threads,
    best of ``repeat``: what a second thread can give at most on this host (a VM's two vCPUs may share a
    physical core or be busy with other guests)."""
    out = np.zeros(8, np.uint64)
    numba.set_num_threads(threads)
    _chains(8, 100, out)
    return min(timed(lambda: _chains(8, 2_000_000, out))[1] for _ in range(repeat))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pycachesim-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mc-repeat", type=int, default=15, help="turns of the multi-core rows (default 15)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the single-thread runs to one CPU")
    ap.add_argument("--all-cpus", action="store_true",
                    help="let the thread pool use every logical CPU, hyperthreads of one core included")
    ap.add_argument("--threads", default="1,2", help="numba thread counts of the multi-core rows (default 1,2)")
    args = ap.parse_args(argv)
    n = args.rows
    k = min(args.pycachesim_rows, n)
    logical = os.sched_getaffinity(0)
    cpus = logical if args.all_cpus else one_cpu_per_core(logical)
    os.sched_setaffinity(0, cpus)
    numba.set_num_threads(1)  # starts numba's thread pool before the pin (new threads inherit the caller's)
    if not args.no_pin:
        os.sched_setaffinity(0, {max(cpus)})  # this thread only
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numba {numba.__version__}, "
          f"threading layer {numba.config.THREADING_LAYER}, thread pool on {len(cpus)} of {len(logical)} "
          f"logical CPUs ({'all' if args.all_cpus else 'one per physical core'}), "
          f"load average {os.getloadavg()[0]:.1f} (start)")
    print(f"# {n:,} accesses of {TEXEL} B per trace; pycachesim on the first {k:,}, rate scaled; best of "
          f"{args.repeat}, memsim and pycachesim taking turns; single-thread rows "
          f"{'unpinned' if args.no_pin else f'pinned to CPU {max(cpus)}'}")
    rng = np.random.default_rng(0)
    walk, table = texture_walk(n)
    t_resolve = min(timed(lambda: table.resolve(walk))[1] for _ in range(args.repeat))
    traces = {
        "sequential": np.arange(n, dtype=np.int64) * TEXEL,
        "random": rng.integers(0, (64 << 20) // TEXEL, n).astype(np.int64) * TEXEL,
        "texture walk": table.resolve(walk).astype(np.int64),
    }
    try:
        import cachesim  # noqa: F401
        have_ref = True
    except ImportError:
        have_ref = False
        print("# pycachesim (module cachesim) is not installed here: memsim rates only, no ratios")
    h = Hierarchy([CacheLevel(**L1), CacheLevel(**L2)], cores=1)
    zeros = np.zeros(n, np.int32)
    loads = np.zeros(n, bool)
    nbytes = np.full(n, TEXEL, np.int32)
    h.simulate_resolved(traces["sequential"][:1000], zeros[:1000], loads[:1000], nbytes[:1000])  # warm-up
    h.simulate_resolved(traces["sequential"][:1000], 0, False, TEXEL)
    h.simulate_resolved(traces["sequential"][:1000].astype(np.int32), 0, False, TEXEL)
    print("# memsim: core, write and nbytes as columns (a value per row) and as one value for every row (what\n"
          "# pycachesim is given: addresses and one length), int64 addresses; one value with int32 addresses;\n"
          "# ratio = memsim / pycachesim, CPU time, same run")
    print(f"{'trace':<14}{'columns':>9}{'ns/acc':>8}{'1-value':>9}{'ns/acc':>8}{'int32':>8}{'ns/acc':>8}"
          f"{'pycachesim':>12}{'ns/acc':>8}{'ratio':>7}{'1-value':>8}{'int32':>7}{'L1 hit %':>9}{'L2 hit %':>9}"
          "  counts agree   [M acc/s, CPU time]")
    user_levels = [{k: v for k, v in L1.items() if k not in ("per_core", "name")}, {"size": L2["size"],
                   "ways": L2["ways"], "line": L2["line"]}]
    user_writes = np.zeros(n, bool)
    user_nbytes = np.full(n, TEXEL, np.int64)
    simulate_addresses(traces["sequential"][:1000], user_levels, nbytes=TEXEL)  # warm-up
    simulate_addresses(traces["sequential"][:1000], user_levels, writes=user_writes[:1000], nbytes=user_nbytes[:1000])
    user_rows = []
    for name, addrs in traces.items():
        narrow = addrs.astype(np.int32)
        assert np.array_equal(narrow, addrs)
        cpu = cpu1 = cpu32 = ref = ucpu1 = ucpu = float("inf")
        for _ in range(args.repeat):  # taking turns, so a slow spell of the host hits all of them alike
            c, _, urep1 = timed(lambda a=addrs: simulate_addresses(a, user_levels, nbytes=TEXEL))
            ucpu1 = min(ucpu1, c)
            c, _, urep = timed(lambda a=addrs: simulate_addresses(a, user_levels, writes=user_writes,
                                                                  nbytes=user_nbytes))
            ucpu = min(ucpu, c)
            c, _, rep = timed(lambda a=addrs: h.simulate_resolved(a, zeros, loads, nbytes))
            cpu = min(cpu, c)
            c, _, rep1 = timed(lambda a=addrs: h.simulate_resolved(a, 0, False, TEXEL))
            cpu1 = min(cpu1, c)
            c, _, rep32 = timed(lambda a=narrow: h.simulate_resolved(a, 0, False, TEXEL))
            cpu32 = min(cpu32, c)
            if have_ref:
                c, _, ref_counts = pycachesim_run(addrs[:k])
                ref = min(ref, c)
        ours, ours1, ours32 = n / cpu / 1e6, n / cpu1 / 1e6, n / cpu32 / 1e6
        line = (f"{name:<14}{ours:>9.1f}{1e9 * cpu / n:>8.2f}{ours1:>9.1f}{1e9 * cpu1 / n:>8.2f}{ours32:>8.1f}"
                f"{1e9 * cpu32 / n:>8.2f}")
        agree = rep1.to_dict() == rep.to_dict() == rep32.to_dict()
        if have_ref:
            sub = h.simulate_resolved(addrs[:k], zeros[:k], loads[:k], nbytes[:k])
            agree = agree and ref_counts == [(s.hits, s.misses) for s in sub.levels]
            theirs = k / ref / 1e6
            line += (f"{theirs:>12.1f}{1e9 * ref / k:>8.2f}{ours / theirs:>6.1f}x{ours1 / theirs:>7.1f}x"
                     f"{ours32 / theirs:>6.1f}x")
        else:
            line += f"{'-':>12}{'-':>8}{'-':>7}{'-':>8}{'-':>7}"
        print(f"{line}{100 * rep.levels[0].hit_rate:>9.1f}{100 * rep.levels[1].hit_rate:>9.1f}  "
              f"{'yes' if agree else 'NO'}")
        uagree = urep == urep1 and [(d["hits"], d["misses"]) for d in urep] == [
            (s.hits, s.misses) for s in rep.levels]
        user_rows.append((name, ucpu1, ucpu, ref, uagree))
    print("# memsim.simulate_addresses(addrs, levels, ...) as a user calls it: int64 addresses, the same levels;\n"
          "# one value: nbytes=8; columns: writes= a bool array, nbytes= an int64 array (all loads of 8 B here);\n"
          "# everything the call does included (checks, the columns' scan, the report); ratio over pycachesim\n"
          "# (above, same turns), CPU time")
    print(f"{'trace':<14}{'1-value':>9}{'ns/acc':>8}{'columns':>9}{'ns/acc':>8}{'ratio 1-value':>15}"
          f"{'columns':>9}  counts agree   [M acc/s, CPU time]")
    for name, ucpu1, ucpu, ref, uagree in user_rows:
        line = f"{name:<14}{n / ucpu1 / 1e6:>9.1f}{1e9 * ucpu1 / n:>8.2f}{n / ucpu / 1e6:>9.1f}{1e9 * ucpu / n:>8.2f}"
        if have_ref:
            line += f"{(n / ucpu1) / (k / ref):>14.1f}x{(n / ucpu) / (k / ref):>8.1f}x"
        else:
            line += f"{'-':>15}{'-':>9}"
        print(f"{line}  {'yes' if uagree else 'NO'}")
    print(f"texture walk address map (SurfaceTable.resolve): {n / t_resolve / 1e6:.1f} M rows/s (wall)")

    os.sched_setaffinity(0, cpus)  # the multi-thread rows need every CPU
    cores = 8
    mwalk, mtable = texture_walk(n, cores)
    maddrs = mtable.resolve(mwalk)
    hm = Hierarchy([CacheLevel(**L1), CacheLevel(**L2)], cores=cores)
    most = min(numba.config.NUMBA_NUM_THREADS, len(cpus))
    threads = [t for t in map(int, args.threads.split(",")) if t <= most]
    if not threads or threads[0] != 1:
        ap.error(f"--threads must start with 1 and name at most {most} (the CPUs the thread pool may use here)")
    narrow = mtable.resolve(mwalk, narrow=True)
    assert narrow.dtype == np.int32
    forms = {"columns": (maddrs, mwalk.write, mwalk.nbytes), "1-value": (maddrs, False, TEXEL),  # write, nbytes
             "int32": (narrow, False, TEXEL)}
    for t in threads:
        numba.set_num_threads(t)
        for a, wr, nb in forms.values():
            hm.simulate_resolved(a[:1000], mwalk.core[:1000], wr if np.ndim(wr) == 0 else wr[:1000],
                                 nb if np.ndim(nb) == 0 else nb[:1000])
    wall = {}
    reports = {}
    for _ in range(args.mc_repeat):
        for t in threads:
            numba.set_num_threads(t)
            for form, (a, wr, nb) in forms.items():
                _, w, rep = timed(lambda a=a, wr=wr, nb=nb: hm.simulate_resolved(a, mwalk.core, wr, nb))
                wall[form, t] = min(wall.get((form, t), float("inf")), w)
                reports[form, t] = rep.to_dict()
    same = all(r == reports["columns", 1] for r in reports.values())
    print(f"multi-core texture walk ({cores} cores, {2 ** hm.partitioning()[1]} L2 set partitions, L1 hit "
          f"{100 * rep.levels[0].hit_rate:.1f}%), M acc/s wall, best of {args.mc_repeat}; write and nbytes as "
          f"columns or one value, int64 addresses; one value, int32 addresses; same reports: "
          f"{'yes' if same else 'NO'}")
    for form in forms:
        rates = "  ".join(f"{t} thread(s) {n / wall[form, t] / 1e6:7.1f}" for t in threads)
        gain = "   over 1 thread: " + ", ".join(f"{wall[form, 1] / wall[form, t]:.2f}x" for t in threads[1:])
        print(f"  {form:<8} {rates}{gain}")
    if 1 in threads and len(threads) > 1:
        bw = {t: read_bandwidth(t, args.repeat) for t in threads}
        spin = {t: compute_seconds(t, args.repeat) for t in threads}
        print("# this host, same minutes, over 1 thread: parallel read of 512 MB "
              + ", ".join(f"{t} threads {bw[t]:.1f} GB/s ({bw[t] / bw[1]:.2f}x)" for t in threads[1:])
              + f" [1 thread {bw[1]:.1f} GB/s]; a compute-bound loop (8 independent chains) "
              + ", ".join(f"{t} threads {spin[1] / spin[t]:.2f}x" for t in threads[1:]))
    print(f"# load average {os.getloadavg()[0]:.1f} (end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
