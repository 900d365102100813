"""Numba kernels of the line-stream path for multi-core hierarchies: per-core levels (one copy per core) and
shared levels, every level LRU with a recency order and unsectored, rows that are plain loads. Private:
smartmem_sim/memsim/hierarchy.py decides when it applies; _kernels_lines.py has the single-stream version,
_kernels_lines_level.py the level loop both use, _kernels_state.py the state layout.

Why: the general multi-core path sorts every row by core and passes requests (address, bytes, store
flag, row) between levels through buffers much larger than the host's caches, so it is bound by memory
traffic and two threads gain little over one. Here a chunk of rows goes in three parallel steps whose
buffers hold line numbers (and trace rows where an order must be kept), mostly heads of line runs:

1. cut_heads, one task per block of rows: every row is checked, and each core's rows in the block are
   cut to the heads of their line runs (a row on the line of its core's row before, within the block, is
   a run-length fast hit), written to that core's region of the head buffers with the row they came from.
   Every row is read once, by one thread.
2. core_levels, one task per core: the core's heads, block after block (so in row order), through its
   copies of the per-core levels (a head on the copy's last line is a fast hit too); the misses of the
   last per-core level, with their rows, split stably by set partition of the shared levels.
3. shared_levels, one task per set partition: every core's misses of that partition merged by row (the
   order the general path defines), then through the shared levels as line numbers, out to DRAM.

Same counts and state as the general path (tests/memsim/test_lines_cores.py): per-core copies never
interact, a row is one line of the first level (a crossing row sends the chunk to the general path), and
each set partition sees its requests in row order, as smartmem_sim/memsim/hierarchy.py describes. A chunk with a store,
a crossing row or a bad row goes through the general path instead (which raises the row's error), and
after a store no chunk comes here again (a dirty victim would need a write-back).
eed a write-back).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from smartmem_sim.memsim._kernels_lines_heads import (
    BLOCK,
    CHUNK_OTHER,
    CHUNK_PLAIN,
    CHUNK_STORE,
    _block_bits,
    _on_one_line,
)
from smartmem_sim.memsim._kernels_lines_level import _counted, _level, _level_body
from smartmem_sim.memsim._kernels_state import (
    ADDRESS_BITS,
    C_LINE_BITS,
    C_ROW_BASE,
    C_SET_BASE,
    C_SET_MASK,
    C_TAG_BASE,
    C_WAYS,
    DRAM_READ,
    DRAM_REQUESTS,
    META_LAST_LINE,
    ONE,
    ZERO,
    Levels,
    Rows,
)
from smartmem_sim.memsim._kernels_streams import merge_pick

# The path's buffers for chunks of rows cut into blocks (hcount.shape[0] of them) over the cores: per block
# and core, the line before the next row (last), head count, rows and bytes (hcount, nrows, nbytes); per
# block its kind (kind); per core, its heads' lines and rows (hline, hrow), and its misses of the last
# per-core level split by set partition (pline, prow, pcount per partition); per partition each core's next
# entry and end while merging (heads), and the merged lines (merged).
CoreBuffers = namedtuple("CoreBuffers", "last hline hrow hcount nrows nbytes kind pline prow pcount heads merged")


@njit(cache=True, parallel=True, _nrt=False)
def cut_heads(rows, one, r0, r1, size, lb, cb):
    """Rows r0..r1-1 in blocks of ``size`` rows (block b: r0 + b*size ...), one task per block (see
    _cut_block); with ``one``, the nbytes and write columns hold one value for every row (a load's: the
    caller checks)."""
    addr = rows.addr
    nb = rows.nbytes
    st = rows.write
    core = rows.core
    ncores = rows.ncores
    last = cb.last
    hline = cb.hline
    hrow = cb.hrow
    hcount = cb.hcount
    nrows = cb.nrows
    nbytes = cb.nbytes
    kind = cb.kind
    pline = cb.pline
    prow = cb.prow
    pcount = cb.pcount
    heads = cb.heads
    merged = cb.merged
    for b in prange(kind.shape[0]):  # (tuples taken apart and built again: see _kernels_streams.py)
        kind[b] = _cut_block(Rows(addr, nb, st, core, ncores), one, r0, r1, size, lb,
                             CoreBuffers(last, hline, hrow, hcount, nrows, nbytes, kind, pline, prow, pcount, heads,
                                         merged), np.int64(b))


@njit(cache=True, _nrt=False, inline="always")
def _hold(cb, b, c, j, line, nrows, nsum):
    """Write back the counters of core c that _cut_block held in registers."""
    cb.hcount[b, c] = j
    cb.last[b, c] = line
    cb.nrows[b, c] = nrows
    cb.nbytes[b, c] = nsum


@njit(cache=True, _nrt=False, inline="always")
def _core_bits(core, i, k, c0):
    """Bits where the core of a row among rows i..i+k-1 differs from c0 (an OR-reduction)."""
    cspread = ZERO
    for q in range(k):
        cspread |= np.uint64(np.int64(core[np.uint64(i + q)])) ^ c0
    return cspread


@njit(cache=True, _nrt=False, inline="always")
def _cut_bits(rows, one, i, k, n1, a0, c0):
    """Rows i..i+k-1, by OR-reductions only (vector code): (bits where a row's address differs from a0,
    bits where its core differs from c0, OR of the addresses and of nbytes - 1, OR of address ^ (its last
    byte's address), OR of the store flags, bytes). With ``one`` every row loads n1 + 1 bytes."""
    addr, nb, st, core = rows.addr, rows.nbytes, rows.write, rows.core
    if one:
        spread, high, cross = _block_bits(addr, i, k, n1, a0)
        return spread, _core_bits(core, i, k, c0), high | n1, cross, ZERO, np.int64(k) * np.int64(n1 + ONE)
    spread = ZERO
    high = ZERO
    cross = ZERO
    stores = ZERO
    nsum = np.int64(0)
    for q in range(k):
        u = np.uint64(i + q)
        a = np.uint64(addr[u])
        n = np.int64(nb[u])
        m1 = np.uint64(n - 1)
        spread |= a ^ a0
        high |= a | m1
        cross |= (a + m1) ^ a
        stores |= np.uint64(st[u])
        nsum += n
    return spread, _core_bits(core, i, k, c0), high, cross, stores, nsum


@njit(cache=True, _nrt=False)
def _cut_block(rows, one, r0, r1, size, lb, cb, b):
    """Block b of cut_heads (a function of its own: a prange body compiles to slower code). For every
    core c, the block's rows of core c are cut to the heads of their line runs (``cb.last[b, c]`` tracks
    the line of c's row before; -1 at the block start): heads go to cb.hline[c, b*size:] (lines of 2**lb
    bytes) and cb.hrow[c, b*size:] (row - r0), cb.hcount[b, c] of them; cb.nrows[b, c] and
    cb.nbytes[b, c] count c's rows and bytes. With ``one``, the nbytes and write columns hold one value
    for every row (a load's). Returns CHUNK_PLAIN,
    or CHUNK_STORE if a row is a store, or CHUNK_OTHER if a row is bad (address, nbytes, core) or crosses
    a line; then the counts are not all written.

    Rows go in groups of BLOCK, checked by OR-reductions (_cut_bits; with ``one``, first _core_bits and
    _on_one_line, which show most groups of aligned texels clean by less work): a group of one core on
    one line (a work-group's texel row of a line, say) adds at most one head; other groups go row by row.
    The counters of the core of the group before are held in registers (rows come in runs of one core: a
    work-group's)."""
    addr, nb, core, ncores = rows.addr, rows.nbytes, rows.core, rows.ncores
    last, hline, hrow, hcount, nrows, nbytes = cb.last, cb.hline, cb.hrow, cb.hcount, cb.nrows, cb.nbytes
    ulb = np.uint64(lb)
    uc = np.uint64(ncores)
    lo = r0 + b * size
    hi = min(r1, lo + size)
    for c in range(ncores):
        _hold(cb, b, c, np.int64(0), np.int64(-1), np.int64(0), np.int64(0))
    at = b * size
    high = ZERO  # OR of the addresses and of nbytes - 1: a bit at ADDRESS_BITS or above is bad
    cross = ZERO  # OR of address ^ (its last byte's address): a bit at lb or above crosses a line
    stores = ZERO
    n1 = np.uint64(np.int64(nb[0]) - 1)  # (with ``one``)
    cc = np.int64(-1)  # the core of the row before, whose counters are held in cj, cl, cr, cn
    cj = np.int64(0)
    cl = np.int64(-1)
    cr = np.int64(0)
    cn = np.int64(0)
    i = lo
    while i < hi:
        k = BLOCK if hi - i >= BLOCK else hi - i
        a0 = np.uint64(addr[np.uint64(i)])
        c0 = np.uint64(np.int64(core[np.uint64(i)]))
        if one and k == BLOCK and _core_bits(core, i, BLOCK, c0) == ZERO and _on_one_line(addr, i, n1, a0, ulb):
            whole = True  # one core, one line, and nothing for the checks
            nsum = np.int64(BLOCK) * np.int64(n1 + ONE)
        else:
            if k == BLOCK:  # a constant trip count: vector code
                spread, cspread, h, x, s, nsum = _cut_bits(rows, one, i, BLOCK, n1, a0, c0)
            else:
                spread, cspread, h, x, s, nsum = _cut_bits(rows, one, i, k, n1, a0, c0)
            high |= h
            cross |= x
            stores |= s
            whole = ((spread >> ulb) | cspread) == ZERO  # one core, one line
        for q in range(1 if whole else k):
            u = np.uint64(i + q)
            c = np.int64(core[u])
            if c != cc:
                if np.uint64(c) >= uc:
                    return CHUNK_OTHER  # (a bad row: the general path raises its error)
                if cc >= 0:
                    _hold(cb, b, cc, cj, cl, cr, cn)
                cc = c
                cj = hcount[b, c]
                cl = last[b, c]
                cr = nrows[b, c]
                cn = nbytes[b, c]
            line = np.int64(np.uint64(addr[u]) >> ulb)
            if line != cl:
                hline[c, at + cj] = line
                hrow[c, at + cj] = i + q - r0
                cj += 1
                cl = line
            if whole:
                cr += k
                cn += nsum
            else:
                cr += 1
                cn += np.int64(nb[np.uint64(0) if one else u])
        i += k
    if cc >= 0:
        _hold(cb, b, cc, cj, cl, cr, cn)
    if stores != ZERO:  # first: a store ends the path for good, whatever else the block holds
        return CHUNK_STORE
    if (high >> np.uint64(ADDRESS_BITS)) != ZERO or (cross >> ulb) != ZERO:
        return CHUNK_OTHER
    return CHUNK_PLAIN


# The level loop carrying each miss's row, one compiled loop per usual associativity (plain functions, not
# closures: see _kernels_lines_level._loop1).
@njit(cache=True, _nrt=False)
def _track1(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    return _level_body(S, at, 1, False, lines, m, shift, (last_line, np.int64(-1)), out, True, prints,
                       (True, rows, orow))


@njit(cache=True, _nrt=False)
def _track2(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    return _level_body(S, at, 2, False, lines, m, shift, (last_line, np.int64(-1)), out, True, prints,
                       (True, rows, orow))


@njit(cache=True, _nrt=False)
def _track4(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    return _level_body(S, at, 4, False, lines, m, shift, (last_line, np.int64(-1)), out, True, prints,
                       (True, rows, orow))


@njit(cache=True, _nrt=False)
def _track8(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    return _level_body(S, at, 8, True, lines, m, shift, (last_line, np.int64(-1)), out, True, prints,
                       (True, rows, orow))


@njit(cache=True, _nrt=False)
def _track16(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    return _level_body(S, at, 16, True, lines, m, shift, (last_line, np.int64(-1)), out, True, prints,
                       (True, rows, orow))


@njit(cache=True, _nrt=False)
def _track_any(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    return _level_body(S, at, ways, False, lines, m, shift, (last_line, np.int64(-1)), out, True, prints,
                       (True, rows, orow))


@njit(cache=True, _nrt=False)
def _track(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow):
    """Lines lines[:m] through one level copy (see _kernels_lines_level._level_body); misses to out[:k] with
    their rows in orow[:k] (out and orow may be lines and rows). Returns (k, hits, fast, last line, top)."""
    if ways == 16:
        return _track16(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow)
    if ways == 8:
        return _track8(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow)
    if ways == 4:
        return _track4(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow)
    if ways == 2:
        return _track2(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow)
    if ways == 1:
        return _track1(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow)
    return _track_any(S, at, ways, lines, m, shift, last_line, out, prints, rows, orow)


@njit(cache=True, parallel=True, _nrt=False)
def core_levels(S, nper, size, cb, prints, part_shift, nparts):
    """Copy c of the per-core levels 0..nper-1 takes core c's heads (cb.hline/hrow[c], cb.hcount[:, c] per
    block of ``size`` rows, see cut_heads), one task per core. Level 0's misses are packed at the front of
    hline/hrow[c] and go on through the next per-core levels in place. The last per-core level's misses,
    as its line numbers with their rows, are split stably by set partition ((line << lb) >> part_shift,
    nparts partitions): partition p's to cb.pline/prow[c, ...] from the sum of cb.pcount[c, :p],
    cb.pcount[c, p] of them. With no shared level they are DRAM reads of stream c instead."""
    cfg = S.cfg
    tags = S.tags
    stamp = S.stamp
    valid = S.valid
    dirty = S.dirty
    plru = S.plru
    meta = S.meta
    umeta = S.umeta
    stats = S.stats
    dram = S.dram
    last = cb.last
    hline = cb.hline
    hrow = cb.hrow
    hcount = cb.hcount
    nrows = cb.nrows
    nbytes = cb.nbytes
    kind = cb.kind
    pline = cb.pline
    prow = cb.prow
    pcount = cb.pcount
    heads = cb.heads
    merged = cb.merged
    fp = prints[0]
    epoch = prints[1]
    now = prints[2]
    for c in prange(hcount.shape[1]):  # (tuples taken apart and built again: see _kernels_streams.py)
        _core_task(Levels(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, dram), nper, np.int64(c), size,
                   CoreBuffers(last, hline, hrow, hcount, nrows, nbytes, kind, pline, prow, pcount, heads, merged),
                   (fp, epoch, now), part_shift, nparts)


@njit(cache=True, _nrt=False)
def _core_task(S, nper, c, size, cb, prints, part_shift, nparts):
    """core_levels' task for core c."""
    cfg, meta, dram = S.cfg, S.meta, S.dram
    hline, hrow, hcount, rows, nbytes = cb.hline, cb.hrow, cb.hcount, cb.nrows, cb.nbytes
    pline, prow, pcount = cb.pline, cb.prow, cb.pcount
    nblocks = hcount.shape[0]
    nlev = cfg.shape[0]
    lines = hline[c]
    rws = hrow[c]
    # level 0, block after block; its misses are packed from the front
    lb0 = cfg[0, C_LINE_BITS]
    sets = cfg[0, C_SET_MASK] + 1
    ways = cfg[0, C_WAYS]
    place = (cfg[0, C_TAG_BASE] + c * sets * ways, cfg[0, C_SET_BASE] + c * sets, cfg[0, C_SET_MASK])
    row = cfg[0, C_ROW_BASE] + c
    last_line = meta[row, META_LAST_LINE]
    m = 0
    hits = 0
    fast = 0
    nrows = 0
    bread = 0
    for b in range(nblocks):
        at = b * size
        k, h, f, last_line, _ = _track(S, place, ways, lines[at:], hcount[b, c], np.int64(0), last_line,
                                       lines[m:], prints, rws[at:], rws[m:])
        m += k
        hits += h
        fast += f + rows[b, c] - hcount[b, c]
        nrows += rows[b, c]
        bread += nbytes[b, c]
    _counted(S, row, nrows, hits, m, fast, bread, np.int64(1) << lb0, last_line)
    # the next per-core levels, in place
    for lv in range(1, nper):
        lbits = cfg[lv, C_LINE_BITS]
        sets = cfg[lv, C_SET_MASK] + 1
        ways = cfg[lv, C_WAYS]
        row = cfg[lv, C_ROW_BASE] + c
        last_line = meta[row, META_LAST_LINE]
        place = (cfg[lv, C_TAG_BASE] + c * sets * ways, cfg[lv, C_SET_BASE] + c * sets, cfg[lv, C_SET_MASK])
        k, h, f, last_line, _ = _track(S, place, ways, lines, m, lbits - cfg[lv - 1, C_LINE_BITS], last_line,
                                       lines, prints, rws, rws)
        _counted(S, row, m, h, k, f, m << cfg[lv - 1, C_LINE_BITS], np.int64(1) << lbits, last_line)
        m = k
    lbl = cfg[nper - 1, C_LINE_BITS]
    if nper == nlev:
        dram[c, DRAM_READ] += m << lbl
        dram[c, DRAM_REQUESTS] += m
        return
    pshift = np.uint64(max(part_shift - lbl, 0))  # (one partition: shift 0, mask 0)
    pmask = np.uint64(nparts - 1)
    for p in range(nparts):
        pcount[c, p] = 0
    for q in range(m):
        pcount[c, np.int64((np.uint64(lines[q]) >> pshift) & pmask)] += 1
    at = 0
    for p in range(nparts):  # pcount[c, p] becomes partition p's start, then its end
        n = pcount[c, p]
        pcount[c, p] = at
        at += n
    for q in range(m):
        p = np.int64((np.uint64(lines[q]) >> pshift) & pmask)
        j = pcount[c, p]
        pline[c, j] = lines[q]
        prow[c, j] = rws[q]
        pcount[c, p] = j + 1
    for p in range(nparts - 1, 0, -1):  # back from ends to counts
        pcount[c, p] -= pcount[c, p - 1]


@njit(cache=True, parallel=True, _nrt=False)
def shared_levels(S, nper, cb, prints):
    """Set partition p of the shared levels nper.. takes every core's misses in that partition
    (cb.pline/prow[c] from the sum of cb.pcount[c, :p], cb.pcount[c, p] of them, see core_levels) merged by
    row into cb.merged[p], then through the shared levels in place, stream p of each, one task per
    partition (partitions own disjoint sets, as in the general path); what leaves the last level is DRAM
    reads of stream p."""
    cfg = S.cfg
    tags = S.tags
    stamp = S.stamp
    valid = S.valid
    dirty = S.dirty
    plru = S.plru
    meta = S.meta
    umeta = S.umeta
    stats = S.stats
    dram = S.dram
    last = cb.last
    hline = cb.hline
    hrow = cb.hrow
    hcount = cb.hcount
    nrows = cb.nrows
    nbytes = cb.nbytes
    kind = cb.kind
    pline = cb.pline
    prow = cb.prow
    pcount = cb.pcount
    heads = cb.heads
    merged = cb.merged
    fp = prints[0]
    epoch = prints[1]
    now = prints[2]
    for p in prange(pcount.shape[1]):  # (tuples taken apart and built again: see _kernels_streams.py)
        _partition_task(Levels(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, dram), nper, np.int64(p),
                        CoreBuffers(last, hline, hrow, hcount, nrows, nbytes, kind, pline, prow, pcount, heads,
                                    merged), (fp, epoch, now))


@njit(cache=True, _nrt=False)
def _partition_task(S, nper, p, cb, prints):
    """shared_levels' task for set partition p."""
    cfg, meta, dram = S.cfg, S.meta, S.dram
    pline, prow, pcount, heads, merged = cb.pline, cb.prow, cb.pcount, cb.heads, cb.merged
    ncores = pcount.shape[0]
    nlev = cfg.shape[0]
    flat_line = pline.reshape(pline.size)  # (views: core c's entries from c * pline.shape[1])
    flat_row = prow.reshape(prow.size)
    h = heads[p, 0]  # per core: next entry, in the flat arrays
    ends = heads[p, 1]
    for c in range(ncores):
        start = c * pline.shape[1]
        for q in range(p):
            start += pcount[c, q]
        h[c] = start
        ends[c] = start + pcount[c, p]
    out = merged[p]
    j = 0
    while True:
        best, second = merge_pick(h, ends, flat_row)
        if best < 0:
            break
        q = h[best]
        end = ends[best]
        while q < end and flat_row[q] < second:
            out[j] = flat_line[q]
            j += 1
            q += 1
        h[best] = q
    m = np.int64(j)
    for lv in range(nper, nlev):
        lbits = cfg[lv, C_LINE_BITS]
        row = cfg[lv, C_ROW_BASE] + p
        last_line = meta[row, META_LAST_LINE]
        k, hits, f, last_line, _ = _level(S, (cfg[lv, C_TAG_BASE], cfg[lv, C_SET_BASE], cfg[lv, C_SET_MASK]),
                                          cfg[lv, C_WAYS], out, m, lbits - cfg[lv - 1, C_LINE_BITS],
                                          (last_line, np.int64(-1)), out, True, prints)
        _counted(S, row, m, hits, k, f, m << cfg[lv - 1, C_LINE_BITS], np.int64(1) << lbits, last_line)
        m = k
    lbl = cfg[nlev - 1, C_LINE_BITS]
    dram[p, DRAM_READ] += m << lbl
    dram[p, DRAM_REQUESTS] += m


@njit(cache=True, _nrt=False)
def cores_run(S, nper, rows, one, r, n, chunk, cb, keep, part_shift):
    """Rows r..n-1 in chunks of ``chunk`` rows (blocks of chunk // cb.hcount.shape[0]) through cut_heads,
    core_levels and shared_levels, while every chunk is plain loads. keep (a _kernels_lines.LineKeep) has
    the fingerprints, valid for epoch keep.clock[0]. Returns (the first row of the chunk that is not, or
    n; that chunk's kind)."""
    cfg = S.cfg
    kind = cb.kind
    nlev = cfg.shape[0]
    size = chunk // cb.hcount.shape[0]
    lb = cfg[0, C_LINE_BITS]
    nparts = cb.pcount.shape[1]
    prints = (keep.fp, keep.epoch, keep.clock[0])
    while r < n:
        r1 = min(n, r + chunk)
        cut_heads(rows, one, r, r1, size, lb, cb)
        k = CHUNK_PLAIN
        for b in range(kind.shape[0]):
            if kind[b] == CHUNK_STORE:
                return r, CHUNK_STORE
            if kind[b] != CHUNK_PLAIN:
                k = kind[b]
        if k != CHUNK_PLAIN:
            return r, k
        core_levels(S, nper, size, cb, prints, part_shift, nparts)
        if nper < nlev:
            shared_levels(S, nper, cb, prints)
        r = r1
    return r, CHUNK_PLAIN
