"""memsim.simulate_addresses against pycachesim (LRU and FIFO, loads) and against the Python model."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

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


def _model_totals(addrs, levels, policy, writes, nbytes):
    n = len(addrs)
    specs = [{"policy": policy, **lv} for lv in levels]
    model = ModelHierarchy(specs).run(addrs, np.zeros(n, int), writes, np.broadcast_to(nbytes, (n,)))
    return [model.level_totals(k) for k in range(len(levels))]


@settings(max_examples=40, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1), policy=hs.sampled_from(["lru", "fifo", "plru", "random"]),
       form=hs.sampled_from(["one value", "loads of one size as columns", "columns", "columns with stores"]),
       dtype=hs.sampled_from([np.int64, np.int32, np.uint16]))
def test_every_form_and_policy_matches_the_python_model(seed, policy, form, dtype):
    """Each way of calling it (one value; columns that hold one load size, which the engine reads as one
    value; columns of loads; columns with stores), int64 addresses, against the model, every counter."""
    rng = np.random.default_rng(seed)
    levels = [{"size": 1024, "ways": int(rng.choice([1, 2, 4, 8])), "line": 64},
              {"size": 8192, "ways": int(rng.choice([4, 8, 16])), "line": int(rng.choice([64, 128]))}]
    if rng.random() < 0.3:
        levels[0]["sector"] = 16
    if policy == "random":
        for lv in levels:
            lv["seed"] = int(rng.integers(0, 100))
    n = int(rng.integers(1, 600))
    texel = int(rng.choice([1, 4, 8]))
    addrs = (rng.integers(0, 1 << int(rng.integers(8, 16)), n) // texel * texel).astype(np.int64)
    if rng.random() < 0.5:  # runs on one line, the run-length fast path's case
        addrs = np.repeat(addrs, int(rng.integers(1, 9)))[:n]
    writes = np.zeros(n, bool)
    nbytes = np.full(n, texel, dtype)
    if form == "one value":
        ours = simulate_addresses(addrs, levels, policy=policy, nbytes=texel)
    elif form == "loads of one size as columns":
        ours = simulate_addresses(addrs, levels, policy=policy, writes=writes, nbytes=nbytes)
    else:
        nbytes = rng.integers(1, 70, n).astype(dtype)
        if form == "columns with stores":
            writes = rng.random(n) < 0.3
        ours = simulate_addresses(addrs, levels, policy=policy, writes=writes, nbytes=nbytes)
    ref = _model_totals(addrs, levels, policy, writes, nbytes if form != "one value" else texel)
    assert [{key: d[key] for key in r} for d, r in zip(ours, ref, strict=True)] == ref


def test_a_kept_hierarchy_counts_as_a_fresh_one():
    """Calls with the same levels share one kept hierarchy: a call after others (stores, other levels in
    between) gives what the first call gave."""
    rng = np.random.default_rng(3)
    levels = [{"size": 1024, "ways": 4, "line": 64}, {"size": 8192, "ways": 8, "line": 64}]
    addrs = rng.integers(0, 1 << 14, 4000)
    first = simulate_addresses(addrs, levels, nbytes=8)
    simulate_addresses(addrs, levels, writes=rng.random(4000) < 0.5, nbytes=4)
    simulate_addresses(addrs, [{"size": 2048, "ways": 2, "line": 32}])
    assert simulate_addresses(addrs, levels, nbytes=8) == first
    assert simulate_addresses(addrs, levels, writes=np.zeros(4000, bool), nbytes=np.full(4000, 8)) == first


def test_bad_nbytes_columns_are_named():
    lv = [{"size": 1024, "ways": 2, "line": 64}]
    for bad in (np.array([4, 0, 4]), np.array([4, 2**31, 4]), np.array([4, -1, 4]), np.array([1, 2**64 - 1, 1], np.uint64)):
        with pytest.raises(MemsimError, match="nbytes must be in"):
            simulate_addresses(np.arange(3) * 64, lv, nbytes=bad)
    with pytest.raises(MemsimError, match="nbytes must be in"):
        simulate_addresses(np.arange(3) * 64, lv, nbytes=0)
