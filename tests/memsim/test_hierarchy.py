"""Hierarchy: per-core L1s + shared levels against the Python model; order, chunking and threads change
nothing; bad traces are MemsimErrors; invariants as hypothesis properties."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from smartmem_sim.memsim import hierarchy as H
from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.trace import Trace
from tests.memsim.cache_model import ModelHierarchy

LEVELS = [
    {"name": "L1", "size": 1024, "ways": 4, "line": 64, "sector": 32, "per_core": True, "write": "read-only",
     "write_allocate": False},
    {"name": "L2", "size": 8192, "ways": 8, "line": 64, "sector": 32, "policy": "plru"},
    {"name": "SLC", "size": 32768, "ways": 4, "line": 128, "policy": "fifo", "write": "write-back"},
]


def run_both(levels, cores, addrs, core, writes, nbytes):
    h = Hierarchy([CacheLevel(**lv) for lv in levels], cores=cores)
    rep = h.simulate_resolved(addrs, core, writes, nbytes)
    model = ModelHierarchy(levels, cores).run(addrs, core, writes, nbytes)
    return rep, model


def assert_same(rep, model):
    for k, st in enumerate(rep.levels):
        ref = model.level_totals(k)
        assert {key: getattr(st, key) for key in ref} == ref, st.name
    assert (rep.dram_bytes_read, rep.dram_bytes_written, rep.dram_requests) == (
        model.dram_read, model.dram_written, model.dram_requests)


def texture_like_trace(rng, n, cores):
    """Cores walk 2-D tiles of an 8-B-texel image (rows of 64 texels) with reuse, some stores, a few
    long buffer accesses crossing lines."""
    x = rng.integers(0, 64, n)
    y = rng.integers(0, 48, n)
    core = (y // 8 + x // 16) % cores
    addrs = (y * 64 + x) * 8
    nbytes = np.full(n, 8)
    writes = rng.random(n) < 0.1
    long = rng.random(n) < 0.02
    nbytes[long] = rng.integers(9, 300, long.sum())
    return addrs, core.astype(np.int32), writes, nbytes.astype(np.int32)


@pytest.mark.parametrize("cores", [1, 3, 4])
def test_multicore_hierarchy_matches_the_model(cores):
    rng = np.random.default_rng(cores)
    addrs, core, writes, nbytes = texture_like_trace(rng, 6000, cores)
    rep, model = run_both(LEVELS, cores, addrs, core, writes, nbytes)
    assert_same(rep, model)
    assert rep.levels[0].copies == cores
    assert rep.levels[0].fast_hits > 0 and rep.levels[0].sector_misses > 0


@pytest.mark.parametrize("write", ["write-back", "write-through"])
def test_writable_per_core_levels_match_the_model(write):
    rng = np.random.default_rng(7)
    levels = [
        {"name": "L1", "size": 512, "ways": 2, "line": 32, "per_core": True, "write": write, "policy": "random",
         "seed": 3},
        {"name": "L2", "size": 1024, "ways": 2, "line": 64, "per_core": True, "sector": 32},
        {"name": "L3", "size": 8192, "ways": 4, "line": 64},
    ]
    n = 5000
    addrs = rng.integers(0, 4096, n)
    core = rng.integers(0, 2, n).astype(np.int32)
    rep, model = run_both(levels, 2, addrs, core, rng.random(n) < 0.3, rng.integers(1, 80, n).astype(np.int32))
    assert_same(rep, model)


def test_chunks_and_thread_counts_change_nothing(monkeypatch):
    rng = np.random.default_rng(3)
    addrs, core, writes, nbytes = texture_like_trace(rng, 20000, 4)
    h = Hierarchy([CacheLevel(**lv) for lv in LEVELS], cores=4)
    whole = h.simulate_resolved(addrs, core, writes, nbytes).to_dict()
    monkeypatch.setattr(H, "CHUNK_REQUESTS", 2048)
    chunked = h.simulate_resolved(addrs, core, writes, nbytes).to_dict()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = h.simulate_resolved(addrs, core, writes, nbytes).to_dict()
    finally:
        numba.set_num_threads(before)
    assert whole == chunked == one_thread


def test_simulate_resolves_the_trace_through_the_surface_table():
    surfaces = pytest.importorskip("smartmem_sim.memsim.surfaces")
    table = surfaces.SurfaceTable([surfaces.Image2D(64, 32, "fp16"), surfaces.Buffer(4096)],
                                  surfaces.ImageLayout("tiled", tile_width=8, tile_height=4))
    y, x = np.divmod(np.arange(64 * 32), 64)
    trace = Trace.from_columns(core=x // 32, surface=0, x=x, y=y, write=False, nbytes=8)
    h = Hierarchy([CacheLevel(**lv) for lv in LEVELS], cores=2)
    rep = h.simulate(trace, table)  # (int32 addresses: the table ends below 2 GiB)
    direct = h.simulate_resolved(table.resolve(trace), trace.core, trace.write, trace.nbytes)
    assert rep.to_dict() == direct.to_dict()
    assert rep.levels[0].accesses == len(trace)
    # every 32 B sector holds 4 fp16 texels of one tile row; a row-wise walk misses once per sector
    assert rep.levels[0].misses == len(trace) // 4


def test_bad_traces_are_memsim_errors():
    h = Hierarchy([CacheLevel(**lv) for lv in LEVELS], cores=2, name="dev")
    with pytest.raises(MemsimError, match="core.*row 2 has core 2.*0..1"):
        h.simulate_resolved(np.arange(4) * 8, np.array([0, 1, 2, 0]), np.zeros(4, bool), np.full(4, 8))
    bad = Trace(core=np.zeros(2, np.int32), surface=np.zeros(2, np.int32), x=np.zeros(2), y=np.zeros(2, np.int64),
                write=np.zeros(2, bool), nbytes=np.full(2, 8, np.int32))
    with pytest.raises(MemsimError, match="column 'x' has dtype float64"):
        h.simulate(bad, None)
    with pytest.raises(MemsimError, match="column 'nbytes' has values in \\[0, 8\\]; allowed 1"):
        h.simulate_resolved(np.arange(2), np.zeros(2, int), np.zeros(2, bool), np.array([8, 0]))
    with pytest.raises(MemsimError, match="column 'core' must be integers, got dtype float64"):
        h.simulate_resolved(np.arange(2), np.zeros(2), np.zeros(2, bool), np.full(2, 8))
    with pytest.raises(MemsimError, match="column 'core' has values in \\[0, 4294967296\\]"):
        h.simulate_resolved(np.arange(2), np.array([0, 2**32]), np.zeros(2, bool), np.full(2, 8))


def test_bad_hierarchies_are_memsim_errors():
    l1 = CacheLevel(name="L1", size=1024, ways=2, line=64, per_core=True)
    l2 = CacheLevel(name="L2", size=4096, ways=2, line=32)
    with pytest.raises(MemsimError, match="'L2': line \\(32 B\\) is smaller"):
        Hierarchy([l1, l2])
    with pytest.raises(MemsimError, match="per_core but comes after a shared level"):
        Hierarchy([CacheLevel(name="L2", size=4096, ways=2, line=64), l1])
    with pytest.raises(MemsimError, match="unique"):
        Hierarchy([l1, l1])
    with pytest.raises(MemsimError, match="cores"):
        Hierarchy([l1], cores=0)


@settings(max_examples=40, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1), ways=hs.sampled_from([1, 2, 4, 8]), sets=hs.sampled_from([1, 2, 8]),
       cores=hs.integers(1, 3), store_share=hs.sampled_from([0.0, 0.3]))
def test_counting_invariants(seed, ways, sets, cores, store_share):
    rng = np.random.default_rng(seed)
    n = 800
    levels = [CacheLevel(name="L1", size=sets * ways * 32, ways=ways, line=32, sector=16, per_core=True),
              CacheLevel(name="L2", size=4 * sets * ways * 64, ways=ways, line=64)]
    rep = Hierarchy(levels, cores=cores).simulate_resolved(
        rng.integers(0, 1 << 12, n), rng.integers(0, cores, n), rng.random(n) < store_share,
        rng.integers(1, 17, n))
    for st in rep.levels:
        assert st.hits + st.misses == st.accesses
        assert 0 <= st.sector_misses <= st.misses and st.fast_hits <= st.hits
    if store_share == 0:
        # loads only: each miss is exactly one request below, and DRAM reads what the last level filled
        assert rep.levels[0].misses == rep.levels[1].accesses
        assert rep.levels[1].misses == rep.dram_requests
        assert rep.dram_bytes_read == rep.levels[1].bytes_filled and rep.dram_bytes_written == 0


@settings(max_examples=30, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1), ways=hs.integers(1, 12), extra=hs.integers(1, 8))
def test_lru_inclusion_property_fully_associative(seed, ways, extra):
    """A fully associative LRU cache with more ways never misses more (LRU is a stack algorithm)."""
    rng = np.random.default_rng(seed)
    addrs = (rng.zipf(1.3, 1500) % 200) * 64
    zeros = np.zeros(addrs.shape[0], np.int32)

    def misses(w):
        h = Hierarchy([CacheLevel(name="L1", size=w * 64, ways=w, line=64)])
        return h.simulate_resolved(addrs, zeros, zeros.astype(bool), zeros + 4).levels[0].misses

    assert misses(ways + extra) <= misses(ways)


@pytest.mark.parametrize("l2_policy, expect_bits", [("lru", 3), ("fifo", 3), ("random", 0)])
def test_set_partitioned_shared_levels_match_the_model(l2_policy, expect_bits):
    """Multi-core runs split the shared levels into set partitions simulated in parallel; counts must be
    those of the one-request-at-a-time model (random replacement is never split)."""
    levels = [
        {"name": "L1", "size": 512, "ways": 2, "line": 32, "per_core": True, "write": "read-only",
         "write_allocate": False},
        {"name": "L2", "size": 4096, "ways": 4, "line": 64, "policy": l2_policy}
        | ({"seed": 5} if l2_policy == "random" else {}),
        {"name": "SLC", "size": 16384, "ways": 2, "line": 128, "write": "write-back"},
    ]
    h = Hierarchy([CacheLevel(**lv) for lv in levels], cores=3)
    # partition bits start above the largest shared line (7) and stay inside every shared level's set
    # index: L2 has 16 sets (bits 6..9), SLC 64 (bits 7..12) -> bits 7..9
    assert h.partitioning() == ((7, expect_bits) if expect_bits else (0, 0))
    rng = np.random.default_rng(11)
    addrs, core, writes, nbytes = texture_like_trace(rng, 8000, 3)
    rep, model = run_both(levels, 3, addrs, core, writes, nbytes)
    assert_same(rep, model)


def test_single_stream_path_handles_rows_longer_than_its_buffers(monkeypatch):
    """One core: rows crossing thousands of lines, with chunks so small that one row needs more room
    than a chunk's buffer holds (the buffer grows), give the model's counts."""
    monkeypatch.setattr(H, "CHUNK_REQUESTS", 2048)
    levels = [{"name": "L1", "size": 1024, "ways": 2, "line": 64, "sector": 16},
              {"name": "L2", "size": 8192, "ways": 4, "line": 64}]
    rng = np.random.default_rng(2)
    n = 3000
    addrs = rng.integers(0, 1 << 16, n)
    nbytes = rng.integers(1, 24, n)
    nbytes[[5, 1700, 2999]] = [100_000, 70_000, 3 * 64]
    rep, model = run_both(levels, 1, addrs, np.zeros(n, np.int32), rng.random(n) < 0.2, nbytes.astype(np.int32))
    assert_same(rep, model)


def test_bad_rows_are_found_by_the_single_stream_path_too():
    h = Hierarchy([CacheLevel(name="L1", size=1024, ways=2, line=64)], cores=1, name="one")
    ok = np.full(4, 8, np.int32)
    with pytest.raises(MemsimError, match="addresses must be >= 0 and below 2\\*\\*62; row 2"):
        h.simulate_resolved(np.array([0, 8, -8, 16]), np.zeros(4, np.int32), np.zeros(4, bool), ok)
    with pytest.raises(MemsimError, match="addresses must be >= 0 and below 2\\*\\*62; row 2 has -8"):
        h.simulate_resolved(np.array([0, 8, -8, 16], np.int32), 0, False, 8)
    with pytest.raises(MemsimError, match="nbytes must be positive; row 1 has 0"):
        h.simulate_resolved(np.arange(4) * 8, np.zeros(4, np.int32), np.zeros(4, bool),
                            np.array([8, 0, 8, 8], np.int32))
    with pytest.raises(MemsimError, match="row 3 has core 1, but the hierarchy 'one' has cores 0..0"):
        h.simulate_resolved(np.arange(4) * 8, np.array([0, 0, 0, 1], np.int32), np.zeros(4, bool), ok)


@settings(max_examples=12, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1))
def test_random_hierarchies_match_the_model(seed):
    """Random levels (policies, write modes, sectors, per-core or shared, 1-4 cores) and traces (stores,
    rows crossing lines, cores interleaved row by row or in runs): the engine's fast paths, set partitions
    and chunking must give the model's counts."""
    rng = np.random.default_rng(seed)
    cores = int(rng.integers(1, 5))
    nper = int(rng.integers(0, 3)) if cores > 1 else 0
    line = int(rng.choice([16, 32, 64]))
    levels = []
    for i in range(nper + int(rng.integers(0 if nper else 1, 3))):
        line *= int(rng.choice([1, 2]))
        ways = int(rng.choice([1, 2, 4, 8]))
        policy = str(rng.choice(["lru", "fifo", "plru", "random"]))
        levels.append({"name": f"L{i + 1}", "size": int(rng.choice([1, 2, 4, 16])) * ways * line, "ways": ways,
                       "line": line, "sector": line // int(rng.choice([1, 2, 4])), "policy": policy,
                       "per_core": i < nper, "write": str(rng.choice(["read-only", "write-back", "write-through"])),
                       "write_allocate": bool(rng.random() < 0.7)} | ({"seed": 3} if policy == "random" else {}))
    n = 1200
    core = rng.integers(0, cores, n) if rng.random() < 0.5 else np.arange(n) // int(rng.integers(1, 200)) % cores
    rep, model = run_both(levels, cores, rng.integers(0, 1 << int(rng.integers(8, 14)), n), core.astype(np.int32),
                          rng.random(n) < float(rng.choice([0, 0.1, 0.5])),
                          rng.integers(1, int(rng.choice([8, 64, 300])), n).astype(np.int32))
    assert_same(rep, model)


