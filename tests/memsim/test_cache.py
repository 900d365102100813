"""CacheLevel validation, single-level replacement behaviour against hand-worked sequences, and the LRU
recency order against a list and the model."""
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from smartmem_sim.memsim import _kernels_state as K
from smartmem_sim.memsim.addresses import simulate_addresses
from smartmem_sim.memsim.cache import CacheLevel, CacheState
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy
from tests.memsim.cache_model import ModelHierarchy


def level(**kw):
    base = {"name": "L1", "size": 1024, "ways": 4, "line": 64}
    return CacheLevel(**(base | kw))


def test_derived_fields():
    lv = level(sector=16)
    assert (lv.sets, lv.sector, lv.sectors_per_line) == (4, 16, 4)
    assert level().sector == 64
    st = CacheState(level(per_core=True), copies=3)
    assert st.tags.shape == (3, 4, 4) and (st.tags == -1).all()


@pytest.mark.parametrize("kw, message", [
    ({"line": 48}, "field 'line' must be a power of two"),
    ({"sector": 24}, "field 'sector' must be a power of two"),
    ({"sector": 128}, "sector.*<= line"),
    ({"size": 1000}, "field 'size'.*multiple of ways"),
    ({"size": 768, "ways": 4}, "3 sets.*power of two"),
    ({"ways": 3, "size": 768, "policy": "plru"}, "'ways' must be a power of two for policy 'plru'"),
    ({"policy": "random"}, "needs an explicit integer field 'seed'"),
    ({"seed": 3}, "'seed' only applies to policy 'random'"),
    ({"policy": "mru"}, "field 'policy' must be one of"),
    ({"write": "write-around"}, "field 'write' must be one of"),
    ({"per_core": "yes"}, "field 'per_core' must be true or false"),
    ({"ways": 0}, "field 'ways' must be >= 1"),
    ({"size": 4.0}, "field 'size' must be an integer"),
    ({"latency_cycles": -1}, "latency_cycles"),
    ({"line": 4096, "sector": 32, "size": 16384}, "128 sectors per line"),
])
def test_bad_values_name_the_level_and_field(kw, message):
    with pytest.raises(MemsimError, match=message) as info:
        level(**kw)
    assert "level 'L1'" in str(info.value)


def test_from_dict_rejects_unknown_and_missing_keys():
    with pytest.raises(MemsimError, match="file.toml: unknown key\\(s\\) assoc"):
        CacheLevel.from_dict({"name": "L1", "size": 1024, "ways": 4, "line": 64, "assoc": 4}, where="file.toml")
    with pytest.raises(MemsimError, match="missing key\\(s\\) ways"):
        CacheLevel.from_dict({"name": "L1", "size": 1024, "line": 64})


def counts(addrs, **kw):
    d = simulate_addresses(np.array(addrs) * 64, [{"size": 4 * 64, "ways": 4, "line": 64, **kw}])[0]
    return d["hits"], d["misses"]


def test_replacement_policies_on_a_hand_worked_sequence():
    # One set of 4 ways. Lines 0..3 fill it; 0 is touched again; then 4 arrives and evicts:
    #   LRU -> 1 (least recent); FIFO -> 0 (filled first); PLRU (tree) -> after touches 0,1,2,3,0 the tree
    #   points to the right half, then to 2 -> 2.
    seq = [0, 1, 2, 3, 0, 4]
    assert counts(seq + [1], policy="lru") == (1, 6)
    assert counts(seq + [0], policy="lru") == (2, 5)
    assert counts(seq + [0], policy="fifo") == (1, 6)
    assert counts(seq + [1], policy="fifo") == (2, 5)
    assert counts(seq + [2], policy="plru") == (1, 6)
    assert counts(seq + [3], policy="plru") == (2, 5)


def test_random_policy_is_deterministic_for_a_seed_and_depends_on_it():
    rng = np.random.default_rng(0)
    addrs = rng.integers(0, 64, 2000)
    a = counts(addrs, policy="random", seed=1)
    assert a == counts(addrs, policy="random", seed=1)
    assert any(counts(addrs, policy="random", seed=s) != a for s in range(2, 6))


def test_sector_miss_fetches_only_the_missing_sector():
    lv = [{"size": 256, "ways": 1, "line": 128, "sector": 32}]
    d = simulate_addresses(np.array([0, 8, 32, 100, 0]), lv, nbytes=8)[0]
    # 0: line miss (fetch sector 0); 8: hit; 32: sector miss; 100: sector miss (sector 3); 0: hit
    assert (d["hits"], d["misses"], d["sector_misses"], d["bytes_filled"]) == (2, 3, 2, 96)


