"""The line-stream path (smartmem_sim/memsim/_kernels_lines.py) against the general path and the Python model: same
reports (fast hits included) and the same state (tags, recency orders, clocks, last lines), for chunks of
plain loads, whole runs of consecutive lines, one value for every row, and traces that switch paths."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from smartmem_sim.memsim import _kernels_lines as KL
from smartmem_sim.memsim import _kernels_lines_level as KLL
from smartmem_sim.memsim import hierarchy as H
from smartmem_sim.memsim._kernels_state import Levels
from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy
from tests.memsim.cache_model import ModelHierarchy
from tests.memsim.test_hierarchy import assert_same


def simulate(levels, addrs, core, writes, nbytes, line_stream=True):
    """(report, state arrays but ``valid``) of one simulation, by the line-stream path where it
    applies or (line_stream=False) by the general path alone."""
    h = Hierarchy([CacheLevel(**lv) for lv in levels])
    if not line_stream:
        h._line_stream = lambda: False  # this hierarchy only
    else:
        assert h._line_stream()
    rep = h.simulate_resolved(addrs, core, writes, nbytes)
    st = h._workspace.state
    # an unsectored level's valid masks are never read, and this path does not write them
    state = {name: arr.copy() for name, arr in zip(st.names, st.arrays(), strict=True) if name != "valid"}
    return rep, state


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def same_as_the_general_path(simulate, *args, int32_too=False):
    """The report of simulate(*args) (the line-stream path), checked against simulate(*args,
    line_stream=False) (the general path alone): the same report and the same state. With ``int32_too``,
    both paths again with the address array (the first int64 array among args) as int32: the same
    again (the kernels are compiled for each address width)."""
    rep, state = simulate(*args)
    ref, ref_state = simulate(*args, line_stream=False)
    assert rep.to_dict() == ref.to_dict()
    assert_same_state(state, ref_state)
    if int32_too:
        at = next(i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype == np.int64)
        narrow = list(args)
        narrow[at] = args[at].astype(np.int32)
        assert np.array_equal(narrow[at], args[at])
        for line_stream in (True, False):
            rep32, state32 = simulate(*narrow, line_stream=line_stream)
            assert rep32.to_dict() == ref.to_dict()
            assert_same_state(state32, ref_state)
    return rep


def random_levels(rng):
    levels = []
    line = int(rng.choice([16, 32, 64]))
    for i in range(int(rng.integers(1, 4))):
        line *= int(rng.choice([1, 1, 2]))
        ways = int(rng.choice([1, 2, 3, 4, 5, 8, 12, 16]))
        sets = int(rng.choice([1, 2, 4, 16, 64]))
        levels.append({"name": f"L{i + 1}", "size": sets * ways * line, "ways": ways, "line": line,
                       "write": str(rng.choice(["read-only", "write-back", "write-through"])),
                       "write_allocate": bool(rng.random() < 0.7)})
    return levels


def mixed_trace(rng, n, texel=8, store_share=0.0, cross_share=0.0):
    """Pieces of the patterns the path treats differently: streams of consecutive texels (whole runs),
    texel rows revisited (hits), random texels, repeats of one texel; some rows crossing lines, some
    stores."""
    parts = []
    while sum(p.size for p in parts) < n:
        kind = rng.integers(0, 4)
        size = int(rng.integers(1, 3000))
        base = int(rng.integers(0, 1 << 16)) * texel
        if kind == 0:
            parts.append(base + texel * np.arange(size))
        elif kind == 1:
            parts.append(base + texel * (np.arange(size) % int(rng.integers(1, 200))))
        elif kind == 2:
            parts.append(texel * rng.integers(0, 1 << 14, size))
        else:
            parts.append(np.full(size, base))
    addrs = np.concatenate(parts)[:n].astype(np.int64)
    nbytes = np.full(n, texel, np.int32)
    crossing = rng.random(n) < cross_share
    nbytes[crossing] = 3 * texel + 5
    return addrs, np.zeros(n, np.int32), rng.random(n) < store_share, nbytes


@settings(max_examples=25, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1), store_share=hs.sampled_from([0.0, 0.0, 0.001, 0.05]),
       cross_share=hs.sampled_from([0.0, 0.0, 0.0005, 0.05]))
def test_random_hierarchies_same_as_the_general_path_and_the_model(seed, store_share, cross_share):
    rng = np.random.default_rng(seed)
    levels = random_levels(rng)
    trace = mixed_trace(rng, int(rng.integers(1, 20000)), store_share=store_share, cross_share=cross_share)
    rep = same_as_the_general_path(simulate, levels, *trace, int32_too=True)
    assert_same(rep, ModelHierarchy(levels, 1).run(*trace))


@pytest.mark.parametrize("chunk_rows", [16, 21, 4096])
def test_long_runs_of_consecutive_lines_fill_like_one_miss_after_another(chunk_rows, monkeypatch):
    """A stream longer than every level (sets x ways lines) goes whole; then streams over lines still
    held (present in L1, in L3 only: line by line), a stream below the lines held (not above the
    levels' tops: line by line), one that starts on the line before (a fast hit first). Every chunk
    size, every seam."""
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", chunk_rows)
    levels = [{"name": "L1", "size": 4 * 4 * 64, "ways": 4, "line": 64},
              {"name": "L2", "size": 16 * 8 * 128, "ways": 8, "line": 128},
              {"name": "L3", "size": 64 * 12 * 128, "ways": 12, "line": 128}]
    stream = 8 * np.arange(30000)
    addrs = np.concatenate([stream + (1 << 20), stream[29900:] + (1 << 20), stream[25000:26000] + (1 << 20),
                            stream[:9000], stream[8993:20000]])
    n = addrs.size
    trace = (addrs, np.zeros(n, np.int32), np.zeros(n, bool), np.full(n, 8, np.int32))
    rep = same_as_the_general_path(simulate, levels, *trace)
    assert_same(rep, ModelHierarchy(levels, 1).run(*trace))
    assert rep.levels[1].fast_hits > 0 and rep.levels[0].hits > rep.levels[0].fast_hits
    assert rep.levels[2].hits > rep.levels[2].fast_hits


def _levels(tags, plru):
    """A state of one level around tags and plru (the line-stream level loops read no other array)."""
    z = np.zeros((1, 1), np.int64)
    return Levels(cfg=z, tags=tags, stamp=tags, valid=plru, dirty=plru, plru=plru, meta=z, umeta=plru.reshape(1, -1),
                  stats=z, dram=z)


def test_a_run_fill_is_the_one_by_one_fill():
    """_fill_new_run against filling the same new lines as misses one by one (the loop of the path)."""
    rng = np.random.default_rng(4)
    for ways in (1, 2, 3, 4, 7, 8, 16):
        for sets in (1, 2, 8):
            set_mask = sets - 1
            start_order = np.uint64(sum((ways - 1 - i) << (4 * i) for i in range(ways)))
            for count in (1, sets * ways - 1, sets * ways, 3 * sets * ways + 5):
                tags = np.full(sets * ways, -1, np.int64)
                plru = np.full(sets, start_order, np.uint64)
                old = rng.choice(1000, min(sets * ways, 40), replace=False)  # lines below the run
                lines = np.ascontiguousarray(old, np.int64)
                out = np.empty(lines.size + count, np.int64)
                fp = np.zeros(2 * sets, np.uint64), np.zeros(sets, np.int64), np.int64(1)  # fingerprints, epochs, now
                at = (np.int64(0), np.int64(0), np.int64(set_mask))  # the level copy's tag base, set base, set mask
                start_line = (np.int64(-1), np.int64(-1))  # last line, top
                KLL._level(_levels(tags, plru), at, np.int64(ways), lines, np.int64(lines.size), np.int64(0),
                           start_line, out, False, fp)
                a_tags, a_plru = tags.copy(), plru.copy()
                start = 1000 + int(rng.integers(0, 50))
                KLL._fill_new_run(_levels(a_tags, a_plru), at, np.int64(ways), np.int64(start), np.int64(count),
                                  np.zeros(sets, np.int64))
                run = np.arange(start, start + count, dtype=np.int64)
                KLL._level(_levels(tags, plru), at, np.int64(ways), run, np.int64(count), np.int64(0), start_line, out,
                           False, fp)
                np.testing.assert_array_equal(a_tags, tags, err_msg=f"ways {ways} sets {sets} count {count}")
                np.testing.assert_array_equal(a_plru, plru, err_msg=f"ways {ways} sets {sets} count {count}")


def test_one_value_for_every_row_is_the_same_as_columns(monkeypatch):
    levels = [{"name": "L1", "size": 2048, "ways": 4, "line": 64, "write": "read-only", "write_allocate": False},
              {"name": "L2", "size": 32768, "ways": 16, "line": 64}]
    rng = np.random.default_rng(9)
    addrs, core, writes, _ = mixed_trace(rng, 30000)
    h = Hierarchy([CacheLevel(**lv) for lv in levels])
    for size in (8, 12):  # 12 B from a texel at byte 56 of a line crosses it: those chunks go the general way
        nbytes = np.full(addrs.size, size, np.int32)
        columns = h.simulate_resolved(addrs, core, writes, nbytes)
        assert h.simulate_resolved(addrs, 0, False, size).to_dict() == columns.to_dict()
        monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 100)  # chunks of both kinds, one after another
        assert h.simulate_resolved(addrs, np.int64(0), np.bool_(False), np.int32(size)).to_dict() == columns.to_dict()
        monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 4096)
    # a store for every row, or several cores: the general path, with the scalars spelled out
    eight = np.full(addrs.size, 8, np.int32)
    stores = h.simulate_resolved(addrs, 0, True, 8)
    assert stores.to_dict() == h.simulate_resolved(addrs, core, np.ones(addrs.size, bool), eight).to_dict()
    multi = Hierarchy([CacheLevel(**(lv | {"per_core": i == 0})) for i, lv in enumerate(levels)], cores=2)
    assert (multi.simulate_resolved(addrs, 1, False, 8).to_dict()
            == multi.simulate_resolved(addrs, np.ones(addrs.size, np.int32), writes, eight).to_dict())


def test_bad_rows_name_the_row_with_one_value_columns_too(monkeypatch):
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 64)
    h = Hierarchy([CacheLevel(name="L1", size=1024, ways=2, line=64)], cores=1, name="one")
    addrs = 8 * np.arange(1000)
    addrs[700] = -8
    with pytest.raises(MemsimError, match="row 700 has -8"):
        h.simulate_resolved(addrs, 0, False, 8)
    with pytest.raises(MemsimError, match="row 700 has -8"):
        h.simulate_resolved(addrs, np.zeros(1000, np.int32), np.zeros(1000, bool), np.full(1000, 8))
    with pytest.raises(MemsimError, match="every row has core 3, but the hierarchy 'one' has cores 0..0"):
        h.simulate_resolved(8 * np.arange(10), 3, False, 8)
    with pytest.raises(MemsimError, match="column 'nbytes' has values in \\[0, 0\\]"):
        h.simulate_resolved(8 * np.arange(10), 0, False, 0)
    with pytest.raises(MemsimError, match="column 'write' must be 1-D or one value"):
        h.simulate_resolved(8 * np.arange(10), 0, np.zeros((2, 5), bool), 8)
    # a row longer than the buffers hold, by one value for every row: the buffers grow
    long = h.simulate_resolved(64 * np.arange(50), 0, False, 64 * 300)
    assert long.to_dict() == h.simulate_resolved(64 * np.arange(50), np.zeros(50, np.int32), np.zeros(50, bool),
                                                 np.full(50, 64 * 300)).to_dict()


def test_after_a_store_no_chunk_takes_the_line_path(monkeypatch):
    """A store makes a line dirty, whose eviction must send a write-back: from the first chunk with a store
    on, every chunk goes the general way, and the write-backs are the model's."""
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 256)
    levels = [{"name": "L1", "size": 1024, "ways": 4, "line": 64, "write": "write-back"},
              {"name": "L2", "size": 4096, "ways": 8, "line": 64, "write": "write-back"}]
    n = 20000
    addrs = (8 * np.arange(n)) % (1 << 15)
    writes = np.zeros(n, bool)
    writes[3000] = True
    trace = (addrs, np.zeros(n, np.int32), writes, np.full(n, 8, np.int32))
    rep, _ = simulate(levels, *trace)
    assert_same(rep, ModelHierarchy(levels, 1).run(*trace))
    assert rep.levels[0].writebacks == 1 and rep.levels[1].writebacks == 1


