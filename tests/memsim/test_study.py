"""smartmem_sim/memsim/study.py: walk traces against a plain-Python launch model, and cache counts of the walks checked
against hand-computed numbers (fully associative L1s, so every count follows from reuse distances)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.study import PATTERNS, WalkConfig, parse_layout, run_study, walk_trace
from smartmem_sim.memsim.surfaces import Image2D, ImageLayout


@dataclass
class TinyProfile:
    """The part of a DeviceProfile the study uses, with caches small enough to reason about by hand."""

    levels: list
    cores: int = 1
    image_layout: ImageLayout = ImageLayout("linear", pitch_alignment=64)
    name: str = "tiny"

    def hierarchy(self) -> Hierarchy:
        return Hierarchy(self.levels, cores=self.cores, clock_hz=1e9, name=self.name)


def tiny(l1_bytes: int, line: int = 64, cores: int = 1, layout: ImageLayout | None = None) -> TinyProfile:
    """A fully associative per-core L1 of ``l1_bytes`` and a big shared L2, both with ``line`` B lines."""
    levels = [
        CacheLevel(name="L1", size=l1_bytes, ways=l1_bytes // line, line=line, per_core=True, write="read-only"),
        CacheLevel(name="L2", size=1 << 20, ways=16, line=line),
    ]
    return TinyProfile(levels, cores, layout or ImageLayout("linear", pitch_alignment=64))


# ---- plain-Python launch model: work-groups, round-robin cores, lock-step waves ----

def reference_walk(pattern, W, H, cfg: WalkConfig, cores):
    G, (wx, wy), ws = cfg.group_items, cfg.workgroup, cfg.wave_size
    groups = []  # each: list over the group's full item range of texel or None (a guarded work-item)
    if pattern == "row":
        for y in range(H):
            for gx in range(0, W, G):
                groups.append([(x, y) if x < W else None for x in range(gx, gx + G)])
    elif pattern == "column":
        for x in range(W):
            for gy in range(0, H, G):
                groups.append([(x, y) if y < H else None for y in range(gy, gy + G)])
    elif pattern == "tiled":
        for gy in range(0, H, wy):
            for gx in range(0, W, wx):
                groups.append([(x, y) if x < W and y < H else None
                               for y in range(gy, gy + wy) for x in range(gx, gx + wx)])
    else:  # strided
        for y in range(H):
            seq = [x for r in range(cfg.stride) for x in range(r, W, cfg.stride)]
            for g0 in range(0, W, G):
                groups.append([(seq[i], y) if i < W else None for i in range(g0, g0 + G)])
    waves = [[] for _ in range(cores)]
    for g, items in enumerate(groups):
        for w0 in range(0, len(items), ws):
            waves[g % cores].append([t for t in items[w0:w0 + ws] if t is not None])
    rows = []
    for step in range(max(len(w) for w in waves)):
        for c in range(cores):
            if step < len(waves[c]):
                rows += [(c, x, y) for x, y in waves[c][step]]
    return rows


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("cores, wave", [(1, 64), (3, 3), (2, 5)])
def test_walk_trace_matches_plain_python_launch_model(pattern, cores, wave):
    cfg = WalkConfig(group_items=4, workgroup=(3, 2), wave_size=wave, stride=3)
    img = Image2D(13, 11, "fp32")
    t = walk_trace(pattern, img, cores, cfg, surface=2)
    got = list(zip(t.core.tolist(), t.x.tolist(), t.y.tolist(), strict=True))
    assert got == reference_walk(pattern, 13, 11, cfg, cores)
    assert (t.surface == 2).all() and (t.nbytes == 16).all() and not t.write.any()


def l1(result, layout_prefix, pattern):
    for run in result.runs:
        if run.layout.startswith(layout_prefix) and run.pattern == pattern:
            return run.report.levels[0]
    raise AssertionError(f"no run {layout_prefix} / {pattern}")


def test_row_walk_over_linear_image_misses_once_per_line():
    # 64 B lines hold 8 fp16 texels; rows are 64 texels = 512 B (pitch already aligned): one miss per 8
    res = run_study(tiny(4096), 64, 32, "fp16", ["row"], ["linear"])
    st = l1(res, "linear", "row")
    assert (st.accesses, st.misses, st.hits) == (2048, 256, 2048 - 256)
    assert res.runs[0].report.dram_bytes_read == 64 * 32 * 8  # every line once from DRAM
    assert res.runs[0].line_block == "8x1"


def test_column_walk_thrashes_linear_but_not_2d_layouts():
    # 64 x 128 fp16, L1 = 64 lines of 64 B, fully associative, one core.
    # linear: a column touches 128 distinct lines (one per row) before coming back: every access misses.
    # 2-D layouts: a 64 B line covers 4x2 texels, a column touches 64 lines, which fit: only the first
    # column of every 4-texel strip misses, and only on even rows -> 64*128 / 8 = 1024 misses.
    res = run_study(tiny(4096), 64, 128, "fp16", ["column"],
                    ["linear", "tiled:4x2", "morton:16x16", "block_linear"])
    assert [r.line_block for r in res.runs] == ["8x1", "4x2", "4x2", "4x2"]
    assert l1(res, "linear", "column").misses == 64 * 128
    for name in ("tiled", "morton", "block_linear"):
        st = l1(res, name, "column")
        assert (st.accesses, st.misses) == (64 * 128, 1024), name


@pytest.mark.parametrize("l1_bytes, expected_misses", [(128, 64 * 4), (512, 64 * 4 // 8)])
def test_strided_walk_needs_the_whole_row_in_cache(l1_bytes, expected_misses):
    # 64 x 4 fp16, stride 8: consecutive work-items are 8 texels (one line) apart. A 2-line L1 misses on
    # every access; an 8-line L1 holds the whole 512 B row, so each line misses once.
    res = run_study(tiny(l1_bytes), 64, 4, "fp16", ["strided"], ["linear"], WalkConfig(stride=8))
    assert l1(res, "linear", "strided").misses == expected_misses


def test_tiled_walk_over_matching_tiles_and_multiple_cores():
    # 8x8 work-groups over tiled 4x2 fp16: every group reads 8 whole lines; 3 cores split the groups, so
    # each line is still read by exactly one core: L1 misses = lines, L2 misses = lines too (cold).
    res = run_study(tiny(4096, cores=3), 40, 24, "fp16", ["tiled"], ["tiled:4x2"], WalkConfig(workgroup=(8, 8)))
    l1_stats, l2_stats = res.runs[0].report.levels[:2]
    assert l1_stats.misses == 40 * 24 // 8 and l2_stats.accesses == l2_stats.misses == 40 * 24 // 8


def test_rows_are_tidy_and_device_layout_deduplicates():
    prof = tiny(4096, cores=2)  # its device layout is linear, the same as "linear"
    res = run_study(prof, 32, 16, "fp32", ["row", "column"], ["device", "linear", "morton"])
    assert [r.layout for r in res.runs] == ["linear (device)"] * 2 + ["morton 16x16"] * 2
    rows = res.rows()
    assert len(rows) == 2 * 2 * 2
    for r in rows:
        assert r["accesses"] == r["hits"] + r["misses"]
        assert r["hit_rate"] == pytest.approx(r["hits"] / r["accesses"])
    assert rows[0]["accesses"] == 32 * 16  # L1 sees every texel
    d = res.to_dict()
    assert d["image"]["texel_bytes"] == 16 and len(d["reports"]) == 4


@pytest.mark.parametrize("spec, line, texel, expected", [
    ("tiled", 64, 8, ImageLayout("tiled", 4, 2, pitch_alignment=256)),
    ("tiled", 64, 16, ImageLayout("tiled", 2, 2, pitch_alignment=256)),
    ("tiled", 128, 8, ImageLayout("tiled", 4, 4, pitch_alignment=256)),
    ("tiled:16x4", 64, 8, ImageLayout("tiled", 16, 4, pitch_alignment=256)),
    ("morton", 64, 8, ImageLayout("morton", 16, 16, pitch_alignment=256)),
    ("linear", 64, 8, ImageLayout("linear", pitch_alignment=256)),
    ("block_linear", 64, 8, ImageLayout("block_linear", pitch_alignment=256)),
])
def test_parse_layout(spec, line, texel, expected):
    device = ImageLayout("linear", pitch_alignment=256)
    assert parse_layout(spec, device, line, texel)[1] == expected


@pytest.mark.parametrize("call, needle", [
    (lambda: run_study(tiny(4096), 8, 8, patterns=["diagonal"]), "unknown pattern 'diagonal'"),
    (lambda: run_study(tiny(4096), 8, 8, layouts=["swizzled"]), "unknown layout 'swizzled'"),
    (lambda: run_study(tiny(4096), 8, 8, layouts=["linear:4x4"]), "only tiled and morton take"),
    (lambda: run_study(tiny(4096), 0, 8), "width must be >= 1"),
    (lambda: WalkConfig(workgroup=(8, 0)), "workgroup must be two positive integers"),
    (lambda: WalkConfig(wave_size=0), "wave_size must be a positive integer"),
])
def test_bad_study_input(call, needle):
    with pytest.raises(MemsimError, match=needle):
        call()


def test_every_shipped_profile_runs_the_default_study():
    from smartmem_sim.memsim.profiles import list_profiles

    for name in list_profiles():
        res = run_study(name, 24, 16, "fp32")
        assert len(res.runs) >= 4 * 3  # device may coincide with linear/tiled/morton
        for run in res.runs:
            first = run.report.levels[0]
            assert first.accesses == 24 * 16 and first.hits + first.misses == first.accesses, (name, run.layout)
            assert run.report.dram_bytes_read >= 24 * 16 * 16  # every texel comes from DRAM at least once
