"""memsim before and after a change, in one process, call by call: the fairest A/B a noisy host allows.

Two runs of benchmarks/bench_memsim.py minutes apart see different hosts (on a shared 2-vCPU VM the same code
swings 20-50% between runs). Here the baseline memsim (a checkout whose top-level package is ``memsim``, e.g.
``git archive 5bc7ef6 memsim | tar -x -C .cache/benchbase``) and this tree's ``smartmem_sim.memsim`` are
imported side by side and timed in alternation (new first in even rounds, base first in odd ones) on the same arrays, ``--rounds`` times per row;
each row reports the median and the best of the per-round ratios (new rate / base rate), so a slow spell of the
host hits both sides of a round alike. Rows: every row of bench_memsim.py (``make bench``) but pycachesim's:
its three traces through an L1 + L2 (columns, one value, int32 addresses), the address map
(SurfaceTable.resolve), and its multi-core texture walk (8 cores) in the same three forms on 1 and 2 threads.
Counts are compared too. ``--aa`` puts a renamed copy of the baseline in place of this tree: the A/A
control, which shows how far apart the method reads the same code. ``--csv`` keeps every round, for
benchmarks/ab_pool.py to pool several runs.

    .venv/bin/python benchmarks/bench_memsim_ab_inprocess.py .cache/benchbase [--rows 4000000] [--rounds 21]
        [--aa] [--csv FILE]
"""
from __future__ import annotations

