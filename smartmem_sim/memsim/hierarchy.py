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
- Every simulation starts with empty caches (a hierarchy keeps its state arrays and buffers between calls
  and empties them, which is much cheaper than allocating them for the many small traces a compiler
  sends). Rows are processed in chunks (state carries across chunks, which bounds memory and changes no
  count). A hierarchy whose levels all have one copy (one core, or no per-core level) runs each chunk
  through its levels in one thread. Otherwise the per-core levels run one copy per thread and the shared
  levels run as set partitions in parallel: a request's partition is a few address bits that are set-index
  bits of every shared level (the highest such bits, so a partition's sets lie together in memory; lines
  only grow, so a request and every request it causes below stay in one partition), sets never interact,
  and each partition sees its requests in the merged row order, so the counts stay exact. Partitions keep
  their own run-length fast path state, so ``fast_hits`` (a diagnostic) depends on the partitioning,
  which depends on the levels only, never on threads or chunk size. Shared levels with the ``random``
  policy are not partitioned (their victims come from one random sequence).
- Where every level is LRU with a recency order and unsectored, chunks of plain loads take a line-stream
  path: requests go between levels as line numbers, cut to the heads of line runs first
  (smartmem_sim/memsim/_kernels_lines.py for one stream, with whole runs of consecutive lines in closed form;
  smartmem_sim/memsim/_kernels_lines_cores.py for several cores). Same counts, same state; other chunks take the
  general path (smartmem_sim/memsim/_kernels_streams.py over _kernels_level.py and _kernels_access.py), and
  after a store every chunk does.
- Line sizes must not shrink towards memory, so a request from above always lies in one line below.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from smartmem_sim.memsim import _kernels_lines as L
from smartmem_sim.memsim import _kernels_lines_cores as LC
from smartmem_sim.memsim import _kernels_lines_heads as LH
from smartmem_sim.memsim import _kernels_state as K
from smartmem_sim.memsim import _kernels_streams as KS
from smartmem_sim.memsim.cache import CacheLevel, CacheState
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.report import LevelStats, Report
from smartmem_sim.memsim.timing import DramSpec, estimate
from smartmem_sim.memsim.trace import COLUMNS, Trace

CHUNK_REQUESTS = 1 << 21  # rows per chunk = CHUNK_REQUESTS // 2 (bounds buffer memory)
SERIAL_CHUNK_ROWS = 1 << 12  # the single-stream path: small chunks keep its buffers in the core's caches
# the multi-core line-stream path: rows per chunk (fewer with many cores); a chunk is three parallel steps, so
# large chunks keep the threads' start and wait small (10 M rows, 8 cores, 2 threads: 1.75x over one thread
# with 2**16 rows, 1.88x with 2**18 on the device host; benchmarks/results/bench_memsim.txt) ...
CORES_CHUNK_ROWS = 1 << 18
CORES_BLOCKS = 16  # ... cut into this many blocks, one task each
CORES_HEAD_ENTRIES = 1 << 21  # ... and at most this many head entries per buffer (cores x rows per chunk)
PARTITION_BITS = 3  # shared levels of a multi-core hierarchy run as up to 2**3 set partitions
COUNT_BLOCKS = 64  # blocks of the parallel counting sort of a chunk's rows by core