@pytest.mark.parametrize("ways", [8, 16])
def test_fingerprints_follow_tags_changed_elsewhere(ways, monkeypatch):
    """8- and 16-way levels find lines by tag fingerprints, rebuilt per set when the tags changed without
    them: by chunks that went the general way (rows crossing lines between chunks of plain loads over
    the same lines) and by whole runs filled in closed form (a stream over sets already looked at, then
    its last lines again)."""
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 64)
    levels = [{"name": "L1", "size": 4 * ways * 64, "ways": ways, "line": 64},
              {"name": "L2", "size": 16 * ways * 64, "ways": ways, "line": 64}]
    rng = np.random.default_rng(ways)
    n = 64 * 60
    addrs = 64 * rng.integers(0, 6 * ways, n) + 8 * rng.integers(0, 8, n)
    nbytes = np.full(n, 8, np.int32)
    crossing = (np.arange(n) // 64) % 3 == 1  # every third chunk has rows crossing a line
    nbytes[crossing & (rng.random(n) < 0.2)] = 100
    stream = (1 << 20) + 8 * np.arange(64 * 40)
    addrs = np.concatenate([addrs, stream, stream[-64 * 3:], addrs[:640]])
    nbytes = np.concatenate([nbytes, np.full(stream.size + 64 * 3 + 640, 8, np.int32)])
    trace = (addrs, np.zeros(addrs.size, np.int32), np.zeros(addrs.size, bool), nbytes)
    rep = same_as_the_general_path(simulate, levels, *trace)
    assert_same(rep, ModelHierarchy(levels, 1).run(*trace))


@pytest.mark.parametrize("ways", [(4, 8), (4, 16), (8, 16), (16, 16)])
@pytest.mark.parametrize("chunk_rows", [16, 21, 4096])
def test_two_levels_in_one_pass_same_as_the_general_path(ways, chunk_rows, monkeypatch):
    """Two-level hierarchies of the usual associativities take chunks whose heads jump in one pass down
    both levels (_fused_chunk): with columns, with one value for every row, with rows crossing lines
    (the pass stops before their block) and stores (the general path from there)."""
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", chunk_rows)
    w1, w2 = ways
    levels = [{"name": "L1", "size": 8 * w1 * 64, "ways": w1, "line": 64, "write": "read-only",
               "write_allocate": False},
              {"name": "L2", "size": 32 * w2 * 128, "ways": w2, "line": 128}]
    assert KL.fused_shape(Hierarchy([CacheLevel(**lv) for lv in levels])._take_workspace().state.cfg) >= 0
    rng = np.random.default_rng(w1 * 100 + w2)
    for cross, stores in ((0.0, 0.0), (0.001, 0.0), (0.0, 0.0005)):
        trace = mixed_trace(rng, 30000, store_share=stores, cross_share=cross)
        rep = same_as_the_general_path(simulate, levels, *trace, int32_too=True)
        if stores == 0:
            one = 8 if cross == 0 else 12  # 12 B from byte 56 of a line crosses it
            t1 = (trace[0], 0, False, one)
            same_as_the_general_path(simulate, levels, *t1, int32_too=True)
        assert_same(rep, ModelHierarchy(levels, 1).run(*trace))


def test_a_run_after_a_one_pass_chunk_sees_the_lines_it_filled(monkeypatch):
    """The one-pass chunk keeps each level's top (the highest line it holds): a run that starts just
    above L1's top but on an L2 line the pass filled must go line by line at L2 (a hit), not in closed
    form."""
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 256)
    levels = [{"name": "L1", "size": 2048, "ways": 4, "line": 64}, {"name": "L2", "size": 65536, "ways": 16, "line": 128}]
    rng = np.random.default_rng(5)
    x = 10_000  # an L2 line; L1 lines 2x and 2x + 1 lie on it
    low = 64 * rng.integers(0, 500, 256)  # chunk 0 (cut first): heads jump, so chunk 1 takes the one pass
    mixed = 64 * rng.integers(0, 500, 256)
    mixed[100] = 64 * 2 * x  # chunk 1: L2 line x filled, and L1 line 2x, the highest L1 line so far
    stream = 64 * 600 + 8 * np.arange(256)  # chunk 2: one pass again, whose heads are one run, so ...
    run = 64 * (2 * x + 1) + 8 * np.arange(256)  # chunk 3 is cut first: a run from L1 line 2x + 1, above L1's top
    addrs = np.concatenate([low, mixed, stream, run])
    trace = (addrs, 0, False, 8)
    rep = same_as_the_general_path(simulate, levels, *trace)
    assert rep.levels[1].hits >= 1