import argparse
import csv
import importlib
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_pair(base_dir: Path, aa: bool = False):
    """(new memsim, base memsim) modules: smartmem_sim.memsim from this tree, memsim from ``base_dir``.
    With ``aa`` the first is instead a copy of the baseline under another name (memsim_aa, made beside
    ``base_dir`` once): the A/A control, whose ratios show what the method reads for the same source."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(base_dir.resolve()))
    if aa:
        new = importlib.import_module(renamed_copy(base_dir).name)
    else:
        new = importlib.import_module("smartmem_sim.memsim")
    sys.modules.pop("memsim", None)  # this tree's `memsim` alias must not answer for the baseline
    base = importlib.import_module("memsim")
    if Path(base.__file__).resolve().parent.parent != base_dir.resolve():
        raise SystemExit(f"baseline memsim came from {base.__file__}, not {base_dir}")
    return new, base


def renamed_copy(base_dir: Path) -> Path:
    """``base_dir``/memsim copied to ``base_dir``/memsim_aa with its imports of itself renamed (made once;
    kept, so that numba's cache of it survives between runs)."""
    dst = base_dir / "memsim_aa"
    if not dst.is_dir():
        tmp = base_dir / "memsim_aa.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(base_dir / "memsim", tmp, ignore=shutil.ignore_patterns("__pycache__"))
        for f in tmp.rglob("*.py"):
            f.write_text(re.sub(r"\bmemsim\b(?=[. ])", "memsim_aa", f.read_text()))
        tmp.rename(dst)
    return dst


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
    run = {side: (lambda h=h: h.simulate_resolved(*args)) for side, h in hier.items()}
    return rounds_of(clock, count, n, run, lambda a, b: counts(a) == counts(b))


def rounds_of(clock, count: int, n: int, run: dict, agree):
    """``count`` rounds of ``run["new"]()`` and ``run["base"]()``, each doing ``n`` rows (:func:`pair`): (rates in
    M rows/s per side, per-round ratios new/base, whether ``agree`` held for every round's two results)."""
    ratios, rates, same = [], {"new": [], "base": []}, True
    for i in range(count):
        t_new, r_new, t_base, r_base = pair(clock, i, run["new"], run["base"])
        ratios.append(t_base / t_new)
        rates["new"].append(n / t_new / 1e6)
        rates["base"].append(n / t_base / 1e6)
        same = same and bool(agree(r_new, r_base))
    return rates, ratios, same


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="folder holding the baseline's top-level memsim package")
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--aa", action="store_true", help="A/A control: a renamed copy of the baseline in place of this tree")
    ap.add_argument("--csv", type=Path, help="write every round's rates and ratio here (benchmarks/ab_pool.py pools runs)")
    ap.add_argument("--only", default="", help="time only the rows whose name contains this (e.g. 'multi-core')")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_memsim as B  # the traces and hierarchies of the regular bench

    new, base = load_pair(args.base, args.aa)
    mods = {"new": new, "base": base}
    n = args.rows
    rng = np.random.default_rng(0)
    walk, table = B.texture_walk(n)
    traces = {"sequential": np.arange(n, dtype=np.int64) * B.TEXEL,
              "random": rng.integers(0, (64 << 20) // B.TEXEL, n).astype(np.int64) * B.TEXEL,
              "texture walk": table.resolve(walk).astype(np.int64)}
    zeros, loads, nbytes = np.zeros(n, np.int32), np.zeros(n, bool), np.full(n, B.TEXEL, np.int32)
    hier = {name: m.Hierarchy([m.CacheLevel(**B.L1), m.CacheLevel(**B.L2)], cores=1) for name, m in mods.items()}
    numba.set_num_threads(1)
    rows = []
    for tname, addrs in traces.items():
        forms = {"columns": (addrs, zeros, loads, nbytes), "1-value": (addrs, 0, False, B.TEXEL),
                 "int32": (addrs.astype(np.int32), 0, False, B.TEXEL)}
        for form, a in forms.items():
            if args.only not in f"{tname}, {form}":
                continue
            for h in hier.values():
                h.simulate_resolved(*(x[:1000] if np.ndim(x) else x for x in a))  # compile
            rows.append((f"{tname}, {form}", *rounds(cpu, args.rounds, n, hier, a)))
    # the address map: each side's own SurfaceTable.resolve on its own copy of the walk
    walks = {name: B.texture_walk(n, memsim=m) for name, m in mods.items()}
    resolve = {name: (lambda w=w, t=t: t.resolve(w)) for name, (w, t) in walks.items()}
    if args.only in "address map (M rows/s)":
        for f in resolve.values():
            f()  # compile
        rows.append(("address map (M rows/s)", *rounds_of(wall, args.rounds, n, resolve, np.array_equal)))
    # the multi-core walk (wall time: several threads), in bench_memsim.py's three forms
    mwalk, mtable = B.texture_walk(n, cores=8)
    maddrs = mtable.resolve(mwalk).astype(np.int64)
    mforms = {"columns": (maddrs, mwalk.core, mwalk.write, mwalk.nbytes), "1-value": (maddrs, mwalk.core, False, B.TEXEL),
              "int32": (maddrs.astype(np.int32), mwalk.core, False, B.TEXEL)}
    mh = {name: m.Hierarchy([m.CacheLevel(**B.L1), m.CacheLevel(**B.L2)], cores=8) for name, m in mods.items()}
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        numba.set_num_threads(threads)
        for form, a in mforms.items():
            if args.only not in f"multi-core walk, {form}, {threads} thread(s)":
                continue
            for h in mh.values():
                h.simulate_resolved(*(x[:1000] if np.ndim(x) else x for x in a))
            rows.append((f"multi-core walk, {form}, {threads} thread(s)", *rounds(wall, args.rounds, n, mh, a)))
    print(f"# {n:,} accesses per trace; {args.rounds} rounds, {'A/A (renamed baseline copy)' if args.aa else 'new'} and base in each (order alternating); rates in M acc/s (CPU time,"
          f" address map and multi-core: wall); ratio = new rate / base rate per round")
    print(f"{'row':40s} {'base med':>9s} {'new med':>9s} {'ratio med':>10s} {'ratio min':>10s} {'ratio max':>10s}"
          f"  same counts")
    for name, rates, ratios, same in rows:
        print(f"{name:40s} {statistics.median(rates['base']):9.1f} {statistics.median(rates['new']):9.1f} "
              f"{statistics.median(ratios):10.3f} {min(ratios):10.3f} {max(ratios):10.3f}  {'yes' if same else 'NO'}")
    if args.csv:
        tmp = args.csv.with_name(args.csv.name + ".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "round", "new_rate", "base_rate", "ratio", "same"])
            for name, rates, ratios, same in rows:
                for i, (rn, rb, q) in enumerate(zip(rates["new"], rates["base"], ratios, strict=True)):
                    w.writerow([name, i, f"{rn:.3f}", f"{rb:.3f}", f"{q:.5f}", int(same)])
        tmp.replace(args.csv)
    return 0 if all(same for *_, same in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