class Hierarchy:
    """Cache levels from the core outwards, then DRAM.

    Args:
        levels: CacheLevel list, per-core levels first, line sizes non-decreasing, unique names.
        cores: number of cores (copies of each per-core level); trace core ids are 0..cores-1.
        dram: DRAM bandwidth/latency/energy (DramSpec()), used by the estimate only.
        clock_hz: core clock for the estimate, Hz.
        memory_parallelism: requests in flight device-wide, for the latency term (smartmem_sim/memsim/timing.py).
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
        self._workspace: _Workspace | None = None  # state and buffers kept between simulations
        self._lock = threading.Lock()

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
        addrs = surfaces.resolve(trace, narrow=True)
        return self.simulate_resolved(addrs, trace.core, trace.write, trace.nbytes, compute_cycles)

    def partitioning(self) -> tuple[int, int]:
        """(shift, bits): shared levels of a multi-core run are split into 2**bits set partitions by
        address bits shift..shift+bits-1, which must be set-index bits of every shared level; (0, 0)
        when nothing is split. Depends on the levels only."""
        shared = [lvl for lvl in self.levels if not lvl.per_core]
        if not shared or self._single_stream() or any(lvl.policy == "random" for lvl in shared):
            return 0, 0
        low = max(lvl.line.bit_length() - 1 for lvl in shared)
        top = min(lvl.line.bit_length() - 1 + lvl.sets.bit_length() - 1 for lvl in shared)
        bits = max(0, min(PARTITION_BITS, top - low))
        # the highest such bits: a partition's sets are then contiguous in the state arrays, so two threads
        # never write the same cache line of recency words (the lowest bits interleaved them set by set,
        # and those shared lines cost more than the second thread gained)
        return (top - bits, bits) if bits else (0, 0)

    def _single_stream(self) -> bool:
        return all(self.copies(lvl) == 1 for lvl in self.levels)

    def _row_error(self, code: int, row: int, addrs, core, nbytes) -> MemsimError:
        if code == K.ERR_ADDRESS:
            return MemsimError(f"addresses must be >= 0 and below 2**62; row {row} has {int(addrs[row])}")
        if code == K.ERR_NBYTES:
            return MemsimError(f"nbytes must be positive; row {row} has {int(nbytes[row % nbytes.shape[0]])}")
        return MemsimError(f"trace column 'core': row {row} has core {int(core[row % core.shape[0]])}, but the "
                           f"hierarchy '{self.name}' has cores 0..{self.cores - 1}")

    def simulate_resolved(self, addrs, core, write, nbytes, compute_cycles: float | None = None) -> Report:
        """Simulate rows already turned into byte addresses, with their core ids, store flags and byte
        counts; same semantics as :meth:`simulate`. ``core``, ``write`` and ``nbytes`` may each be one
        value for every row (a scalar), which saves reading them row by row.

        Addresses are read as int64, or as int32 when given so (SurfaceTable.resolve(narrow=True) gives
        them for surfaces below 2 GiB): every pass over the rows reads each address, and int32 halves
        those bytes. Other integer dtypes are widened to int64 first (a copy)."""
        addrs = np.asarray(addrs)
        n = addrs.shape[0]
        if addrs.dtype.kind not in "iu":
            raise MemsimError(f"addresses must be integers, got dtype {addrs.dtype}")
        if addrs.dtype == np.uint64:
            addrs = addrs.view(np.int64)  # an address >= 2**63 turns negative and is caught below
        # (no uint32: numba types uint32 mixed with int64 as float in places; a negative int32 is caught below)
        addrs = np.ascontiguousarray(addrs, dtype=np.int32 if addrs.dtype == np.int32 else np.int64)
        core = _as_column("core", core, np.int32, 0, 2**31 - 1)
        write = _as_column("write", write, np.uint8, 0, 1)
        nbytes = _as_column("nbytes", nbytes, np.int32, 1, 2**31 - 1)
        scalars = [col.ndim == 0 for col in (core, write, nbytes)]
        if all(scalars) and int(core) >= self.cores:
            raise MemsimError(f"trace column 'core': every row has core {int(core)}, but the hierarchy "
                              f"'{self.name}' has cores 0..{self.cores - 1}")
        for name, col in (("core", core), ("write", write), ("nbytes", nbytes)):
            if col.ndim and col.shape[0] != n:
                raise MemsimError(f"addresses, core, write and nbytes must have the same length: {n} addresses, "
                                  f"{col.shape[0]} values of '{name}'")
        # the line-stream paths read one value for every row where they can: all three on a single stream,
        # write and nbytes beside a column of cores on several; the general path reads columns
        loads = scalars[1] and not write and self._line_stream()
        uniform = loads and all(scalars) and self._single_stream()
        one = loads and scalars[2] and not self._single_stream()
        if uniform:
            core, write, nbytes = (col.reshape(1) for col in (core, write, nbytes))
        elif one:
            write, nbytes = write.reshape(1), nbytes.reshape(1)
            core = np.full(n, core) if core.ndim == 0 else core
        else:
            core, write, nbytes = (np.full(n, col) if col.ndim == 0 else col for col in (core, write, nbytes))
        ws = self._take_workspace()
        try:
            state, dram = ws.state, ws.dram
            if n and self._single_stream():
                _serial(ws, addrs, nbytes, write, core, self, uniform)
            elif n and self._line_stream():
                _cores_lines(ws, addrs, nbytes, write, core, self, one)
            elif n:
                runner = ws.runner()
                rows = max(1024, CHUNK_REQUESTS // 2)
                for r0 in range(0, n, rows):
                    runner.run(addrs, nbytes, write, core, r0, min(n, r0 + rows))
            totals = dram.sum(axis=0)
            return self._report(state.states, int(totals[K.DRAM_READ]), int(totals[K.DRAM_WRITTEN]),
                                int(totals[K.DRAM_REQUESTS]), n, compute_cycles)
        finally:
            self._give_back(ws)

    def _line_stream(self) -> bool:
        """Whether every level suits the line-stream path (smartmem_sim/memsim/_kernels_lines.py): LRU with a recency
        order (at most K.ORDER_MAX_WAYS ways), unsectored lines."""
        return all(lvl.policy == "lru" and lvl.ways <= K.ORDER_MAX_WAYS and (lvl.sector or lvl.line) == lvl.line
                   for lvl in self.levels)

    def _take_workspace(self) -> _Workspace:
        """The kept workspace, emptied (resetting costs far less than allocating the state of a large level
        anew: ~0.3 ms per call for a 256 KiB L2); a fresh one while another thread simulates with it."""
        if self._lock.acquire(blocking=False):
            if self._workspace is None:
                self._workspace = _Workspace(self)
            else:
                self._workspace.reset()
            return self._workspace
        return _Workspace(self)

    def _give_back(self, ws: _Workspace) -> None:
        if ws is self._workspace:
            self._lock.release()

    def __getstate__(self) -> dict:
        # the workspace is a cache and a lock cannot be pickled
        return {k: v for k, v in self.__dict__.items() if k not in ("_workspace", "_lock")}

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self._workspace = None
        self._lock = threading.Lock()

    def _report(self, states, dram_read, dram_written, dram_requests, rows, compute_cycles) -> Report:
        stats = [LevelStats(name=st.level.name, copies=st.copies, **st.totals()) for st in states]
        t = estimate(self.levels, stats, [st.copies for st in states], self.dram, dram_read, dram_written,
                     dram_requests, self.clock_hz, self.memory_parallelism, compute_cycles)
        return Report(levels=stats, dram_bytes_read=dram_read, dram_bytes_written=dram_written,
                      dram_requests=dram_requests, cycles=t["cycles"], seconds=t["seconds"],
                      energy_pj=t["energy_pj"], timing=t, device=self.name, rows=rows)


def _as_column(name: str, values, dtype, lo: int, hi: int) -> np.ndarray:
    """A contiguous column of ``dtype`` (0-d for a scalar); other integer (or bool) input is range-checked
    first, so a conversion never wraps silently."""
    arr = np.asarray(values)
    if arr.ndim > 1:
        raise MemsimError(f"column '{name}' must be 1-D or one value, got shape {arr.shape}")
    if arr.dtype == np.bool_ and dtype == np.uint8:
        return np.ascontiguousarray(arr).view(np.uint8) if arr.ndim else arr.astype(np.uint8)
    if arr.dtype != dtype:
        if arr.size and arr.dtype.kind not in "iub":
            raise MemsimError(f"column '{name}' must be integers, got dtype {arr.dtype}")
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise MemsimError(f"column '{name}' has values in [{int(arr.min())}, {int(arr.max())}]; allowed {lo}..{hi}")
    return np.ascontiguousarray(arr, dtype=dtype) if arr.ndim else arr.astype(dtype)


class _State:
    """The flat state of all levels that the kernels walk (layout in smartmem_sim/memsim/_kernels_state.py); each
    level's CacheState keeps views into it, so its totals() see the kernels' counts."""

    def __init__(self, levels: list[CacheLevel], copies: list[int], lanes: list[int]):
        self.states = [CacheState(lvl, c, lanes=ln) for lvl, c, ln in zip(levels, copies, lanes, strict=True)]
        cfg = np.zeros((len(levels), K.NCFG), np.int64)
        tag_base = set_base = row_base = 0
        for i, st in enumerate(self.states):
            cfg[i, :K.C_TAG_BASE] = st.cfg
            cfg[i, K.C_TAG_BASE] = tag_base
            cfg[i, K.C_SET_BASE] = set_base
            cfg[i, K.C_ROW_BASE] = row_base
            cfg[i, K.C_LANES] = st.lanes
            tag_base += st.tags.size
            set_base += st.plru.size
            row_base += st.meta.shape[0]
        self.cfg = cfg
        self.names = ("tags", "stamp", "valid", "dirty", "plru", "meta", "umeta", "stats")
        for name in self.names:
            parts = [getattr(st, name) for st in self.states]
            rowwise = name in ("meta", "umeta", "stats")  # kept 2-D: one row per stream
            flat = np.concatenate(parts if rowwise else [p.ravel() for p in parts])
            setattr(self, name, flat)
            at = 0
            for st, p in zip(self.states, parts, strict=True):
                rows = p.shape[0] if rowwise else p.size
                setattr(st, name, flat[at:at + rows].reshape(p.shape))
                at += rows
        self._arrays = tuple(getattr(self, name) for name in self.names)
        # what reset() restores (CacheState.reset() in one go over the flat arrays: ~10 numpy calls, not
        # ~10 per level)
        self._start = {name: getattr(self, name).copy() for name in ("plru", "meta", "umeta")}
        self._stamps = [st.stamp for st in self.states if st.reads_stamps]

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self._arrays

    def reset(self) -> None:
        """Every level empty again, as CacheState.reset() leaves it (dirty masks cleared too)."""
        self.tags.fill(-1)
        self.dirty.fill(0)
        for stamp in self._stamps:
            stamp.fill(0)
        for name, start in self._start.items():
            np.copyto(getattr(self, name), start)
        self.stats.fill(0)


class _Workspace:
    """What a simulation writes besides its report: the levels' state, per-stream scratch and DRAM counters,
    request buffers. A hierarchy keeps one between calls and empties it with reset(); buffers only grow."""

    def __init__(self, h: Hierarchy):
        self.h = h
        self.shift, bits = h.partitioning()
        self.bits = bits
        self.state = _State(h.levels, [h.copies(lvl) for lvl in h.levels],
                            [1 if lvl.per_core else 1 << bits for lvl in h.levels])
        streams = max(h.cores, 1 << bits)
        self.dram = np.zeros((streams, 3), np.int64)
        self.S = K.Levels(self.state.cfg, *self.state.arrays(), self.dram)  # what every kernel takes
        # room for the (at most 2) requests one access() sends below, per parallel stream
        sa = np.empty((streams, 4), np.int64)
        self.scratch = K.Requests(sa, np.empty((streams, 4), np.int32), np.empty((streams, 4), np.uint8), sa)
        self.x = _Requests(0)
        self.y = _Requests(0)
        self._runner: _ChunkRunner | None = None
        self._lines: L.LineBuffers | None = None
        self._cores: _CoreBuffers | None = None
        # the line-stream path's highest line per level and its tag fingerprints: two words per set, the
        # epoch each set's words are for, the epoch now
        self.keep = L.LineKeep(np.empty(len(h.levels), np.int64), np.zeros(2 * self.state.plru.size, np.uint64),
                               np.zeros(self.state.plru.size, np.int64), np.zeros(1, np.int64))

    def reset(self) -> None:
        self.state.reset()
        self.dram.fill(0)

    def line_buffers(self, rows: int) -> L.LineBuffers:
        """The line-stream path's buffers of ``rows`` entries: three of line numbers (run heads, then
        ping-pong between levels) and one chunk of spelled-out nbytes, write and core columns."""
        if self._lines is None or self._lines.heads.shape[0] < rows:
            self._lines = L.LineBuffers(*(np.empty(rows, np.int64) for _ in range(3)), np.empty(rows, np.int32),
                                        np.empty(rows, np.uint8), np.empty(rows, np.int32))
        return self._lines

    def cores_buffers(self) -> _CoreBuffers:
        if self._cores is None:
            self._cores = _CoreBuffers(self.h.cores, 1 << self.bits)
        return self._cores

    def runner(self) -> _ChunkRunner:
        if self._runner is None:
            self._runner = _ChunkRunner(self.h, self.state, self.S, self.shift, self.bits, self.scratch)
        return self._runner


def _serial(ws: _Workspace, addrs, nbytes, write, core, h: Hierarchy, uniform: bool) -> None:
    """Every level has one copy and one stream: small chunks of rows go through all levels (state carries
    across chunks), by the line-stream path (smartmem_sim/memsim/_kernels_lines.py) where every level allows it and
    the chunk is plain loads, else by KS.serial_run. The kernels return early only on a bad row or on a
    row that crosses more lines than the buffers hold, which then grow."""
    n = addrs.shape[0]
    rows = max(16, min(SERIAL_CHUNK_ROWS, CHUNK_REQUESTS // 2))
    err = np.zeros(2, np.int64)
    scr = K.Requests(*(col[0] for col in ws.scratch))
    columns = K.Rows(addrs, nbytes, write, core, h.cores)
    room0 = 2 * rows + 16
    r = 0
    x, y = ws.x, ws.y
    lines = ws.line_buffers(rows) if h._line_stream() else None
    clean = np.bool_(True)
    while r < n:
        size = room0 << (len(h.levels) - 1)
        x.grow(size)
        y.grow(size)
        xy = (x.requests(), y.requests())
        if lines is not None:
            r, clean = L.serial_lines_run(ws.S, columns, np.bool_(uniform), r, rows, room0, err, xy, scr, lines,
                                          ws.keep, clean)
        else:
            r = KS.serial_run(ws.S, columns, r, n, rows, room0, err, xy, scr)
        if err[0] != K.ERR_NONE:
            raise h._row_error(int(err[0]), int(err[1]), addrs, core, nbytes)
        if r < n:  # row r crosses more lines than room0 requests cover
            row_bytes = int(nbytes[0 if uniform else r])
            lines_crossed = (int(addrs[r]) + row_bytes - 1) // h.levels[0].line - int(addrs[r]) // h.levels[0].line + 1
            room0 = max(room0, 2 * lines_crossed + 16)


def _cores_lines(ws: _Workspace, addrs, nbytes, write, core, h: Hierarchy, one: bool) -> None:
    """A multi-core hierarchy whose levels all suit the line-stream path: chunks of plain loads go through
    smartmem_sim/memsim/_kernels_lines_cores.py (cut to heads, per-core levels one task per core, shared levels one
    task per set partition); a chunk with a store, a crossing row or a bad row goes through the general
    path (which raises a bad row's error), and after a store every chunk does (dirty lines need write-backs).
    With ``one``, write and nbytes hold one value for every row (a load's), spelled out for the general path
    only if a chunk goes there."""
    n = addrs.shape[0]
    buf = ws.cores_buffers()
    nper = sum(1 for lvl in h.levels if lvl.per_core)
    clock = ws.keep.clock
    clock[0] += 1  # the fingerprints kept are from another simulation
    # cores_run cuts a whole chunk to heads before it finds a store and gives the chunk back: it is given
    # only the chunks before the first store's (the compiler's traces store in most chunks: the cut cost
    # ~12% of their simulation), and that chunk goes to the general path as cores_run would send it
    plain = n
    if not one:
        first = int(np.argmax(write.view(np.bool_)))  # (0 or 1 only: checked by _as_column)
        plain = first // buf.rows * buf.rows if write[first] else n
    r = 0
    while r < n:
        kind = LH.CHUNK_STORE
        if r < plain:
            r, kind = LC.cores_run(ws.S, nper, K.Rows(addrs, nbytes, write, core, h.cores), np.bool_(one), r,
                                   plain, buf.rows, buf.kernel, ws.keep, ws.shift)
            if r == plain and plain < n:
                kind = LH.CHUNK_STORE
        if r == n:
            break
        clock[0] += 1  # the general path changes tags without the fingerprints
        if one:  # (a bad nbytes value was refused before: this chunk has a crossing or bad row)
            write, nbytes = np.full(n, write[0]), np.full(n, nbytes[0])
            one = False
        r1 = n if kind == LH.CHUNK_STORE else min(n, r + buf.rows)  # after a store, the general path only
        for r0 in range(r, r1, buf.rows):
            ws.runner().run(addrs, nbytes, write, core, r0, min(r1, r0 + buf.rows))
        r = r1


class _CoreBuffers:
    """The multi-core line-stream path's buffers (see smartmem_sim/memsim/_kernels_lines_cores.py) for chunks of ``rows``."""

    def __init__(self, cores: int, parts: int):
        rows = max(CORES_BLOCKS * 16, min(CORES_CHUNK_ROWS, CORES_HEAD_ENTRIES // cores))
        self.rows = rows - rows % CORES_BLOCKS
        self.parts = parts
        last, hcount, nrows, nbytes = (np.zeros((CORES_BLOCKS, cores), np.int64) for _ in range(4))
        self.kernel = LC.CoreBuffers(
            last=last, hline=np.empty((cores, self.rows), np.int64), hrow=np.empty((cores, self.rows), np.int32),
            hcount=hcount, nrows=nrows, nbytes=nbytes, kind=np.zeros(CORES_BLOCKS, np.int64),
            pline=np.empty((cores, self.rows), np.int64), prow=np.empty((cores, self.rows), np.int32),
            pcount=np.zeros((cores, parts), np.int64),
            heads=np.zeros((parts, 2, cores), np.int64),  # per partition: each core's next entry, end
            merged=np.empty((parts, self.rows), np.int64))


class _Requests:
    """A reusable request buffer (address, bytes, store flag)."""

    def __init__(self, size: int):
        self.size = 0
        self.grow(size)

    def grow(self, size: int) -> None:
        if size > self.size:
            self.size = size
            self.a = np.empty(size, np.int64)
            self.n = np.empty(size, np.int32)
            self.w = np.empty(size, np.uint8)

    def requests(self) -> K.Requests:
        """The buffer as the kernels take it (no trace rows: ``a`` stands in for them)."""
        return K.Requests(self.a, self.n, self.w, self.a)


class _ChunkRunner:
    """The multi-core path, one chunk of rows at a time: group rows by core (parallel counting sort, which
    also checks every row), per-core levels one copy per thread, their output split by set partition,
    shared levels one partition per thread."""

    def __init__(self, hierarchy: Hierarchy, state: _State, S: K.Levels, shift: int, bits: int, scratch: K.Requests):
        self.h = hierarchy
        self.state = state
        self.S = S
        self.shift = shift
        self.parts = 1 << bits
        self.scratch = scratch
        self.nper = sum(1 for lvl in hierarchy.levels if lvl.per_core)
        self.nshared = len(hierarchy.levels) - self.nper
        cores = hierarchy.cores
        self.counts = np.zeros((COUNT_BLOCKS, cores), np.int64)
        self.pieces = np.zeros((COUNT_BLOCKS, cores), np.int64)
        self.err = np.zeros((COUNT_BLOCKS, 2), np.int64)
        self.perr = np.zeros((max(cores, self.parts), 2), np.int64)
        self.pcount = np.zeros((cores, self.parts), np.int64)
        self.ofill = np.zeros(cores, np.int64)
        self.oside = np.zeros(cores, np.int64)
        self.heads = np.zeros((self.parts, cores), np.int64)
        self.size = 0
        self.order = np.empty(0, np.int64)

    def _room(self, size: int) -> None:
        if size <= self.size:
            return
        self.size = size
        self.xy = (_new_requests(size), _new_requests(size))
        self.b = _new_requests(size)

    def run(self, addrs, nbytes, write, core, r0: int, r1: int) -> None:
        h, st = self.h, self.state
        rows = K.Rows(addrs, nbytes, write, core, h.cores)
        KS.count_rows(rows, r0, r1, st.cfg[0, K.C_LINE_BITS], self.counts, self.pieces, self.err)
        bad = self.err[:, 0] != K.ERR_NONE
        if bad.any():
            b = int(np.argmin(np.where(bad, self.err[:, 1], np.iinfo(np.int64).max)))
            raise h._row_error(int(self.err[b, 0]), int(self.err[b, 1]), addrs, core, nbytes)
        per_core = self.counts.sum(axis=0)
        starts = np.zeros(h.cores + 1, np.int64)
        np.cumsum(per_core, out=starts[1:])
        fill = starts[:-1] + np.cumsum(self.counts, axis=0) - self.counts  # stable: blocks in row order
        if self.order.shape[0] < r1 - r0:  # kept across chunks: a fresh array costs page faults every chunk
            self.order = np.empty(r1 - r0, np.int64)
        order = self.order[:r1 - r0]
        KS.order_rows(core, r0, r1, fill, order)
        # every line piece becomes at most 2 requests at each per-core level
        bound = self.pieces.sum(axis=0) << self.nper
        ostart = np.zeros(h.cores + 1, np.int64)
        np.cumsum(bound, out=ostart[1:])
        self._room(max(int(ostart[-1]), 16))
        out = KS.CoreOut(ostart, self.ofill, self.oside, self.pcount)
        KS.per_core_pass(self.S, self.nper, rows, order, starts, self.scratch, *self.xy, out, self.shift, self.perr)
        if self.nshared == 0:
            return
        pstart = ostart[:-1, None] + np.cumsum(self.pcount, axis=1) - self.pcount
        pend = pstart + self.pcount
        KS.split_by_part(out, pstart.copy(), self.shift, *self.xy, self.b)
        # partition p's merged stream and what each shared level sends below: at most 2x per level
        mstart = np.zeros(self.parts + 1, np.int64)
        np.cumsum(self.pcount.sum(axis=0) << self.nshared, out=mstart[1:])
        if int(mstart[-1]) > self.size:  # keep the split requests (b) while making room
            self.xy = (_new_requests(int(mstart[-1])), _new_requests(int(mstart[-1])))
        KS.shared_pass(self.S, self.nper, pstart, pend, self.b, mstart, *self.xy, self.scratch, self.heads, self.perr)


def _new_requests(size: int) -> K.Requests:
    return K.Requests(np.empty(size, np.int64), np.empty(size, np.int32), np.empty(size, np.uint8),
                      np.empty(size, np.int64))
