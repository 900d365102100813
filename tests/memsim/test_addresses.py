"""memsim.simulate_addresses against pycachesim (LRU and FIFO, loads) and against the Python model."""
import numpy as np
import pytest

from smartmem_sim.memsim.addresses import simulate_addresses
from smartmem_sim.memsim.errors import MemsimError
from tests.memsim.cache_model import ModelHierarchy

cachesim = pytest.importorskip("cachesim")


def pycachesim_counts(addrs, levels, policy):
    """Chain pycachesim levels with load_from/store_to (non-inclusive, write-back, write-allocate)."""
    below = None
    caches = []
    for i in reversed(range(len(levels))):
        lv = levels[i]
        c = cachesim.Cache(f"L{i + 1}", lv["size"] // (lv["ways"] * lv["line"]), lv["ways"], lv["line"],
                           policy.upper(), load_from=below, store_to=below)
        caches.insert(0, c)
        below = c
    mem = cachesim.MainMemory()
    mem.load_to(caches[-1])
    mem.store_from(caches[-1])
    sim = cachesim.CacheSimulator(caches[0], mem)
    sim.load(addrs.tolist())  # iterload: one access of 1 byte per address
    return [(c.backend.HIT_count, c.backend.MISS_count) for c in caches]


def make_trace(kind, rng, n):
    if kind == "random":
        return rng.integers(0, 1 << 20, n)
    if kind == "strided":
        stride = int(rng.choice([4, 64, 96, 256, 4096, 4160]))
        return (np.arange(n) * stride + int(rng.integers(0, 64))) % (1 << 24)
    if kind == "sequential":
        return np.arange(n) * int(rng.choice([1, 4, 8])) + int(rng.integers(0, 1000))
    # reuse-heavy: a small working set visited in random order with repeats, plus occasional far accesses
    hot = rng.integers(0, 1 << 16, 64)
    a = hot[rng.integers(0, 64, n)] + rng.integers(0, 16, n)
    far = rng.random(n) < 0.05
    a[far] = rng.integers(0, 1 << 22, far.sum())
    return a


def random_levels(rng, depth):
    levels = []
    line = int(2 ** rng.integers(4, 8))  # 16..128 B
    size_exp = int(rng.integers(8, 12))
    for _ in range(depth):
        ways = int(2 ** rng.integers(0, 4)) if rng.random() < 0.8 else int(rng.choice([3, 5, 6, 12]))
        sets = int(2 ** rng.integers(0, 6))
        levels.append({"size": sets * ways * line, "ways": ways, "line": line})
        size_exp += 2
        line = line * int(rng.choice([1, 1, 2]))
    return levels


@pytest.mark.parametrize("policy", ["lru", "fifo"])
@pytest.mark.parametrize("kind", ["random", "strided", "sequential", "reuse"])
def test_matches_pycachesim_on_random_configurations(policy, kind):
    rng = np.random.default_rng(hash((policy, kind)) % 2**32)
    for _ in range(12):
        levels = random_levels(rng, int(rng.integers(1, 4)))
        addrs = make_trace(kind, rng, 3000).astype(np.int64)
        ours = simulate_addresses(addrs, levels, policy=policy)
        ref = pycachesim_counts(addrs, levels, policy)
        assert [(d["hits"], d["misses"]) for d in ours] == ref, (levels, kind)


def test_misses_of_one_level_are_accesses_of_the_next():
    rng = np.random.default_rng(5)
    addrs = rng.integers(0, 1 << 18, 5000)
    out = simulate_addresses(addrs, [{"size": 1024, "ways": 2, "line": 32}, {"size": 8192, "ways": 4, "line": 64},
                                     {"size": 65536, "ways": 8, "line": 64}])
    for upper, lower in zip(out, out[1:], strict=False):
        assert upper["misses"] == lower["accesses"]
    assert all(d["hits"] + d["misses"] == d["accesses"] for d in out)


@pytest.mark.parametrize("policy", ["lru", "fifo", "plru", "random"])
def test_stores_and_sectors_match_the_python_model(policy):
    rng = np.random.default_rng(11)
    for trial in range(6):
        levels = [
            {"size": 512, "ways": 4, "line": 64, "sector": 16, "write": str(rng.choice(["write-back", "write-through"])),
             "write_allocate": bool(rng.random() < 0.5)},
            {"size": 4096, "ways": 4, "line": 128, "sector": 32},
        ]
        if policy == "random":
            for lv in levels:
                lv["seed"] = int(rng.integers(0, 100))
        n = 3000
        addrs = rng.integers(0, 8192 if trial % 2 else 1024, n)  # odd trials: mostly misses
        writes = rng.random(n) < 0.3
        nbytes = rng.integers(1, 40, n)
        ours = simulate_addresses(addrs, levels, policy=policy, writes=writes, nbytes=nbytes)
        specs = [{"policy": policy, **lv} for lv in levels]
        model = ModelHierarchy(specs).run(addrs, np.zeros(n, int), writes, nbytes)
        for k, d in enumerate(ours):
            ref = model.level_totals(k)
            assert {key: d[key] for key in ref} == ref, (k, levels)


def test_bad_input_names_the_problem():
    with pytest.raises(MemsimError, match="addrs must be integers"):
        simulate_addresses(np.array([1.5, 2.0]), [{"size": 1024, "ways": 2, "line": 64}])
    with pytest.raises(MemsimError, match="levels\\[0\\].*line"):
        simulate_addresses(np.arange(4), [{"size": 1024, "ways": 2, "line": 48}])
    with pytest.raises(MemsimError, match="unknown key"):
        simulate_addresses(np.arange(4), [{"size": 1024, "ways": 2, "line": 64, "assoc": 2}])
    with pytest.raises(MemsimError, match="writes"):
        simulate_addresses(np.arange(4), [{"size": 1024, "ways": 2, "line": 64}], writes=[1, 0, 0, 1])
    with pytest.raises(MemsimError, match=">= 0"):
        simulate_addresses(np.array([-64, 0]), [{"size": 1024, "ways": 2, "line": 64}])
