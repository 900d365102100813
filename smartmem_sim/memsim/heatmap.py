"""Where in a texture the accesses, misses and reuses fall: per-row outcomes of a simulation, and per-texel maps.

:func:`row_outcomes` simulates a trace on a hierarchy one row at a time through every level (the same
access() as memsim's general path; smartmem_sim/memsim/_kernels_outcomes.py) and returns, for every trace
row, what each level counted for the requests it caused: accesses, misses, sector misses, and the DRAM
bytes it made move. Their sums over rows are exactly the counts :meth:`Hierarchy.simulate` reports for
the same trace (the returned :class:`RowOutcomes` carries that report, built from the same state), so a
heat map adds up to the level's totals. The default simulation path is untouched: this is a separate,
slower driver (no run-length batching), meant for one kernel's trace.

Attribution: a request a level sends below (a fetch, a forwarded store, a write-back of a dirty victim) is
charged to the trace row that caused it, so a row's count at L2 includes its L1 miss's fetch and, under
write-back levels, the write-back its fill forced. A row names its texel (surface, x, y) in the trace, so
no address is turned back into coordinates for the counts; :meth:`SurfaceTable.locate` does that for
lines when a picture needs a line's texels.

:func:`texel_maps` sums the rows per texel: for an image a (height, width) array per quantity, for a
buffer a (1, cells) array, a cell being the largest block every row's offset and size are multiples of.
Reuse: every row cut into the first level's lines (loads and stores alike: it describes the trace's
order, whatever the level does with stores), one stream per copy of the first level (per core for a
per-core L1); for each piece its LRU stack distance, the number of distinct other lines the stream
touched since it last touched this line; per texel the number of re-references (pieces whose line the
stream touched before) and the sum of their distances (mean = sum / re-references). A fully associative
LRU cache of C lines hits exactly the re-references of distance < C
(tested), which is what the distance means; a set-associative one also loses some to conflicts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smartmem_sim.memsim import _kernels_outcomes as KO
from smartmem_sim.memsim import _kernels_state as K
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.report import Report
from smartmem_sim.memsim.surfaces import Image2D, SurfaceTable
from smartmem_sim.memsim.trace import COLUMNS, Trace


@dataclass(frozen=True)
class RowOutcomes:
    """What each level counted for each trace row; arrays (levels, rows) int64 unless noted.

    ``served[r]``: the first level at which row r's accesses all hit (0 = the first level), ``len(levels)``
    when some missed at every level it reached, -1 for a row no level counted (a store forwarded past
    every level). ``reuse_distance[r]``: the largest first-level stack distance
    over row r's line pieces, -1 when every piece was a first touch of its line by that stream."""

    levels: tuple[str, ...]
    accesses: np.ndarray
    misses: np.ndarray
    sector_misses: np.ndarray
    dram_bytes_read: np.ndarray  # (rows,)
    dram_bytes_written: np.ndarray  # (rows,)
    reuses: np.ndarray  # (rows,) first-level pieces that re-reference a line
    reuse_distance_sum: np.ndarray  # (rows,) sum of their stack distances
    reuse_distance: np.ndarray  # (rows,)
    report: Report

    @property
    def served(self) -> np.ndarray:
        n = self.accesses.shape[1]
        out = np.full(n, -1, np.int64)
        touched = self.accesses > 0
        allhit = touched & (self.misses == 0)
        for lv in range(len(self.levels) - 1, -1, -1):
            out[allhit[lv]] = lv
        missed_last = touched.any(axis=0) & (out < 0)
        out[missed_last] = len(self.levels)
        return out