UNSECTORED_LRU = [
    {"name": "L1", "size": 1024, "ways": 4, "line": 64, "per_core": True, "write": "read-only",
     "write_allocate": False},
    {"name": "L2", "size": 4096, "ways": 8, "line": 64, "write": "write-back"},
    {"name": "SLC", "size": 16384, "ways": 16, "line": 128, "write": "write-through"},
]


@pytest.mark.parametrize("cores", [1, 3])
@pytest.mark.parametrize("store_share", [0.0, 0.15])
def test_unsectored_lru_levels_match_the_model(cores, store_share):
    """Unsectored LRU levels of at most 16 ways take the engine's lean load kernel (_lean_lru_loads) at
    every level, per-core and shared, with stores, write-backs and rows crossing lines handed back to the
    general path in between: the model's counts, and run-length hits that the kernel counted."""
    rng = np.random.default_rng(11 + cores)
    addrs, core, _, nbytes = texture_like_trace(rng, 8000, cores)
    addrs = addrs + 4096 * rng.integers(0, 4, addrs.size)  # more lines than the levels hold: evictions
    writes = rng.random(addrs.size) < store_share
    rep, model = run_both(UNSECTORED_LRU, cores, addrs, core, writes, nbytes)
    assert_same(rep, model)
    assert rep.levels[0].fast_hits > 0 and rep.levels[0].misses > 0
    if store_share:
        assert rep.levels[1].writebacks > 0