def test_write_policies():
    lv = {"size": 64, "ways": 1, "line": 64}  # one set, one way
    addrs = np.array([0, 0, 64, 0])
    w = np.array([True, True, False, False])
    wb = simulate_addresses(addrs, [lv | {"write": "write-back"}], writes=w, nbytes=8)[0]
    # store miss allocates; store hit; load 64 evicts dirty line 0 (written back whole: the dirty span
    # is the line's one sector); load 0 misses again
    assert (wb["hits"], wb["misses"], wb["writebacks"], wb["bytes_written"]) == (1, 3, 1, 64)
    wt = simulate_addresses(addrs, [lv | {"write": "write-through"}], writes=w, nbytes=8)[0]
    assert (wt["hits"], wt["misses"], wt["writebacks"], wt["bytes_written"]) == (1, 3, 0, 16)
    na = simulate_addresses(addrs, [lv | {"write": "write-back", "write_allocate": False}], writes=w, nbytes=8)[0]
    # no-allocate: both stores miss and go below; load 64 and load 0 miss
    assert (na["hits"], na["misses"], na["bytes_written"], na["bytes_filled"]) == (0, 4, 16, 128)
    ro = simulate_addresses(np.array([0, 0, 0]), [lv | {"write": "read-only"}], writes=np.array([False, True, False]),
                            nbytes=8)[0]
    # the store bypasses (not an access) and invalidates, so the last load misses
    assert (ro["accesses"], ro["hits"], ro["misses"], ro["writes"], ro["bytes_written"]) == (2, 0, 2, 1, 8)


@given(ways=hs.integers(1, 16), ops=hs.lists(hs.tuples(hs.booleans(), hs.integers(0, 15)), max_size=60))
@settings(max_examples=300, deadline=None)
def test_lru_recency_order_moves_ways_like_a_list(ways, ops):
    """The packed recency order (4-bit way ids in a uint64) against a Python list, most recent first."""
    order = np.uint64(K.lru_order_start(ways))
    ref = list(range(ways - 1, -1, -1))
    for to_front, w in ops:
        w %= ways
        ref.remove(w)
        if to_front:
            ref.insert(0, w)
            order = np.uint64(K._order_to_front(order, w))  # (a Python int back from numba)
        else:
            ref.append(w)
            order = np.uint64(K._order_to_back(order, w, ways))
        assert [(int(order) >> (4 * i)) & 15 for i in range(16)] == ref + [0] * (16 - ways)
        assert K._order_last(order, ways) == ref[-1]
        assert K._order_pos(order, ref[0]) == 0


