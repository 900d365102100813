"""A cache study independent of DNNs: walk one image2d in several patterns on a device profile.

Every walk launches one work-item per texel (W x H work-items in all), and every work-item loads its texel
once (one trace row of ``texel_bytes``), so patterns differ only in *order*:

- ``row``:     1-D work-groups of ``group_items`` work-items along x; work-groups row-major (x fastest).
- ``column``:  1-D work-groups of ``group_items`` work-items along y; work-groups column-major (y fastest).
- ``tiled``:   2-D work-groups of ``workgroup`` = (wx, wy) work-items, each reading its wx x wy block,
               work-items row-major inside the group; work-groups row-major.
- ``strided``: as ``row``, but inside an image row consecutive work-items read texels ``stride`` apart:
               x = 0, s, 2s, ..., then 1, 1+s, ... (every texel still read once).

Scheduling (how the trace interleaves cores), documented because the shared levels see its order:
work-group g runs on core ``g % cores`` (round-robin), and a core runs its work-groups one after another.
A work-group issues in waves of ``wave_size`` consecutive work-items. The trace is a sequence of steps;
at step t every core issues its t-th wave (core 0 first, then core 1, ...), each wave's rows in
work-item order. This is a lock-step model of cores running side by side; real GPUs keep several
waves in flight per core, which this study does not model.

:func:`run_study` simulates every (layout, pattern) pair with ``load_profile(device).hierarchy()`` and
returns a :class:`StudyResult` whose tidy rows are (layout, pattern, level) -> counts, hit rate, bytes,
DRAM bytes and predicted time.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.schedule import issue_order, work_groups
from smartmem_sim.memsim.surfaces import LAYOUT_KINDS, Image2D, ImageLayout, SurfaceTable
from smartmem_sim.memsim.trace import Trace

PATTERNS = ("row", "column", "tiled", "strided")
DEFAULT_MORTON_TILE = (16, 16)  # Mali's u-interleaved tile (Mesa panfrost.rst)


@dataclass(frozen=True)
class WalkConfig:
    """How the walks are launched (work-item counts, not bytes).

    Args:
        group_items: work-items per 1-D work-group (row, column, strided walks).
        workgroup: (wx, wy) work-items of a 2-D work-group (tiled walk).
        wave_size: work-items issued together by one core (Adreno: 64/128 fibers, Mali: 16, NVIDIA: 32).
        stride: texel distance between consecutive work-items of the strided walk.
    """

    group_items: int = 64
    workgroup: tuple[int, int] = (8, 8)
    wave_size: int = 64
    stride: int = 8

    def __post_init__(self) -> None:
        for name in ("group_items", "wave_size", "stride"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise MemsimError(f"study: {name} must be a positive integer, got {v!r}")
        wg = self.workgroup
        if len(wg) != 2 or any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in wg):
            raise MemsimError(f"study: workgroup must be two positive integers (wx, wy), got {wg!r}")


def walk_items(pattern: str, width: int, height: int, config: WalkConfig) -> tuple[np.ndarray, ...]:
    """For every work-item: the texel (x, y) it reads, its work-group id and its index inside the group."""
    yy, xx = np.meshgrid(np.arange(height, dtype=np.int64), np.arange(width, dtype=np.int64), indexing="ij")
    x, y = xx.ravel(), yy.ravel()
    g = config.group_items
    if pattern == "row":
        groups_x = -(-width // g)
        return x, y, y * groups_x + x // g, x % g
    if pattern == "column":
        groups_y = -(-height // g)
        return x, y, x * groups_y + y // g, y % g
    if pattern == "tiled":
        return x, y, *work_groups(x, y, width, *config.workgroup)
    if pattern == "strided":
        s = config.stride
        lane = np.arange(width, dtype=np.int64)
        order = np.lexsort((lane // s, lane % s))  # x sorted by (x % s, x // s): 0, s, 2s, ..., 1, 1+s, ...
        item = np.tile(lane, height)  # work-item index along the row
        groups_x = -(-width // g)
        return np.tile(order, height), y, y * groups_x + item // g, item % g
    raise MemsimError(f"study: unknown pattern {pattern!r}; choose from {', '.join(PATTERNS)}")


def walk_trace(pattern: str, image: Image2D, cores: int, config: WalkConfig | None = None, surface: int = 0) -> Trace:
    """The load trace of one walk over ``image`` (surface id ``surface``) on ``cores`` cores."""
    config = config or WalkConfig()
    x, y, group, item = walk_items(pattern, image.width, image.height, config)
    if cores < 1:
        raise MemsimError(f"study: cores must be >= 1, got {cores}")
    group_items = int(item.max()) + 1 if item.size else 1
    order, core = issue_order(group, item, cores, group_items, config.wave_size)
    n = x.size
    return Trace.from_columns(
        core=core[order].astype(np.int32), surface=np.full(n, surface, np.int32), x=x[order], y=y[order],
        write=np.zeros(n, bool), nbytes=np.full(n, image.texel_bytes, np.int32), name=f"{pattern} walk",
    )


_SPEC = re.compile(r"^(device|linear|tiled|morton|block_linear)(?::(\d+)x(\d+))?$")


def parse_layout(spec: str, device_layout: ImageLayout, line_bytes: int, texel_bytes: int) -> tuple[str, ImageLayout]:
    """A layout named on the command line -> (label, ImageLayout).

    ``device``: the profile's own layout. ``linear``: linear with the device's pitch alignment.
    ``tiled``: tiles of one L1 line (a near-square power-of-two block, e.g. 4x2 fp16 texels in 64 B);
    ``tiled:WxH`` / ``morton:WxH``: that tile shape; ``morton``: 16x16 tiles; ``block_linear``: 64 B x 8
    GOBs, 2 GOBs a block.
    """
    m = _SPEC.match(spec.strip())
    if not m:
        raise MemsimError(
            f"study: unknown layout {spec!r}; use device, linear, tiled[:WxH], morton[:WxH] or block_linear"
        )
    kind, w, h = m.group(1), m.group(2), m.group(3)
    if kind == "device":
        return f"{device_layout.describe()} (device)", device_layout
    if w is not None and kind not in ("tiled", "morton"):
        raise MemsimError(f"study: layout {spec!r}: only tiled and morton take a WxH tile shape")
    pa = device_layout.pitch_alignment
    if kind == "linear":
        layout = ImageLayout("linear", pitch_alignment=pa)
    elif kind == "block_linear":
        layout = ImageLayout("block_linear", pitch_alignment=pa)
    else:
        if w is not None:
            tile = (int(w), int(h))
        elif kind == "morton":
            tile = DEFAULT_MORTON_TILE
        else:
            texels = max(1, line_bytes // texel_bytes)
            bits = texels.bit_length() - 1
            tile = (1 << ((bits + 1) // 2), 1 << (bits // 2))
        layout = ImageLayout(kind, tile[0], tile[1], pitch_alignment=pa)
    return layout.describe(), layout


def line_block(table: SurfaceTable, surface: int, line_bytes: int) -> str:
    """The texel block covered by the line holding texel (0, 0), e.g. '8x1' or '4x2'."""
    texels = table.line_texels(surface, table.base(surface), line_bytes)
    w = int(np.ptp(texels[:, 0])) + 1
    h = int(np.ptp(texels[:, 1])) + 1
    return f"{w}x{h}" if w * h == len(texels) else f"{len(texels)} texels"


@dataclass
class StudyRun:
    layout: str
    pattern: str
    report: object  # memsim.report.Report
    line_block: str
    texels: object = None  # memsim.heatmap.SurfaceMap of the image, when the study was asked for heat maps


@dataclass
class StudyResult:
    """Results of one study: one :class:`StudyRun` per (layout, pattern)."""

    device: str
    image: Image2D
    config: WalkConfig
    cores: int
    runs: list[StudyRun] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """Tidy rows, one per (layout, pattern, level). Bytes in B, time in s; DRAM and time are per run."""
        out = []
        for run in self.runs:
            rep = run.report
            for lv in rep.levels:
                out.append({
                    "device": self.device, "layout": run.layout, "pattern": run.pattern, "level": lv.name,
                    "line_block": run.line_block, "accesses": int(lv.accesses), "hits": int(lv.hits),
                    "misses": int(lv.misses), "sector_misses": int(lv.sector_misses),
                    "hit_rate": (lv.hits / lv.accesses) if lv.accesses else None,
                    "bytes_read": int(lv.bytes_read), "bytes_filled": int(lv.bytes_filled),
                    "dram_bytes_read": int(rep.dram_bytes_read), "dram_bytes_written": int(rep.dram_bytes_written),
                    "cycles": float(rep.cycles), "seconds": float(rep.seconds),
                })
        return out

    def to_dict(self) -> dict:
        return {
            "device": self.device,
            "image": {"width": self.image.width, "height": self.image.height, "dtype": self.image.dtype,
                      "texel_bytes": self.image.texel_bytes},
            "walk": {"group_items": self.config.group_items, "workgroup": list(self.config.workgroup),
                     "wave_size": self.config.wave_size, "stride": self.config.stride, "cores": self.cores},
            "rows": self.rows(),
            "reports": [{"layout": r.layout, "pattern": r.pattern, "report": r.report.to_dict()} for r in self.runs],
        }


def _load(device):
    """A profile object (anything with .hierarchy(), .levels, .cores, .image_layout, .name) is used as is."""
    if hasattr(device, "hierarchy"):
        return device
    from smartmem_sim.memsim.profiles import load_profile

    return load_profile(device)


def run_study(
    device,
    width: int = 512,
    height: int = 512,
    dtype: str = "fp16",
    patterns: Sequence[str] = PATTERNS,
    layouts: Sequence[str] = ("device", "linear", "tiled", "morton"),
    config: WalkConfig | None = None,
    progress: Callable[[str, str], None] | None = None,
    heatmaps: bool = False,
) -> StudyResult:
    """Walk a ``width`` x ``height`` image (texels) in each pattern under each layout on ``device``
    (a profile name, a path to a profile TOML, or a loaded DeviceProfile). ``progress(layout, pattern)``
    is called after each run. Layouts that resolve to the same ImageLayout are simulated once.
    ``heatmaps``: also the per-texel accesses, misses and reuse of every run (memsim.heatmap, a second,
    row-by-row simulation of the same trace; its counts add up to the run's report)."""
    config = config or WalkConfig()
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    layouts = [layouts] if isinstance(layouts, str) else list(layouts)
    image = Image2D(width, height, dtype, name="study")
    for p in patterns:
        if p not in PATTERNS:
            raise MemsimError(f"study: unknown pattern {p!r}; choose from {', '.join(PATTERNS)}")
    if not patterns or not layouts:
        raise MemsimError("study: give at least one pattern and one layout")
    profile = _load(device)
    line_bytes = int(profile.levels[0].line)
    chosen: list[tuple[str, ImageLayout]] = []
    for spec in layouts:
        label, layout = parse_layout(spec, profile.image_layout, line_bytes, image.texel_bytes)
        if all(layout != other for _, other in chosen):
            chosen.append((label, layout))
    hierarchy = profile.hierarchy()
    result = StudyResult(device=profile.name, image=image, config=config, cores=int(profile.cores))
    traces = {p: walk_trace(p, image, int(profile.cores), config) for p in patterns}
    for label, layout in chosen:
        table = SurfaceTable([image], layout)
        block = line_block(table, 0, line_bytes)
        for p in patterns:
            report = hierarchy.simulate(traces[p], table)
            texels = None
            if heatmaps:
                from smartmem_sim.memsim.heatmap import heatmap

                (texels,) = heatmap(hierarchy, traces[p], table)[1]
            result.runs.append(StudyRun(layout=label, pattern=p, report=report, line_block=block, texels=texels))
            if progress is not None:
                progress(label, p)
    return result


__all__ = ["PATTERNS", "LAYOUT_KINDS", "WalkConfig", "StudyResult", "StudyRun", "run_study", "walk_trace",
           "walk_items", "parse_layout"]