@settings(max_examples=25, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1))
def test_stores_in_the_lean_lru_kernel_match_the_model(seed):
    """_lean_lru_loads takes the stores of read-only and write-back unsectored LRU levels itself (bypass and
    invalidation, hits that dirty a line, write-allocate fills with write-backs, no-allocate forwards, the
    run-length hit on a dirty line): every write mode and allocation, 1-16 ways, 1-4 cores, stores
    interleaved with loads as the compiler's traces have them; the model's counts."""
    rng = np.random.default_rng(seed)
    cores = int(rng.integers(1, 5))
    nper = int(rng.integers(0, 2)) if cores > 1 else 0
    line = int(rng.choice([32, 64]))
    levels = []
    for i in range(nper + int(rng.integers(1, 3))):
        line *= int(rng.choice([1, 2]))
        ways = int(rng.choice([1, 2, 4, 8, 16]))
        levels.append({"name": f"L{i + 1}", "size": int(rng.choice([1, 4, 16])) * ways * line, "ways": ways,
                       "line": line, "per_core": i < nper,
                       "write": str(rng.choice(["read-only", "write-back", "write-back", "write-through"])),
                       "write_allocate": bool(rng.random() < 0.7)})
    n = 3000
    addrs, core, _, nbytes = texture_like_trace(rng, n, cores)
    addrs = addrs % (1 << int(rng.integers(10, 16)))
    writes = rng.random(n) < float(rng.choice([0.05, 0.2, 0.5]))
    if rng.random() < 0.5:  # runs of stores to one line: the run-length hit on a dirty line
        writes = np.repeat(writes[: n // 4 + 1], 4)[:n]
    rep, model = run_both(levels, cores, addrs, core, writes, nbytes)
    assert_same(rep, model)


def test_single_stream_chunk_size_changes_nothing(monkeypatch):
    """The single-stream path takes rows in chunks of SERIAL_CHUNK_ROWS through all levels; tiny chunks
    (state carried across 500 boundaries) give the same report as one chunk."""
    rng = np.random.default_rng(5)
    addrs, core, writes, nbytes = texture_like_trace(rng, 8000, 1)
    h = Hierarchy([CacheLevel(**lv) for lv in UNSECTORED_LRU], cores=1)
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 16)
    tiny = h.simulate_resolved(addrs, core, writes, nbytes).to_dict()
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 1 << 20)
    whole = h.simulate_resolved(addrs, core, writes, nbytes).to_dict()
    assert tiny == whole


