"""The stream drivers of the numba cache engine: they take a chunk of trace rows through every level with
level_pass (_kernels_level.py), on one thread (serial_run) or in parallel (count_rows, order_rows,
per_core_pass, split_by_part, shared_pass; smartmem_sim/memsim/hierarchy.py chains them). serial_run
drives the single-stream case in small chunks through all levels, so request buffers stay in cache.

A level's requests for the level below (fetch first, then write-back or forwarded store) are collected
for a whole chunk before the next level runs. No level looks at a level below it, so this gives every
level the same stream, in the same order, as handing each request down to memory before the next.

``xy`` is the pair of ``Requests`` buffers that consecutive levels ping-pong between (x and y in the
parallel kernels); ``scr`` has room for the requests of one access() per parallel stream (rows of 2-D
arrays, one per stream).

A prange body must not use a tuple made outside it, nor an array unpacked from one (``a, b = t``): numba
(0.68) hands such arrays to the parallel tasks so that their writes are lost. The parallel kernels
therefore take their tuples apart field by field (``a = t.a``) before the loop and build them again inside
it, for a task function that does the work and is not inlined (inlined, the tuples are built outside the
loop again).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from smartmem_sim.memsim._kernels_level import level_pass
from smartmem_sim.memsim._kernels_state import (
    ADDRESS_BITS,
    DRAM_READ,
    DRAM_REQUESTS,
    DRAM_WRITTEN,
    ERR_ADDRESS,
    ERR_CORE,
    ERR_NBYTES,
    ERR_NONE,
    Levels,
    Requests,
)

# Where per_core_pass leaves each copy's output: copy c's region of the xy buffers starts at start[c]
# (start[c + 1] ends it), fill[c] requests in xy[side[c]], pcount[c, p] of them in set partition p.
CoreOut = namedtuple("CoreOut", "start fill side pcount")


@njit(cache=True, _nrt=False)
def to_dram(reqs, lo, hi, dram, drow):
    """Requests lo..hi-1 leave the last level: fetches are DRAM reads, stores DRAM writes."""
    nb = reqs.n
    wr = reqs.w
    rd = 0
    wt = 0
    for q in range(lo, hi):
        if wr[q] != 0:
            wt += nb[q]
        else:
            rd += nb[q]
    dram[drow, DRAM_READ] += rd
    dram[drow, DRAM_WRITTEN] += wt
    dram[drow, DRAM_REQUESTS] += hi - lo


@njit(cache=True, _nrt=False)
def _chain(S, l0, l1, copy, lane, m, track, xy, lo, cap, scr, err):
    """m requests at xy[0][lo:] through levels l0..l1-1 (one pass per level, ping-pong between xy[0] and
    xy[1], each with room cap - lo from lo). Returns (which: 0 = xy[0], 1 = xy[1], holding the output, its
    count)."""
    # level_pass takes flat arrays (see _kernels_state.py), unpacked here once
    cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats = (S.cfg, S.tags, S.stamp, S.valid, S.dirty, S.plru,
                                                                 S.meta, S.umeta, S.stats)
    xa, xn, xw, xr = xy[0].a, xy[0].n, xy[0].w, xy[0].row
    ya, yn, yw, yr = xy[1].a, xy[1].n, xy[1].w, xy[1].row
    sa, sn, sw = scr.a, scr.n, scr.w
    which = 0
    rowmode = np.int64(2) if track else np.int64(0)
    no = np.bool_(False)  # (typed values, not literals: one compiled level_pass serves every caller)
    zero = np.int64(0)
    for lv in range(l0, l1):
        if which == 0:
            _, end = level_pass(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                                xa, xn, xw, xr, xr, lo, lo + m, no, rowmode, no, xn, zero, err,
                                ya, yn, yw, yr, lo, cap, sa, sn, sw)
        else:
            _, end = level_pass(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                                ya, yn, yw, yr, yr, lo, lo + m, no, rowmode, no, yn, zero, err,
                                xa, xn, xw, xr, lo, cap, sa, sn, sw)
        m = end - lo
        which = 1 - which
    return which, m


@njit(cache=True, parallel=True, _nrt=False)
def per_core_pass(S, nper, rows, order, starts, scr, x, y, out, part_shift, err):
    """Copy c of the per-core levels 0..nper-1 runs rows order[starts[c]:starts[c+1]] in order; copies are
    independent, so they run in parallel, each in its region [out.start[c], out.start[c+1]) of the buffers.
    Copy c's requests leaving level nper-1 (with the row that caused them) end in x (out.side[c] = 0) or
    y (1) from out.start[c], out.fill[c] of them, counted per set partition of the shared levels in
    out.pcount[c]; with no shared levels they go to DRAM (S.dram[c])."""
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
    addr = rows.addr
    nbytes = rows.nbytes
    write = rows.write
    sa = scr.a
    sn = scr.n
    sw = scr.w
    xa = x.a
    xn = x.n
    xw = x.w
    xr = x.row
    ya = y.a
    yn = y.n
    yw = y.w
    yr = y.row
    ostart = out.start
    ofill = out.fill
    oside = out.side
    pcount = out.pcount
    for c in prange(starts.shape[0] - 1):
        _copy_pass(Levels(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, dram), nper,
                   np.int64(c),  # typed values, not literals or the prange index type: one compiled level_pass
                   Requests(addr, nbytes, write, addr), order, starts, Requests(sa[c], sn[c], sw[c], sa[c]),
                   (Requests(xa, xn, xw, xr), Requests(ya, yn, yw, yr)), CoreOut(ostart, ofill, oside, pcount),
                   part_shift, err[c])


@njit(cache=True, _nrt=False)
def _copy_pass(S, nper, c, src, order, starts, scr, xy, out, part_shift, err):
    """per_core_pass's task for copy c (src: the trace rows as requests; scr: the copy's scratch)."""
    x, y = xy
    nparts = out.pcount.shape[1]
    zero = np.int64(0)
    lo = out.start[c]
    cap = out.start[c + 1]
    # level_pass takes flat arrays (see _kernels_state.py)
    _, end = level_pass(S.cfg, zero, c, zero, S.tags, S.stamp, S.valid, S.dirty, S.plru, S.meta, S.umeta, S.stats,
                        src.a, src.n, src.w, src.a, order, starts[c], starts[c + 1], np.bool_(True), np.int64(1),
                        np.bool_(False), src.n, zero, err, x.a, x.n, x.w, x.row, lo, cap, scr.a, scr.n, scr.w)
    which, m = _chain(S, np.int64(1), nper, c, zero, end - lo, np.bool_(True), xy, lo, cap, scr, err)
    out.fill[c] = m
    out.side[c] = which
    for p in range(nparts):
        out.pcount[c, p] = 0
    if nper == S.cfg.shape[0]:
        if which == 0:
            to_dram(x, lo, lo + m, S.dram, c)
        else:
            to_dram(y, lo, lo + m, S.dram, c)
    else:
        for q in range(lo, lo + m):
            a = x.a[q] if which == 0 else y.a[q]
            out.pcount[c, (a >> part_shift) & (nparts - 1)] += 1


@njit(cache=True, parallel=True, _nrt=False)
def count_rows(rows, r0, r1, line_bits, counts, pieces, err):
    """Block b of rows r0..r1-1 (blocks = counts.shape[0]): rows per core (counts[b]), lines of size
    2**line_bits they touch per core (pieces[b]); the first bad row of the block in err[b] = (code, row)."""
    addr = rows.addr
    nb = rows.nbytes
    core = rows.core
    ncores = rows.ncores
    nblocks = counts.shape[0]
    size = (r1 - r0 + nblocks - 1) // nblocks
    for b in prange(nblocks):
        lo = r0 + b * size
        hi = min(r1, lo + size)
        for c in range(ncores):
            counts[b, c] = 0
            pieces[b, c] = 0
        err[b, 0] = ERR_NONE
        for i in range(lo, hi):
            a = addr[i]
            n = np.int64(nb[i])
            c = core[i]
            if (a >> ADDRESS_BITS) != 0:
                err[b, 0] = ERR_ADDRESS
            elif n <= 0:
                err[b, 0] = ERR_NBYTES
            elif c < 0 or c >= ncores:
                err[b, 0] = ERR_CORE
            if err[b, 0] != ERR_NONE:
                err[b, 1] = i
                break
            counts[b, c] += 1
            pieces[b, c] += ((a + n - 1) >> line_bits) - (a >> line_bits) + 1


@njit(cache=True, parallel=True, _nrt=False)
def order_rows(core, r0, r1, fill, order):
    """Counting-sort scatter: row i of block b goes to order[fill[b, core[i]]++] (fill: start positions)."""
    nblocks = fill.shape[0]
    size = (r1 - r0 + nblocks - 1) // nblocks
    for b in prange(nblocks):
        lo = r0 + b * size
        hi = min(r1, lo + size)
        for i in range(lo, hi):
            c = core[i]
            order[fill[b, c]] = i
            fill[b, c] += 1


@njit(cache=True, parallel=True, _nrt=False)
def split_by_part(out, pstart, part_shift, x, y, b):
    """Copy c's output requests (in x or y, per out.side[c]), stably sorted by set partition: partition p's
    go to b[pstart[c, p]:] (pstart is advanced to the ends)."""
    nparts = pstart.shape[1]
    ostart = out.start
    ofill = out.fill
    oside = out.side
    xa = x.a
    xn = x.n
    xw = x.w
    xr = x.row
    ya = y.a
    yn = y.n
    yw = y.w
    yr = y.row
    ba = b.a
    bn = b.n
    bw = b.w
    brow = b.row
    for c in prange(ofill.shape[0]):
        if oside[c] == 0:
            _split(ostart[c], ofill[c], pstart[c], part_shift, nparts, Requests(xa, xn, xw, xr),
                   Requests(ba, bn, bw, brow))
        else:
            _split(ostart[c], ofill[c], pstart[c], part_shift, nparts, Requests(ya, yn, yw, yr),
                   Requests(ba, bn, bw, brow))


@njit(cache=True, _nrt=False)
def _split(lo, m, pstart, part_shift, nparts, src, b):
    # not inlined: the tuples built for it in the prange body must stay there (see the module docstring)
    for q in range(lo, lo + m):
        p = (src.a[q] >> part_shift) & (nparts - 1)
        j = pstart[p]
        b.a[j] = src.a[q]
        b.n[j] = src.n[q]
        b.w[j] = src.w[q]
        b.row[j] = src.row[q]
        pstart[p] = j + 1


@njit(cache=True, _nrt=False, inline="always")
def merge_pick(h, ends, rows):
    """One step of merging sorted streams by row: stream c's next entry is h[c] (it has entries while
    h[c] < ends[c]) and its row rows[h[c]]. Returns (the stream with the smallest next row, -1 if all are
    done; the smallest next row of any other stream, a bound: the chosen stream's entries before it come
    next, in order, without looking again)."""
    big = np.int64(1) << 62
    best = -1
    row0 = big
    second = big
    for c in range(h.shape[0]):
        if h[c] < ends[c]:
            r = np.int64(rows[h[c]])
            if r < row0:
                second = row0
                row0 = r
                best = c
            elif r < second:
                second = r
    return best, second


@njit(cache=True, parallel=True, _nrt=False)
def shared_pass(S, l0, pstart, pend, b, mstart, x, y, scr, heads, err):
    """Set partition p of the shared levels l0.. sees its requests from every copy merged by the row that
    caused them (row order; a row's requests come from one copy, in order): b[pstart[c, p]:pend[c, p]]
    for copy c, merged into x[mstart[p]:], then one pass per shared level in its region
    [mstart[p], mstart[p + 1]). Partitions own disjoint sets of every shared level, so they run in
    parallel; p's DRAM traffic goes to S.dram[p]."""
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
    ba = b.a
    bn = b.n
    bw = b.w
    brow = b.row
    xa = x.a
    xn = x.n
    xw = x.w
    xr = x.row
    ya = y.a
    yn = y.n
    yw = y.w
    yr = y.row
    sa = scr.a
    sn = scr.n
    sw = scr.w
    for p in prange(pstart.shape[1]):
        _partition_pass(Levels(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, dram), l0, np.int64(p),
                        pstart, pend, Requests(ba, bn, bw, brow), mstart,
                        (Requests(xa, xn, xw, xr), Requests(ya, yn, yw, yr)), Requests(sa[p], sn[p], sw[p], sa[p]),
                        heads[p], err[p])


@njit(cache=True, _nrt=False)
def _partition_pass(S, l0, p, pstart, pend, b, mstart, xy, scr, h, err):
    """shared_pass's task for set partition p (scr: its scratch; h: its merge heads, one per copy)."""
    x, y = xy
    brow = b.row
    for c in range(pstart.shape[0]):
        h[c] = pstart[c, p]
    j = mstart[p]
    while True:
        best, second = merge_pick(h, pend[:, p], brow)
        if best < 0:
            break
        q = h[best]
        end = pend[best, p]
        while q < end and brow[q] < second:
            x.a[j] = b.a[q]
            x.n[j] = b.n[q]
            x.w[j] = b.w[q]
            j += 1
            q += 1
        h[best] = q
    lo = mstart[p]
    which, m = _chain(S, l0, np.int64(S.cfg.shape[0]), np.int64(0), p, j - lo, np.bool_(False), xy, lo,
                      mstart[p + 1], scr, err)
    if which == 0:
        to_dram(x, lo, lo + m, S.dram, p)
    else:
        to_dram(y, lo, lo + m, S.dram, p)


@njit(cache=True, _nrt=False)
def serial_run(S, rows, r, n, chunk, room0, err, xy, scr):
    """serial_chunks for the hierarchy: the state S, the trace's columns ``rows``, the ping-pong buffers xy
    and the scratch scr as tuples."""
    return serial_chunks(S.cfg, S.tags, S.stamp, S.valid, S.dirty, S.plru, S.meta, S.umeta, S.stats, rows.addr,
                         rows.nbytes, rows.write, rows.core, rows.ncores, r, n, chunk, room0, err, xy[0].a, xy[0].n,
                         xy[0].w, xy[1].a, xy[1].n, xy[1].w, scr.a, scr.n, scr.w, S.dram)


@njit(cache=True, _nrt=False)
def serial_chunks(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, addr, nb, st, core, ncores, r, n, rows,
                  room0, err, xa, xn, xw, ya, yn, yw, sa, sn, sw, dram):
    """The single-stream path (every level one copy, one lane): rows r..n-1 in chunks of ``rows``, each
    chunk through every level (one pass per level, ping-pong between x* and y*) and out to DRAM before the
    next. Small chunks keep the request buffers in the core's caches. Level 0 may write ``room0`` requests
    per chunk; x* and y* hold room0 << (levels - 1) (a request from above lies in one line here, so a level
    sends at most 2 per request). Returns the row where it stopped: n when done, earlier on a bad row (err
    set) or a row that needs more than room0 requests (the caller grows the buffers and calls again)."""
    nlev = cfg.shape[0]
    zero = np.int64(0)
    no = np.bool_(False)
    cap = xa.shape[0]
    while r < n:
        r1 = min(n, r + rows)
        k, m = level_pass(cfg, zero, zero, zero, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                          addr, nb, st, addr, addr, r, r1, no, zero, np.bool_(True), core, ncores, err,
                          xa, xn, xw, xa, zero, room0, sa, sn, sw)
        if err[0] != ERR_NONE or k == r:
            return r
        which = 0
        for lv in range(1, nlev):
            lvi = np.int64(lv)
            if which == 0:
                _, m = level_pass(cfg, lvi, zero, zero, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                                  xa, xn, xw, xa, xa, zero, m, no, zero, no, xn, zero, err,
                                  ya, yn, yw, ya, zero, cap, sa, sn, sw)
            else:
                _, m = level_pass(cfg, lvi, zero, zero, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                                  ya, yn, yw, ya, ya, zero, m, no, zero, no, yn, zero, err,
                                  xa, xn, xw, xa, zero, cap, sa, sn, sw)
            which = 1 - which
        if which == 0:
            to_dram(Requests(xa, xn, xw, xa), 0, m, dram, 0)
        else:
            to_dram(Requests(ya, yn, yw, ya), 0, m, dram, 0)
        r = k
    return r
