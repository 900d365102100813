"""Per-row outcomes and per-texel heat maps: their sums are memsim's own level counts for the same trace
(default path), each row's counts equal those of plain Python reference caches fed the same rows one at a
time, texels get their rows' counts, and reuse distances equal a brute-force count of distinct lines."""
import numpy as np
import pytest

from smartmem_sim import memsim
from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.heatmap import heatmap, row_outcomes, texel_maps
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.study import walk_trace
from tests.memsim.cache_model import ModelHierarchy
from tests.memsim.test_hierarchy import LEVELS

FIELDS = ("accesses", "hits", "misses", "sector_misses", "bytes_read", "bytes_filled", "writes", "writebacks",
          "bytes_stored", "bytes_written")


def image_trace(rng, n, cores, width=40, height=24, stores=0.1):
    """Random texel accesses with 2-D locality over two fp16 images (8 B texels), some stores."""
    surface = rng.integers(0, 2, n)
    x = np.clip((np.arange(n) // 7) % width + rng.integers(-2, 3, n), 0, width - 1)
    y = np.clip((np.arange(n) // (7 * width)) % height + rng.integers(-1, 2, n), 0, height - 1)
    return memsim.Trace.from_columns(core=(x // 8) % cores, surface=surface, x=x, y=y,
                                     write=rng.random(n) < stores, nbytes=np.full(n, 8))


def tables(layout):
    return memsim.SurfaceTable([memsim.Image2D(40, 24, "fp16", name="a"), memsim.Image2D(40, 24, "fp16", name="b")],
                               layout)


LAYOUTS = [memsim.ImageLayout("linear"), memsim.ImageLayout("tiled", 4, 2), memsim.ImageLayout("morton", 8, 8)]


@pytest.mark.parametrize("cores", [1, 3])
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.kind)
def test_rows_sum_to_the_default_path_and_match_the_reference_row_by_row(cores, layout):
    rng = np.random.default_rng(cores)
    trace = image_trace(rng, 3000, cores)
    table = tables(layout)
    h = Hierarchy([CacheLevel(**lv) for lv in LEVELS], cores=cores)  # sectors, PLRU, FIFO, stores
    want = h.simulate(trace, table)  # the default path
    got = row_outcomes(h, trace, table)
    for k, st in enumerate(want.levels):
        assert int(got.accesses[k].sum()) == st.accesses and int(got.misses[k].sum()) == st.misses, st.name
        assert int(got.sector_misses[k].sum()) == st.sector_misses
        assert {f: getattr(got.report.levels[k], f) for f in FIELDS} == {f: getattr(st, f) for f in FIELDS}
    assert (int(got.dram_bytes_read.sum()), int(got.dram_bytes_written.sum())) == (
        want.dram_bytes_read, want.dram_bytes_written)
    assert got.report.energy_pj == want.energy_pj and got.report.cycles == want.cycles
    # the reference: the pure-Python model, one row at a time, its counters read before and after
    model = ModelHierarchy(LEVELS, cores)
    addrs = table.resolve(trace)
    nlev = len(LEVELS)
    ref_acc = np.zeros((nlev, len(trace)), np.int64)
    ref_miss = np.zeros_like(ref_acc)
    for r in range(len(trace)):
        before = [model.level_totals(k) for k in range(nlev)]
        model.run(addrs[r:r + 1], trace.core[r:r + 1], trace.write[r:r + 1], trace.nbytes[r:r + 1])
        for k in range(nlev):
            after = model.level_totals(k)
            ref_acc[k, r] = after["accesses"] - before[k]["accesses"]
            ref_miss[k, r] = after["misses"] - before[k]["misses"]
    np.testing.assert_array_equal(got.accesses, ref_acc)
    np.testing.assert_array_equal(got.misses, ref_miss)
    assert got.misses.sum() > 0 and (got.misses[0] == 0).any()  # neither all hits nor all misses


class PlainLRU:
    """A set-associative LRU cache in plain Python: sets of line numbers, most recent last."""

    def __init__(self, size, ways, line):
        self.ways, self.line, self.nsets = ways, line, size // (ways * line)
        self.sets = [[] for _ in range(self.nsets)]

    def load(self, addr):
        ln = addr // self.line
        s = self.sets[ln % self.nsets]
        if ln in s:
            s.remove(ln)
            s.append(ln)
            return False
        if len(s) == self.ways:
            s.pop(0)
        s.append(ln)
        return True


def test_a_study_walk_on_a_device_profile_matches_plain_lru_caches_per_texel():
    # adreno740: per-core L1, shared L2 and SLC, all LRU, unsectored: the line-stream fast path by default
    prof = memsim.load_profile("adreno740")
    assert all(lv.policy == "lru" and lv.sector == lv.line for lv in prof.levels)
    img = memsim.Image2D(96, 64, "fp16", name="img")
    table = memsim.SurfaceTable([img], prof.image_layout)
    trace = walk_trace("column", img, prof.cores)
    h = prof.hierarchy()
    want = h.simulate(trace, table)
    rows, maps = heatmap(h, trace, table)
    (m,) = maps
    assert m.shape == (64, 96) and m.kind == "image"
    for st in want.levels:
        assert int(m.misses[st.name].sum()) == st.misses and int(m.accesses[st.name].sum()) == st.accesses
    # plain model: a row goes down while it misses (texel loads lie in one line; loads only)
    caches = [[PlainLRU(lv.size, lv.ways, lv.line) for _ in range(prof.cores if lv.per_core else 1)]
              for lv in prof.levels]
    addrs = table.resolve(trace)
    ref = {lv.name: np.zeros((64, 96), np.int64) for lv in prof.levels}
    for a, c, x, y in zip(addrs, trace.core, trace.x, trace.y, strict=True):
        for lv, copies in zip(prof.levels, caches, strict=True):
            if not copies[c if lv.per_core else 0].load(int(a)):
                break
            ref[lv.name][y, x] += 1
    for name, arr in ref.items():
        np.testing.assert_array_equal(m.misses[name], arr)
    assert rows.served.max() == len(prof.levels)  # some texels came from DRAM


def test_reuse_distance_equals_distinct_lines_between_references():
    rng = np.random.default_rng(5)
    lines = rng.integers(0, 12, 400)
    addrs = lines * 64
    h = Hierarchy([CacheLevel(name="L1", size=1024, ways=4, line=64)])
    out = row_outcomes(h, memsim.Trace.from_columns(core=0, surface=0, x=addrs, y=0, write=False, nbytes=4),
                       memsim.SurfaceTable([memsim.Buffer(12 * 64)], memsim.ImageLayout("linear")))
    for t in range(len(lines)):
        prev = np.flatnonzero(lines[:t] == lines[t])
        want = -1 if prev.size == 0 else len(set(lines[prev[-1] + 1:t].tolist()))
        assert out.reuse_distance[t] == want
        assert out.reuses[t] == (want >= 0) and out.reuse_distance_sum[t] == max(want, 0)
    # a fully associative LRU of C lines hits exactly the reuses of distance < C
    fa = Hierarchy([CacheLevel(name="L1", size=4 * 64, ways=4, line=64)])
    fo = row_outcomes(fa, memsim.Trace.from_columns(core=0, surface=0, x=addrs, y=0, write=False, nbytes=4),
                      memsim.SurfaceTable([memsim.Buffer(12 * 64)], memsim.ImageLayout("linear")))
    np.testing.assert_array_equal(fo.misses[0] == 0, (out.reuse_distance >= 0) & (out.reuse_distance < 4))


def test_texel_maps_put_each_rows_counts_on_its_texel():
    rng = np.random.default_rng(2)
    trace = image_trace(rng, 500, 2)
    table = tables(LAYOUTS[1])
    h = Hierarchy([CacheLevel(**lv) for lv in LEVELS], cores=2)
    rows = row_outcomes(h, trace, table)
    maps = {m.index: m for m in texel_maps(rows, trace, table)}
    for r in rng.choice(len(trace), 40, replace=False):
        s, x, y = int(trace.surface[r]), int(trace.x[r]), int(trace.y[r])
        same = np.flatnonzero((trace.surface == s) & (trace.x == x) & (trace.y == y))
        assert maps[s].rows[y, x] == same.size
        assert maps[s].misses["L2"][y, x] == rows.misses[1, same].sum()
    assert maps[0].writes + maps[1].writes == int(trace.write.sum())


def test_bad_rows_are_memsim_errors():
    h = Hierarchy([CacheLevel(name="L1", size=1024, ways=4, line=64, per_core=True)], cores=2)
    trace = memsim.Trace.from_columns(core=[0, 5], surface=0, x=[0, 8], y=0, write=False, nbytes=8)
    with pytest.raises(MemsimError, match="core"):
        row_outcomes(h, trace, memsim.SurfaceTable([memsim.Buffer(64)], memsim.ImageLayout("linear")))


def test_rows_match_pycachesim_row_by_row():
    cachesim = pytest.importorskip("cachesim")  # pycachesim
    l1 = dict(size=1024, ways=4, line=64)
    l2 = dict(size=8192, ways=8, line=64)
    c2 = cachesim.Cache("L2", l2["size"] // (l2["ways"] * l2["line"]), l2["ways"], l2["line"], "LRU")
    c1 = cachesim.Cache("L1", l1["size"] // (l1["ways"] * l1["line"]), l1["ways"], l1["line"], "LRU",
                        load_from=c2, store_to=c2)
    mem = cachesim.MainMemory()
    mem.load_to(c2)
    mem.store_from(c2)
    sim = cachesim.CacheSimulator(c1, mem)
    rng = np.random.default_rng(11)
    trace = image_trace(rng, 2000, 1, stores=0.0)
    table = tables(LAYOUTS[0])
    addrs = table.resolve(trace)
    ref = np.zeros((2, len(trace)), np.int64)
    for r, a in enumerate(addrs.tolist()):
        before = (c1.backend.MISS_count, c2.backend.MISS_count)
        sim.load(a, length=8)
        ref[:, r] = (c1.backend.MISS_count - before[0], c2.backend.MISS_count - before[1])
    h = Hierarchy([CacheLevel(name="L1", **l1), CacheLevel(name="L2", **l2)])
    got = row_outcomes(h, trace, table)
    np.testing.assert_array_equal(got.misses, ref)
    assert 0 < ref[0].sum() < len(trace) and ref[1].sum() > 0


def test_buffer_cells_follow_the_rows_and_reshape_row_major():
    # fp16 scalars at even offsets: 2-B cells; cell i of a reshaped map sits at (i // width, i % width)
    rng = np.random.default_rng(4)
    offsets = rng.integers(0, 600, 900) * 2
    trace = memsim.Trace.from_columns(core=0, surface=0, x=offsets, y=0, write=False, nbytes=2)
    table = memsim.SurfaceTable([memsim.Buffer(1200, name="buf")], memsim.ImageLayout("linear"))
    h = Hierarchy([CacheLevel(name="L1", size=256, ways=2, line=32), CacheLevel(name="L2", size=1024, ways=4,
                                                                               line=64)])
    rows = row_outcomes(h, trace, table)
    (m,) = texel_maps(rows, trace, table)
    assert m.kind == "buffer" and m.unit_bytes == 2 and m.shape == (1, 600)
    np.testing.assert_array_equal(m.rows[0], np.bincount(offsets // 2, minlength=600))
    grid = m.reshaped(16)
    assert grid.shape == (38, 16) and int(grid.misses["L1"].sum()) == int(rows.misses[0].sum())
    for i in rng.choice(600, 20):
        assert grid.misses["L2"][i // 16, i % 16] == m.misses["L2"][0, i]
    # 8-B rows at offsets that are multiples of 4 only: 4-B cells, so no row starts inside a cell
    trace8 = memsim.Trace.from_columns(core=0, surface=0, x=[0, 4, 12], y=0, write=False, nbytes=8)
    (m8,) = texel_maps(row_outcomes(h, trace8, table), trace8, table)
    assert m8.unit_bytes == 4 and m8.rows[0, :4].tolist() == [1, 1, 0, 1]