REUSE_LEVELS = [
    {"name": "L1", "size": 2048, "ways": 4, "line": 64, "per_core": True, "write": "write-back"},
    {"name": "L2", "size": 4 * 32 * 64, "ways": 32, "line": 64, "sector": 32},  # LRU with stamps (> 16 ways)
    {"name": "L3", "size": 8192, "ways": 4, "line": 128, "policy": "fifo"},
    {"name": "L4", "size": 4096, "ways": 8, "line": 128, "policy": "random", "seed": 3},  # all smaller than the trace
]


@pytest.mark.parametrize("cores", [1, 3])
def test_a_reused_hierarchy_starts_every_simulation_empty(cores):
    """A hierarchy keeps its state arrays between calls and empties them (tags, orders, stamps, clocks,
    counters, random state); after a run that filled and dirtied every level, and after a run stopped by
    a bad row, the next report is the fresh hierarchy's and the model's."""
    rng = np.random.default_rng(11 + cores)
    first = texture_like_trace(rng, 5000, cores)
    second = texture_like_trace(rng, 4000, cores)
    levels = [CacheLevel(**lv) for lv in REUSE_LEVELS]
    for lv in ([*levels[:1], levels[1]], levels):
        fresh = Hierarchy(lv, cores=cores).simulate_resolved(*second).to_dict()
        h = Hierarchy(lv, cores=cores)
        h.simulate_resolved(*first)
        assert h.simulate_resolved(*second).to_dict() == fresh
        bad_nbytes = first[3].copy()
        bad_nbytes[3000] = 0
        with pytest.raises(MemsimError, match="row 3000"):
            h.simulate_resolved(first[0], first[1], first[2], bad_nbytes)
        assert h.simulate_resolved(*second).to_dict() == fresh
    rep, model = run_both(REUSE_LEVELS, cores, *second)
    assert_same(rep, model)


def test_a_hierarchy_pickles_without_its_workspace():
    import pickle

    rng = np.random.default_rng(2)
    trace = texture_like_trace(rng, 3000, 2)
    h = Hierarchy([CacheLevel(**lv) for lv in LEVELS], cores=2)
    before = h.simulate_resolved(*trace).to_dict()
    copy = pickle.loads(pickle.dumps(h))
    assert copy.simulate_resolved(*trace).to_dict() == before == h.simulate_resolved(*trace).to_dict()