def row_outcomes(hierarchy, trace: Trace, surfaces: SurfaceTable, compute_cycles: float | None = None) -> RowOutcomes:
    """Simulate ``trace`` on ``hierarchy`` (a memsim.Hierarchy, emptied first) row by row; see the module
    docstring. The report is the one :meth:`Hierarchy.simulate` gives (same counts, same estimate)."""
    from smartmem_sim.memsim.hierarchy import _State

    if not isinstance(trace, Trace):
        raise MemsimError(f"trace must be a memsim.Trace, got {type(trace).__name__}")
    for col, want in COLUMNS.items():
        if getattr(trace, col).dtype != want:
            raise MemsimError(f"trace column '{col}' has dtype {getattr(trace, col).dtype}, expected {want}; "
                              "build traces with Trace.from_columns")
    h = hierarchy
    addrs = np.ascontiguousarray(surfaces.resolve(trace), dtype=np.int64)
    n = addrs.shape[0]
    nlev = len(h.levels)
    state = _State(h.levels, [h.copies(lv) for lv in h.levels], [1] * nlev)
    dram = np.zeros((1, 3), np.int64)
    nbytes = np.ascontiguousarray(trace.nbytes, np.int32)
    write = np.ascontiguousarray(trace.write).view(np.uint8)
    core = np.ascontiguousarray(trace.core, np.int32)
    lb0 = h.levels[0].line.bit_length() - 1
    pieces = ((addrs + nbytes.astype(np.int64) - 1) >> lb0) - (addrs >> lb0) + 1 if n else np.ones(1, np.int64)
    room = int(max(1, pieces.max())) * (2 << nlev) + 4
    bufs = [np.empty(room, np.int64), np.empty(room, np.int32), np.empty(room, np.uint8)]
    nxt = [np.empty(room, np.int64), np.empty(room, np.int32), np.empty(room, np.uint8)]
    scr = [np.empty(4, np.int64), np.empty(4, np.int32), np.empty(4, np.uint8)]
    acc, miss, smiss = (np.zeros((nlev, n), np.int64) for _ in range(3))
    dread, dwritten = np.zeros(n, np.int64), np.zeros(n, np.int64)
    err = np.zeros(2, np.int64)
    per_core = np.array([lv.per_core for lv in h.levels], np.bool_)
    KO.row_outcomes(state.cfg, *state.arrays(), dram, per_core, addrs, nbytes, write, core, np.int64(h.cores),
                    acc, miss, smiss, dread, dwritten, *bufs, *nxt, *scr, err)
    if err[0] != K.ERR_NONE:
        raise h._row_error(int(err[0]), int(err[1]), addrs, core, nbytes)
    report = h._report(state.states, int(dram[0, K.DRAM_READ]), int(dram[0, K.DRAM_WRITTEN]),
                       int(dram[0, K.DRAM_REQUESTS]), n, compute_cycles)
    reuses, dsum, dmax = _reuse(addrs, nbytes, core, lb0, h.levels[0].per_core)
    return RowOutcomes(levels=tuple(lv.name for lv in h.levels), accesses=acc, misses=miss, sector_misses=smiss,
                       dram_bytes_read=dread, dram_bytes_written=dwritten, reuses=reuses,
                       reuse_distance_sum=dsum, reuse_distance=dmax, report=report)


def _reuse(addrs, nbytes, core, lb: int, per_core: bool):
    """Per row: first-level pieces that re-reference a line, the sum and the largest of their distances."""
    n = addrs.shape[0]
    first = addrs >> lb
    count = (((addrs + nbytes.astype(np.int64) - 1) >> lb) - first + 1).astype(np.int64)
    row = np.repeat(np.arange(n, dtype=np.int64), count)
    starts = np.cumsum(count) - count
    line = first[row] + (np.arange(row.shape[0], dtype=np.int64) - starts[row])
    stream = core[row] if per_core else np.zeros(row.shape[0], np.int32)
    dist = np.empty(row.shape[0], np.int64)
    for c in np.unique(stream):
        sel = np.flatnonzero(stream == c)
        _, dense = np.unique(line[sel], return_inverse=True)
        out = np.empty(sel.shape[0], np.int64)
        KO.reuse_distances(dense.astype(np.int64), out)
        dist[sel] = out
    re = dist >= 0
    reuses = np.bincount(row, weights=re, minlength=n).astype(np.int64)
    dsum = np.bincount(row, weights=np.where(re, dist, 0), minlength=n).astype(np.int64)
    dmax = np.full(n, -1, np.int64)
    np.maximum.at(dmax, row, dist)
    return reuses, dsum, dmax


