"""The multi-core line-stream path (smartmem_sim/memsim/_kernels_lines_cores.py) against the general path and the Python
model: same reports (fast hits included) and the same state, for per-core and shared levels, chunk seams,
traces that switch paths, many cores and any number of threads."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from smartmem_sim.memsim import hierarchy as H
from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy
from tests.memsim.cache_model import ModelHierarchy
from tests.memsim.test_hierarchy import assert_same
from tests.memsim.test_lines_path import assert_same_state, mixed_trace, same_as_the_general_path


def simulate(levels, cores, addrs, core, writes, nbytes, line_stream=True):
    """(report, state arrays but ``valid``) by the multi-core line path where it applies, or
    (line_stream=False) by the general path alone."""
    h = Hierarchy([CacheLevel(**lv) for lv in levels], cores=cores)
    if not line_stream:
        h._line_stream = lambda: False  # this hierarchy only
    else:
        assert h._line_stream() and not h._single_stream()
    rep = h.simulate_resolved(addrs, core, writes, nbytes)
    st = h._workspace.state
    state = {name: arr.copy() for name, arr in zip(st.names, st.arrays(), strict=True) if name != "valid"}
    return rep, state


def random_levels(rng):
    """1-2 per-core levels, then 0-2 shared ones; LRU, unsectored, lines growing towards memory."""
    levels = []
    line = int(rng.choice([16, 32, 64]))
    nper = int(rng.integers(1, 3))
    for i in range(nper + int(rng.integers(0, 3))):
        line *= int(rng.choice([1, 1, 2]))
        ways = int(rng.choice([1, 2, 3, 4, 5, 8, 12, 16]))
        sets = int(rng.choice([1, 2, 4, 16, 64, 256]))
        levels.append({"name": f"L{i + 1}", "size": sets * ways * line, "ways": ways, "line": line,
                       "per_core": i < nper,
                       "write": str(rng.choice(["read-only", "write-back", "write-through"])),
                       "write_allocate": bool(rng.random() < 0.7)})
    return levels


def cores_of(rng, n, cores):
    """Runs of rows per core (work-groups) mixed with rows of random cores."""
    runs = []
    while sum(r.size for r in runs) < n:
        size = int(rng.integers(1, 600))
        if rng.random() < 0.7:
            runs.append(np.full(size, rng.integers(0, cores)))
        else:
            runs.append(rng.integers(0, cores, size))
    return np.concatenate(runs)[:n].astype(np.int32)


@settings(max_examples=30, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1), cores=hs.sampled_from([2, 3, 8, 12]),
       store_share=hs.sampled_from([0.0, 0.0, 0.0, 0.001]), cross_share=hs.sampled_from([0.0, 0.0, 0.0005]),
       chunk=hs.sampled_from([256, 1000, 1 << 16]))
def test_random_hierarchies_same_as_the_general_path_and_the_model(seed, cores, store_share, cross_share, chunk):
    rng = np.random.default_rng(seed)
    levels = random_levels(rng)
    addrs, _, writes, nbytes = mixed_trace(rng, int(rng.integers(1, 20000)), store_share=store_share,
                                           cross_share=cross_share)
    trace = (addrs, cores_of(rng, addrs.size, cores), writes, nbytes)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(H, "CORES_CHUNK_ROWS", chunk)  # many chunks and blocks, so every seam is crossed
        rep = same_as_the_general_path(simulate, levels, cores, *trace, int32_too=True)
    assert_same(rep, ModelHierarchy(levels, cores).run(*trace))


ADRENO_LIKE = [{"name": "L1", "size": 4096, "ways": 4, "line": 64, "per_core": True, "write": "read-only",
                "write_allocate": False},
               {"name": "L2", "size": 65536, "ways": 16, "line": 64},
               {"name": "SLC", "size": 262144, "ways": 16, "line": 128}]


def walk(cores, groups=64, width=256):
    """Work-groups of 16x16 texels of an 8-B-texel image, group g on core g % cores (as the benchmark)."""
    g = np.repeat(np.arange(groups), 256)
    local = np.tile(np.arange(256), groups)
    x = (g % (width // 16)) * 16 + local % 16
    y = (g // (width // 16)) * 16 + local // 16
    return (8 * (y * width + x)).astype(np.int64), (g % cores).astype(np.int32)


@pytest.mark.parametrize("threads", [1, 2])
def test_any_number_of_threads_gives_the_same_counts(threads):
    addrs, core = walk(8)
    n = addrs.size
    trace = (addrs, core, np.zeros(n, bool), np.full(n, 8, np.int32))
    ref, ref_state = simulate(ADRENO_LIKE, 8, *trace, line_stream=False)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        rep, state = simulate(ADRENO_LIKE, 8, *trace)
    finally:
        numba.set_num_threads(before)
    assert rep.to_dict() == ref.to_dict()
    assert_same_state(state, ref_state)
    assert rep.levels[0].fast_hits > 0 and rep.levels[1].misses > 0


def test_many_cores_take_smaller_chunks_with_the_same_counts():
    """132 cores (the H100 profile): the head buffers hold cores x rows, so a chunk has fewer rows."""
    rng = np.random.default_rng(3)
    addrs, _ = walk(132, groups=200)
    core = cores_of(rng, addrs.size, 132)
    n = addrs.size
    trace = (addrs, core, np.zeros(n, bool), np.full(n, 8, np.int32))
    h = Hierarchy([CacheLevel(**lv) for lv in ADRENO_LIKE], cores=132)
    assert h._take_workspace().cores_buffers().rows < H.CORES_CHUNK_ROWS
    same_as_the_general_path(simulate, ADRENO_LIKE, 132, *trace)


def test_bad_rows_are_named_as_by_the_general_path(monkeypatch):
    monkeypatch.setattr(H, "CORES_CHUNK_ROWS", 1024)
    h = Hierarchy([CacheLevel(**lv) for lv in ADRENO_LIKE], cores=4, name="four")
    addrs, core = walk(4)
    n = addrs.size
    for col, value, message in (("addrs", -8, "row 5000 has -8"), ("core", 7, "row 5000 has core 7"),
                                ("nbytes", 0, "nbytes must be positive; row 5000 has 0")):
        a, c, nb = addrs.copy(), core.copy(), np.full(n, 8, np.int32)
        {"addrs": a, "core": c, "nbytes": nb}[col][5000] = value
        with pytest.raises(MemsimError, match=message):
            h.simulate_resolved(a, c, np.zeros(n, bool), nb)
        with pytest.raises(MemsimError, match=message):
            h.simulate_resolved(a.astype(np.int32), c, np.zeros(n, bool), nb)
    # the hierarchy is still good for the next trace
    trace = (addrs, core, np.zeros(n, bool), np.full(n, 8, np.int32))
    after = h.simulate_resolved(*trace).to_dict() | {"device": ""}
    assert after == simulate(ADRENO_LIKE, 4, *trace, line_stream=False)[0].to_dict()


def test_after_a_store_every_chunk_takes_the_general_path(monkeypatch):
    """A store makes an L2 line dirty; its eviction must send a write-back, which line numbers cannot carry."""
    monkeypatch.setattr(H, "CORES_CHUNK_ROWS", 512)
    levels = [{"name": "L1", "size": 1024, "ways": 4, "line": 64, "per_core": True},
              {"name": "L2", "size": 4096, "ways": 8, "line": 64, "write": "write-back"}]
    addrs, core = walk(2)
    n = addrs.size
    writes = np.zeros(n, bool)
    writes[3060] = True  # near the end of chunk 2560..3071, so the dirty line outlives it
    nbytes = np.full(n, 8, np.int32)
    nbytes[3061 + np.argmax(addrs[3061:] % 64 == 56)] = 12  # and a row crossing a line in the same block
    trace = (addrs, core, writes, nbytes)
    rep, _ = simulate(levels, 2, *trace)
    assert_same(rep, ModelHierarchy(levels, 2).run(*trace))
    assert rep.levels[0].writebacks == 1


def test_chunks_of_the_general_path_between_line_chunks_leave_the_fingerprints_right(monkeypatch):
    """Crossing rows send single chunks through the general path, which changes tags of 8- and 16-way
    levels without their fingerprints; line chunks after them must rebuild them."""
    monkeypatch.setattr(H, "CORES_CHUNK_ROWS", 256)
    levels = [{"name": "L1", "size": 2048, "ways": 8, "line": 64, "per_core": True},
              {"name": "L2", "size": 8192, "ways": 16, "line": 64}]
    rng = np.random.default_rng(11)
    addrs = 8 * rng.integers(0, 4096, 40000)
    core = cores_of(rng, addrs.size, 3)
    nbytes = np.full(addrs.size, 8, np.int32)
    nbytes[rng.random(addrs.size) < 0.002] = 60  # about one chunk in two crosses a line somewhere
    trace = (addrs, core, np.zeros(addrs.size, bool), nbytes)
    same_as_the_general_path(simulate, levels, 3, *trace)


def test_one_value_for_write_and_nbytes_is_the_same_as_columns(monkeypatch):
    monkeypatch.setattr(H, "CORES_CHUNK_ROWS", 1024)
    h = Hierarchy([CacheLevel(**lv) for lv in ADRENO_LIKE], cores=8)
    addrs, core = walk(8)
    n = addrs.size
    for size in (8, 12):  # 12 B from a texel at byte 56 of a line crosses it: from there, the general path
        columns = h.simulate_resolved(addrs, core, np.zeros(n, bool), np.full(n, size, np.int32))
        assert h.simulate_resolved(addrs, core, False, size).to_dict() == columns.to_dict()
        assert h.simulate_resolved(addrs.astype(np.int32), core, False, size).to_dict() == columns.to_dict()
    # a store for every row: the general path, with the values spelled out
    stores = h.simulate_resolved(addrs, core, True, 8)
    assert stores.to_dict() == h.simulate_resolved(addrs, core, np.ones(n, bool), np.full(n, 8)).to_dict()
    with pytest.raises(MemsimError, match="same length"):
        h.simulate_resolved(addrs, core[:-1], False, 8)


def test_a_reused_hierarchy_counts_as_a_fresh_one_after_stores(monkeypatch):
    """As on one stream (tests/memsim/test_lines_path.py): dirty masks left by stores must not outlive a
    simulation, since the line path fills ways without writing them."""
    monkeypatch.setattr(H, "CORES_CHUNK_ROWS", 1024)
    levels = [CacheLevel(**ADRENO_LIKE[0]), CacheLevel(name="L2", size=8192, ways=16, line=64)]
    addrs, core = walk(4)
    n = addrs.size
    writes = np.zeros(n, bool)
    writes[n // 2:] = np.arange(n - n // 2) % 7 == 0  # loads first (the line path), then stores among loads
    trace = (addrs, core, writes, np.full(n, 8, np.int32))
    reused = Hierarchy(levels, cores=4)
    reused.simulate_resolved(addrs[::-1] + 64 * 1024, core, True, 8)  # every L2 way dirty
    assert reused.simulate_resolved(*trace).to_dict() == Hierarchy(levels, cores=4).simulate_resolved(*trace).to_dict()


@pytest.mark.parametrize("first_store", [None, 0, 511, 512, 1500, 3071, 3072])
def test_chunks_before_the_first_store_take_the_line_path_and_the_rest_the_general_path(first_store, monkeypatch):
    """_cores_lines hands cores_run only the chunks before the first store's chunk (found by one scan of the
    store column), which then goes to the general path as cores_run would have sent it: the same state
    as the general path alone, the model's counts, wherever the first store lies (the first row, a chunk's
    first or last row, none), with a crossing row before it too."""
    monkeypatch.setattr(H, "CORES_CHUNK_ROWS", 512)
    levels = [{"name": "L1", "size": 1024, "ways": 4, "line": 64, "per_core": True, "write": "read-only",
               "write_allocate": False},
              {"name": "L2", "size": 4096, "ways": 8, "line": 64, "write": "write-back"}]
    addrs, core = walk(2)
    n = addrs.size
    writes = np.zeros(n, bool)
    nbytes = np.full(n, 8, np.int32)
    nbytes[700 + np.argmax(addrs[700:] % 64 == 56)] = 12  # a chunk of the general path before any store
    if first_store is not None:
        writes[first_store] = True
        writes[first_store + 1 + np.flatnonzero(np.random.default_rng(1).random(n - first_store - 1) < 0.1)] = True
    trace = (addrs, core, writes, nbytes)
    rep, state = simulate(levels, 2, *trace)
    ref, ref_state = simulate(levels, 2, *trace, line_stream=False)
    assert rep.to_dict() == ref.to_dict()
    assert_same_state(state, ref_state)
    assert_same(rep, ModelHierarchy(levels, 2).run(*trace))