@pytest.mark.parametrize("ways", [3, 5, 16, 32])
def test_lru_matches_the_model_with_invalidations_at_every_associativity(ways):
    """LRU up to 16 ways keeps a recency order, above that stamps: both against the model, with a read-only
    unsectored per-core L1 whose stores invalidate whole lines (invalid ways must be filled before any valid
    way is evicted), a sectored write-back L2, rows crossing lines and interleaved cores."""
    rng = np.random.default_rng(ways)
    levels = [
        {"name": "L1", "size": 4 * ways * 64, "ways": ways, "line": 64, "per_core": True, "write": "read-only",
         "write_allocate": False},
        {"name": "L2", "size": 8 * ways * 64, "ways": ways, "line": 64, "sector": 16, "write": "write-back"},
    ]
    n, cores = 6000, 2
    addrs = rng.integers(0, 12 * ways * 64, n)
    core = (np.arange(n) // rng.integers(1, 50, n)) % cores
    writes = rng.random(n) < 0.3
    nbytes = rng.integers(1, 80, n).astype(np.int32)
    h = Hierarchy([CacheLevel(**lv) for lv in levels], cores=cores)
    rep = h.simulate_resolved(addrs, core.astype(np.int32), writes, nbytes)
    model = ModelHierarchy(levels, cores).run(addrs, core.astype(np.int32), writes, nbytes)
    for k, st in enumerate(rep.levels):
        ref = model.level_totals(k)
        assert {key: getattr(st, key) for key in ref} == ref, st.name
    assert rep.levels[0].hits > 0 and rep.levels[0].misses > 0 and rep.levels[1].writebacks > 0
    assert (rep.dram_bytes_read, rep.dram_bytes_written) == (model.dram_read, model.dram_written)


def _same_line_trace(rng, n, line, lines):
    """Runs on one line (up to 12 rows), reads and writes mixed in every run, offsets anywhere in the line,
    so a fast path that skips a dirty-bit update, a forwarded store or a sector fill shows in the counts."""
    addrs, writes = [], []
    while len(addrs) < n:
        base = int(rng.integers(0, lines)) * line
        run = int(rng.integers(1, 13))
        pattern = int(rng.integers(0, 4))  # alternating, reads then writes, writes then reads, random
        for j in range(run):
            addrs.append(base + int(rng.integers(0, line // 8)) * 8)
            if pattern == 0:
                writes.append(j % 2 == 1)
            elif pattern == 1:
                writes.append(j >= run // 2)
            elif pattern == 2:
                writes.append(j < run // 2)
            else:
                writes.append(bool(rng.random() < 0.5))
    return np.array(addrs[:n]), np.array(writes[:n])


@pytest.mark.parametrize("write", ["write-back", "write-through", "read-only"])
@pytest.mark.parametrize("sector", [None, 16])
@pytest.mark.parametrize("policy", ["lru", "fifo", "plru", "random"])
def test_same_line_reads_and_writes_match_the_model(write, sector, policy):
    """The run-length fast paths (a repeat access to the line the stream touched last) against the model:
    runs on one line with reads and writes interleaved, every write mode, sectored and not, every policy,
    with and without write-allocate, 1 and 2 cores (interleaved in runs), through a 2-level hierarchy."""
    rng = np.random.default_rng(zlib.crc32(f"{write} {sector} {policy}".encode()))
    for walloc in (True, False):
        for cores in (1, 2):
            l1 = {"name": "L1", "size": 1024, "ways": 4, "line": 64, "sector": sector, "policy": policy,
                  "write": write, "write_allocate": walloc, "per_core": True,
                  "seed": 3 if policy == "random" else None}
            l2 = {"name": "L2", "size": 4096, "ways": 8, "line": 64, "sector": sector, "policy": policy,
                  "write": "write-back" if write == "read-only" else write, "write_allocate": walloc,
                  "seed": 5 if policy == "random" else None}
            levels = [{k: v for k, v in lv.items() if v is not None} for lv in (l1, l2)]
            addrs, writes = _same_line_trace(rng, 1500, 64, 48)
            core = ((np.arange(addrs.size) // 24) % cores).astype(np.int32)
            nbytes = np.full(addrs.size, 8, np.int32)
            rep = Hierarchy([CacheLevel(**lv) for lv in levels], cores=cores).simulate_resolved(
                addrs, core, writes, nbytes)
            model = ModelHierarchy(levels, cores).run(addrs, core, writes, nbytes)
            for k, st in enumerate(rep.levels):
                ref = model.level_totals(k)
                assert {key: getattr(st, key) for key in ref} == ref, (st.name, walloc, cores)
            assert (rep.dram_bytes_read, rep.dram_bytes_written) == (model.dram_read, model.dram_written)
            assert rep.levels[0].fast_hits > 0  # the fast path ran


@pytest.mark.parametrize("policy", ["lru", "plru"])
def test_a_bypassing_store_does_not_make_its_line_the_fast_path_line(policy):
    """Regression: a store that misses a sector of a present line at a no-write-allocate level goes below
    without touching the recency, so the next load of that line must update it (it is not the most
    recent: line 12 was loaded after it). Set 0 of a 4-set 4-way cache; then lines 44, 4, 36 fill it and
    evict the least recent, which is line 12 (clean), not line 32 (dirty: no write-back)."""
    lv = {"name": "L1", "size": 1024, "ways": 4, "line": 64, "sector": 16, "policy": policy,
          "write": "write-back", "write_allocate": False}
    rows = [(32, 24, 0), (32, 56, 0), (32, 48, 1), (12, 8, 0), (32, 40, 1), (32, 16, 0), (44, 48, 0), (4, 48, 0),
            (36, 16, 0)]  # (line, offset, store)
    addrs = np.array([line * 64 + off for line, off, _ in rows])
    writes = np.array([bool(s) for _, _, s in rows])
    core, nbytes = np.zeros(addrs.size, np.int32), np.full(addrs.size, 8, np.int32)
    st = Hierarchy([CacheLevel(**lv)]).simulate_resolved(addrs, core, writes, nbytes).levels[0]
    ref = ModelHierarchy([lv]).run(addrs, core, writes, nbytes).level_totals(0)
    assert {key: getattr(st, key) for key in ref} == ref
    if policy == "lru":
        assert (st.writebacks, st.bytes_written) == (0, 8)  # only the bypassing store went below
