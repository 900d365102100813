"""A cache hierarchy (per-core texture L1s, shared L2, optional SLC, DRAM) and the simulation driver.

Order of events, which defines the counts exactly:

- Trace rows are issued in row order; a row that crosses lines of the first level becomes one access
  per line. Every per-core level has one copy per core; copy c sees the rows of core c in row order.
  Per-core copies never interact, so they are simulated in parallel (numba prange).
- The requests a level sends below (fetches of missing sectors, write-backs, forwarded stores; at most
  two per access, fetch first) are merged over all cores in the row order of the accesses that caused
  them, and that merged stream is what the next level sees. This is the same as handing each row
  through the whole hierarchy before the next row, because no level ever looks at a level below it
  (levels are non-inclusive: an eviction below never invalidates above).
- What leaves the last level is DRAM traffic: fetches are DRAM reads, stores DRAM writes.
- Every simulation starts with empty caches. Rows are processed in chunks (state carries across chunks),
  which bounds memory and changes no count.
- Line sizes must not shrink towards memory, so a request from above always lies in one line below.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memsim import _kernels_cache as K
from memsim.cache import CacheLevel, CacheState
from memsim.errors import MemsimError
from memsim.report import LevelStats, Report
from memsim.timing import DramSpec, estimate
from memsim.trace import COLUMNS, Trace

CHUNK_REQUESTS = 1 << 21  # output room per chunk (requests); sets the chunk's row count


class Hierarchy:
    """Cache levels from the core outwards, then DRAM.

    Args:
        levels: CacheLevel list, per-core levels first, line sizes non-decreasing, unique names.
        cores: number of cores (copies of each per-core level); trace core ids are 0..cores-1.
        dram: DRAM bandwidth/latency/energy (DramSpec()), used by the estimate only.
        clock_hz: core clock for the estimate, Hz.
        memory_parallelism: requests in flight device-wide, for the latency term (memsim/timing.py).
        name: label copied into reports (the device profile's name).
    """

    def __init__(self, levels: Sequence[CacheLevel], cores: int = 1, dram: DramSpec | None = None,
                 clock_hz: float = 1e9, memory_parallelism: float = 1.0, name: str = ""):
        levels = list(levels)
        if not levels:
            raise MemsimError("a hierarchy needs at least one cache level")
        for i, lvl in enumerate(levels):
            if not isinstance(lvl, CacheLevel):
                raise MemsimError(f"levels[{i}] must be a CacheLevel, got {type(lvl).__name__}")
        if isinstance(cores, bool) or not isinstance(cores, int | np.integer) or cores < 1:
            raise MemsimError(f"cores must be a positive integer, got {cores!r}")
        names = [lvl.name for lvl in levels]
        if len(set(names)) != len(names):
            raise MemsimError(f"level names must be unique, got {names}")
        seen_shared = False
        for lvl in levels:
            if lvl.per_core and seen_shared:
                raise MemsimError(f"level '{lvl.name}' is per_core but comes after a shared level; "
                                  "per-core levels must come first")
            seen_shared |= not lvl.per_core
        for upper, lower in zip(levels, levels[1:], strict=False):
            if lower.line < upper.line:
                raise MemsimError(f"level '{lower.name}': line ({lower.line} B) is smaller than line of "
                                  f"'{upper.name}' ({upper.line} B); lines may only grow towards memory")
        self.levels = levels
        self.cores = int(cores)
        self.dram = dram if dram is not None else DramSpec()
        self.clock_hz = float(clock_hz)
        self.memory_parallelism = float(memory_parallelism)
        self.name = name
        if self.clock_hz <= 0 or self.memory_parallelism <= 0:
            raise MemsimError("clock_hz and memory_parallelism must be > 0")

    def copies(self, level: CacheLevel) -> int:
        return self.cores if level.per_core else 1

    def simulate(self, trace: Trace, surfaces, compute_cycles: float | None = None) -> Report:
        """Simulate a trace whose surface ids index ``surfaces`` (a memsim.surfaces.SurfaceTable)."""
        if not isinstance(trace, Trace):
            raise MemsimError(f"trace must be a memsim.Trace, got {type(trace).__name__}")
        for col, want in COLUMNS.items():
            got = getattr(trace, col).dtype
            if got != want:
                raise MemsimError(f"trace column '{col}' has dtype {got}, expected {want}; "
                                  "build traces with Trace.from_columns")
        addrs = surfaces.resolve(trace)
        return self.simulate_resolved(addrs, trace.core, trace.write, trace.nbytes, compute_cycles)

    def _check_cores(self, core: np.ndarray) -> None:
        if core.size:
            lo, hi = int(core.min()), int(core.max())
            if lo < 0 or hi >= self.cores:
                bad = int(np.flatnonzero((core < 0) | (core >= self.cores))[0])
                raise MemsimError(f"trace column 'core': row {bad} has core {int(core[bad])}, but the "
                                  f"hierarchy '{self.name}' has cores 0..{self.cores - 1}")

    def simulate_resolved(self, addrs, core, write, nbytes, compute_cycles: float | None = None) -> Report:
        """Simulate rows already turned into byte addresses (uint64/int64), with their core ids, store
        flags and byte counts; same semantics as :meth:`simulate`."""
        addrs = np.asarray(addrs)
        n = addrs.shape[0]
        if addrs.dtype.kind not in "iu":
            raise MemsimError(f"addresses must be integers, got dtype {addrs.dtype}")
        if addrs.dtype == np.uint64:
            addrs = addrs.view(np.int64)  # an address >= 2**63 turns negative and is caught below
        addrs = np.ascontiguousarray(addrs, dtype=np.int64)
        core = _as_column("core", core, np.int32, 0, 2**31 - 1)
        write = _as_column("write", write, np.uint8, 0, 1)
        nbytes = _as_column("nbytes", nbytes, np.int32, 1, 2**31 - 1)
        if not (core.shape[0] == write.shape[0] == nbytes.shape[0] == n):
            raise MemsimError("addresses, core, write and nbytes must have the same length")
        max_nb = 1
        if n:
            amin, amax, nmin, max_nb, cmin, cmax = (int(v) for v in K.row_summary(addrs, core, nbytes))
            if amin < 0 or amax >= 2**62:
                raise MemsimError("addresses must be >= 0 and below 2**62")
            if nmin <= 0:
                raise MemsimError("nbytes must be positive")
            if cmin < 0 or cmax >= self.cores:
                self._check_cores(core)

        states = [CacheState(lvl, self.copies(lvl)) for lvl in self.levels]
        # Output room: at most 2 requests per line piece; pieces per row <= (max_nb - 1) // line + 2.
        first_pieces = (max_nb - 1) // self.levels[0].line + 2
        chunk_rows = max(1024, CHUNK_REQUESTS // (2 * first_pieces))
        buffers = [_Buffers(min(chunk_rows, max(n, 1)) * 2 * (first_pieces if i == 0 else 1) * 2 ** i)
                   for i in range(len(self.levels))]
        dram_read = dram_written = dram_requests = 0
        for r0 in range(0, n, chunk_rows):
            r1 = min(n, r0 + chunk_rows)
            s_addr, s_nb, s_wr, s_core = addrs[r0:r1], nbytes[r0:r1], write[r0:r1], core[r0:r1]
            m = r1 - r0
            for i, (lvl, st) in enumerate(zip(self.levels, states, strict=True)):
                pieces = first_pieces if i == 0 else 1
                buf = buffers[i]
                buf.ensure(2 * pieces * m)
                if lvl.per_core:
                    s_addr, s_nb, s_wr, s_core, m = _per_core(st, s_addr[:m], s_nb[:m], s_wr[:m], s_core[:m],
                                                             pieces, buf)
                else:
                    m = K.shared_pass(s_addr, s_nb, s_wr, m, st.tags, st.stamp, st.valid, st.dirty, st.plru,
                                      st.meta, st.umeta, st.stats, st.cfg, buf.a, buf.n, buf.w)
                    s_addr, s_nb, s_wr, s_core = buf.a, buf.n, buf.w, buf.c
            loads, stores = K.stream_bytes(s_nb, s_wr, m)
            dram_read += int(loads)
            dram_written += int(stores)
            dram_requests += int(m)
        return self._report(states, dram_read, dram_written, dram_requests, n, compute_cycles)

    def _report(self, states, dram_read, dram_written, dram_requests, rows, compute_cycles) -> Report:
        stats = [LevelStats(name=st.level.name, copies=st.copies, **st.totals()) for st in states]
        t = estimate(self.levels, stats, [st.copies for st in states], self.dram, dram_read, dram_written,
                     dram_requests, self.clock_hz, self.memory_parallelism, compute_cycles)
        return Report(levels=stats, dram_bytes_read=dram_read, dram_bytes_written=dram_written,
                      dram_requests=dram_requests, cycles=t["cycles"], seconds=t["seconds"],
                      energy_pj=t["energy_pj"], timing=t, device=self.name, rows=rows)


def _as_column(name: str, values, dtype, lo: int, hi: int) -> np.ndarray:
    """A contiguous column of ``dtype``; other integer (or bool) input is range-checked first, so a
    conversion never wraps silently."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MemsimError(f"column '{name}' must be 1-D, got shape {arr.shape}")
    if arr.dtype == np.bool_ and dtype == np.uint8:
        return np.ascontiguousarray(arr).view(np.uint8)
    if arr.dtype != dtype:
        if arr.size and arr.dtype.kind not in "iub":
            raise MemsimError(f"column '{name}' must be integers, got dtype {arr.dtype}")
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise MemsimError(f"column '{name}' has values in [{int(arr.min())}, {int(arr.max())}]; allowed {lo}..{hi}")
    return np.ascontiguousarray(arr, dtype=dtype)


class _Buffers:
    """Reused output columns of one level (reuse avoids paying page faults again every chunk)."""

    def __init__(self, size: int):
        self.size = 0
        self.ensure(max(size, 16))

    def ensure(self, size: int) -> None:
        if size <= self.size:
            return
        self.size = size
        self.a = np.empty(size, np.int64)
        self.n = np.empty(size, np.int32)
        self.w = np.empty(size, np.uint8)
        self.c = np.zeros(size, np.int32)
        self.idx = np.empty(size, np.int64)
        self.ma = np.empty(size, np.int64)
        self.mn = np.empty(size, np.int32)
        self.mw = np.empty(size, np.uint8)


def _per_core(st: CacheState, addr, nb, wr, core, pieces, buf: _Buffers):
    m = addr.shape[0]
    if st.copies == 1:
        out = K.shared_pass(addr, nb, wr, m, st.tags, st.stamp, st.valid, st.dirty, st.plru, st.meta, st.umeta,
                            st.stats, st.cfg, buf.a, buf.n, buf.w)
        buf.c[:out] = 0
        return buf.a, buf.n, buf.w, buf.c, int(out)
    order, starts, ostart = K.group_by_core(core, st.copies, pieces)
    ofill = np.zeros(st.copies, np.int64)
    K.per_core_pass(addr, nb, wr, order, starts, st.tags, st.stamp, st.valid, st.dirty, st.plru,
                    st.meta, st.umeta, st.stats, st.cfg, buf.idx, buf.a, buf.n, buf.w, ostart, ofill)
    out = K.merge_by_input(core, ostart, ofill, buf.idx, buf.a, buf.n, buf.w, buf.ma, buf.mn, buf.mw, buf.c)
    return buf.ma, buf.mn, buf.mw, buf.c, int(out)