def test_a_reused_hierarchy_counts_as_a_fresh_one_after_stores(monkeypatch):
    """A simulation with stores leaves dirty masks; the next one's line path fills ways without writing
    them, so the hierarchy must empty them between simulations, or a later store chunk's evictions send
    write-backs of lines nobody wrote."""
    monkeypatch.setattr(H, "SERIAL_CHUNK_ROWS", 256)
    levels = [CacheLevel(name="L1", size=1024, ways=4, line=64), CacheLevel(name="L2", size=4096, ways=8, line=64)]
    rng = np.random.default_rng(2)
    dirtying = (64 * rng.integers(0, 1024, 5000), 0, True, 8)
    n = 6000
    addrs = np.concatenate([64 * rng.integers(0, 1024, n // 2), 64 * rng.integers(0, 1024, n // 2)])
    writes = np.zeros(n, bool)
    writes[n // 2:] = rng.random(n // 2) < 0.3  # loads first (the line path), then stores among loads
    trace = (addrs, np.zeros(n, np.int32), writes, np.full(n, 8, np.int32))
    reused = Hierarchy(levels)
    reused.simulate_resolved(*dirtying)
    assert reused.simulate_resolved(*trace).to_dict() == Hierarchy(levels).simulate_resolved(*trace).to_dict()
