"""memsim before and after a change, in one process, call by call: the fairest A/B a noisy host allows.

Two runs of benchmarks/bench_memsim.py minutes apart see different hosts (on a shared 2-vCPU VM the same code
swings 20-50% between runs). Here the baseline memsim (a checkout whose top-level package is ``memsim``, e.g.
``git archive 5bc7ef6 memsim | tar -x -C .cache/benchbase``) and this tree's ``smartmem_sim.memsim`` are
imported side by side and timed in alternation (new first in even rounds, base first in odd ones) on the same arrays, ``--rounds`` times per row;
each row reports the median and the best of the per-round ratios (new rate / base rate), so a slow spell of the
host hits both sides of a round alike. Rows: bench_memsim.py's three traces through an L1 + L2 (columns, one
value, int32 addresses) and its multi-core texture walk (8 cores) on 1 and 2 threads. Counts are compared too.

    .venv/bin/python benchmarks/bench_memsim_ab_inprocess.py .cache/benchbase [--rows 4000000] [--rounds 21]
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_pair(base_dir: Path):
    """(new memsim, base memsim) modules: smartmem_sim.memsim from this tree, memsim from ``base_dir``."""
    sys.path.insert(0, str(ROOT))
    new = importlib.import_module("smartmem_sim.memsim")
    sys.path.insert(0, str(base_dir.resolve()))
    sys.modules.pop("memsim", None)  # this tree's `memsim` alias must not answer for the baseline
    base = importlib.import_module("memsim")
    if Path(base.__file__).resolve().parent.parent != base_dir.resolve():
        raise SystemExit(f"baseline memsim came from {base.__file__}, not {base_dir}")
    return new, base


def cpu(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def wall(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def pair(clock, i, run_new, run_base):
    """(time, result) of new and of base, new first in even rounds and base first in odd ones, so that
    whatever the first call of a round pays (or gains) falls on both sides alike."""
    if i % 2 == 0:
        t_new, r_new = clock(run_new)
        t_base, r_base = clock(run_base)
    else:
        t_base, r_base = clock(run_base)
        t_new, r_new = clock(run_new)
    return t_new, r_new, t_base, r_base


def counts(report) -> dict:
    """A report's counts: what must not change (the timing model may, between the two trees)."""
    d = report.to_dict()
    return {"levels": d["levels"], **{k: d[k] for k in ("dram_bytes_read", "dram_bytes_written", "dram_requests")}}


def rounds(clock, count: int, n: int, hier: dict, args: tuple):
    """``count`` rounds of ``hier["new"]`` and ``hier["base"]`` simulating the same ``args`` (:func:`pair`):
    (rates in M acc/s per side, per-round ratios new/base, whether every round's reports agreed)."""
    ratios, rates, same = [], {"new": [], "base": []}, True
    for i in range(count):
        t_new, r_new, t_base, r_base = pair(clock, i, lambda: hier["new"].simulate_resolved(*args),
                                            lambda: hier["base"].simulate_resolved(*args))
        ratios.append(t_base / t_new)
        rates["new"].append(n / t_new / 1e6)
        rates["base"].append(n / t_base / 1e6)
        same = same and counts(r_new) == counts(r_base)
    return rates, ratios, same


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="folder holding the baseline's top-level memsim package")
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_memsim as B  # the traces and hierarchies of the regular bench

    new, base = load_pair(args.base)
    n = args.rows
    rng = np.random.default_rng(0)
    walk, table = B.texture_walk(n)
    traces = {"sequential": np.arange(n, dtype=np.int64) * B.TEXEL,
              "random": rng.integers(0, (64 << 20) // B.TEXEL, n).astype(np.int64) * B.TEXEL,
              "texture walk": table.resolve(walk).astype(np.int64)}
    zeros, loads, nbytes = np.zeros(n, np.int32), np.zeros(n, bool), np.full(n, B.TEXEL, np.int32)
    hier = {name: m.Hierarchy([m.CacheLevel(**B.L1), m.CacheLevel(**B.L2)], cores=1) for name, m in
            (("new", new), ("base", base))}
    numba.set_num_threads(1)
    rows = []
    for tname, addrs in traces.items():
        forms = {"columns": (addrs, zeros, loads, nbytes), "1-value": (addrs, 0, False, B.TEXEL),
                 "int32": (addrs.astype(np.int32), 0, False, B.TEXEL)}
        for form, a in forms.items():
            for h in hier.values():
                h.simulate_resolved(*(x[:1000] if np.ndim(x) else x for x in a))  # compile
            rows.append((f"{tname}, {form}", *rounds(cpu, args.rounds, n, hier, a)))
    # the multi-core walk (wall time: several threads)
    mwalk, mtable = B.texture_walk(n, cores=8)
    maddrs = mtable.resolve(mwalk).astype(np.int64)
    mh = {name: m.Hierarchy([m.CacheLevel(**B.L1), m.CacheLevel(**B.L2)], cores=8) for name, m in
          (("new", new), ("base", base))}
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        numba.set_num_threads(threads)
        a = (maddrs, mwalk.core, False, B.TEXEL)
        for h in mh.values():
            h.simulate_resolved(maddrs[:1000], mwalk.core[:1000], False, B.TEXEL)
        rows.append((f"multi-core walk, 1-value, {threads} thread(s)", *rounds(wall, args.rounds, n, mh, a)))
    print(f"# {n:,} accesses per trace; {args.rounds} rounds, new and base in each (order alternating); rates in M acc/s (CPU time,"
          f" multi-core: wall); ratio = new rate / base rate per round")
    print(f"{'row':40s} {'base med':>9s} {'new med':>9s} {'ratio med':>10s} {'ratio min':>10s} {'ratio max':>10s}"
          f"  same counts")
    for name, rates, ratios, same in rows:
        print(f"{name:40s} {statistics.median(rates['base']):9.1f} {statistics.median(rates['new']):9.1f} "
              f"{statistics.median(ratios):10.3f} {min(ratios):10.3f} {max(ratios):10.3f}  {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
