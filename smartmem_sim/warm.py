"""Compile the simulator's numba functions ahead of the first real run (``make setup`` runs this).

memsim and the trace generator are numba functions compiled on first call and kept in numba's on-disk
cache (``cache=True``). Compiling all of them takes about two minutes on a 2-core machine, which a user would
otherwise wait through, without a word, in the first ``compare``. This runs small workloads that reach
every compiled path the commands use (the multi-core hierarchy of each shipped profile, with and without
texel registers; user address streams in both argument forms; the cache-study walks) with the kernel cache
off, so everything is compiled and nothing is remembered.

    python -m smartmem_sim.warm        # prints what it warmed and how long it took
"""
from __future__ import annotations

import os
import sys
import time


def warm(out=sys.stdout) -> float:
    """Run the warm-up workloads; returns the seconds taken."""
    os.environ["SMARTMEM_CACHE"] = "off"
    t0 = time.perf_counter()
    import numpy as np

    from smartmem_sim import memsim
    from smartmem_sim.simulation import load_graph, simulate_policies

    graph = load_graph("vit", tiny=True)
    for profile in memsim.list_profiles():
        if memsim.load_profile(profile).execution is None:
            continue
        simulate_policies(graph, ["naive", "smartmem"], device=profile)
        print(f"  {profile}: compare vit.tiny ({time.perf_counter() - t0:.0f} s)", file=out, flush=True)
    addrs = np.arange(0, 1 << 16, 8, dtype=np.int64)
    levels = [{"size": 16384, "ways": 4, "line": 64}, {"size": 65536, "ways": 8, "line": 64}]
    memsim.simulate_addresses(addrs, levels)
    memsim.simulate_addresses(addrs, levels, writes=addrs % 3 == 0, nbytes=np.full(addrs.size, 8))
    from smartmem_sim.memsim.study import run_study

    run_study(memsim.load_profile("adreno740"), width=32, height=32)
    print(f"  address streams and cache-study walks ({time.perf_counter() - t0:.0f} s)", file=out, flush=True)
    return time.perf_counter() - t0


def main() -> int:
    print("compiling the simulator's numba functions into numba's cache (once per install):", flush=True)
    print(f"done in {warm():.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