@dataclass
class SurfaceMap:
    """Per-texel sums of one surface. Arrays are (height, width) for an image; for a buffer (1, cells),
    a cell being ``unit_bytes`` bytes at x = cell * unit_bytes (:meth:`reshaped` lays it out in rows);
    ``accesses`` / ``misses`` map level name -> array."""

    index: int
    name: str
    kind: str  # "image" or "buffer"
    shape: tuple[int, int]
    rows: np.ndarray  # trace rows naming the texel
    accesses: dict[str, np.ndarray] = field(default_factory=dict)
    misses: dict[str, np.ndarray] = field(default_factory=dict)
    dram_bytes: np.ndarray | None = None  # read + written
    reuses: np.ndarray | None = None
    reuse_distance_sum: np.ndarray | None = None
    writes: int = 0  # store rows on this surface
    unit_bytes: int = 0  # image: the texel's bytes; buffer: the bytes of one cell

    def reshaped(self, width: int) -> SurfaceMap:
        """A buffer's cells as rows of ``width`` cells (the last row padded with untouched cells), e.g. a
        row-major tensor's innermost dimension as x; an image is returned as it is."""
        if self.kind != "buffer":
            return self
        n = self.shape[1]
        h = max(1, -(-n // width))

        def lay(a):
            out = np.zeros(h * width, a.dtype)
            out[:n] = a.ravel()
            return out.reshape(h, width)

        return SurfaceMap(index=self.index, name=self.name, kind=self.kind, shape=(h, width), rows=lay(self.rows),
                          accesses={k: lay(v) for k, v in self.accesses.items()},
                          misses={k: lay(v) for k, v in self.misses.items()}, dram_bytes=lay(self.dram_bytes),
                          reuses=lay(self.reuses), reuse_distance_sum=lay(self.reuse_distance_sum),
                          writes=self.writes, unit_bytes=self.unit_bytes)

    @property
    def mean_reuse_distance(self) -> np.ndarray:
        """Mean first-level stack distance of the texel's re-references; NaN where it has none."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.reuses > 0, self.reuse_distance_sum / np.maximum(self.reuses, 1), np.nan)

    @property
    def reuse_fraction(self) -> np.ndarray:
        """Share of the texel's first-level accesses that re-reference a line; NaN where none."""
        first = next(iter(self.accesses.values()))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(first > 0, self.reuses / np.maximum(first, 1), np.nan)


def texel_maps(outcomes: RowOutcomes, trace: Trace, surfaces: SurfaceTable,
               only: list[int] | None = None) -> list[SurfaceMap]:
    """Per-texel sums of ``outcomes`` for every surface the trace names (or those in ``only``)."""
    out = []
    sid = trace.surface
    for i in sorted(set(np.unique(sid).tolist()) if only is None else only):
        s = surfaces.surfaces[i]
        sel = np.flatnonzero(sid == i)
        if isinstance(s, Image2D):
            shape, kind, unit = (s.height, s.width), "image", s.texel_bytes
            flat = trace.y[sel] * shape[1] + trace.x[sel]
        else:
            # cells as large as every row's offset and the smallest row allow (a fp16 scalar load: 2 B), so
            # each row lands on one cell and no cell is left between two rows' bytes
            unit = int(np.gcd.reduce(np.append(trace.x[sel], trace.nbytes[sel].min()))) if sel.size else 1
            shape, kind = (1, -(-int(s.nbytes) // unit)), "buffer"
            flat = trace.x[sel] // unit
        size = shape[0] * shape[1]

        def total(values, flat=flat, size=size, shape=shape):
            return np.bincount(flat, weights=values, minlength=size).astype(np.int64).reshape(shape)

        m = SurfaceMap(index=int(i), name=getattr(s, "name", "") or f"surface {i}", kind=kind, shape=shape,
                       rows=total(np.ones(sel.shape[0])))
        for lv, name in enumerate(outcomes.levels):
            m.accesses[name] = total(outcomes.accesses[lv, sel])
            m.misses[name] = total(outcomes.misses[lv, sel])
        m.dram_bytes = total(outcomes.dram_bytes_read[sel] + outcomes.dram_bytes_written[sel])
        m.reuses = total(outcomes.reuses[sel])
        m.reuse_distance_sum = total(outcomes.reuse_distance_sum[sel])
        m.writes = int(trace.write[sel].sum())
        m.unit_bytes = unit
        out.append(m)
    return out


def heatmap(hierarchy, trace: Trace, surfaces: SurfaceTable) -> tuple[RowOutcomes, list[SurfaceMap]]:
    """:func:`row_outcomes` and :func:`texel_maps` in one call."""
    rows = row_outcomes(hierarchy, trace, surfaces)
    return rows, texel_maps(rows, trace, surfaces)


__all__ = ["RowOutcomes", "SurfaceMap", "heatmap", "row_outcomes", "texel_maps"]
