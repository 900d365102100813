"""Numba kernels of the line-stream path: the single-stream case when every level keeps an LRU recency
order and unsectored lines (the usual texture L1 + L2) and the rows are plain loads. Private:
smartmem_sim/memsim/hierarchy.py decides when it applies and _kernels_state.py has the state layout; the
cut to run heads is in _kernels_lines_heads.py, the level loops in _kernels_lines_level.py.

Why a second path: on such levels a load changes nothing but its line's place in its set, so what a
level needs from its input is the sequence of *lines*, not of requests. A chunk of rows is first cut
down to the heads of its line runs (a row on the line of the row before it is a run-length fast hit:
counted, nothing else), in one pass that also checks every row (blocks of 8 rows on one line give one
head, and one OR-reduction over a block shows most blocks of aligned texels clean); each level then walks
a plain int64 array of line numbers and sends its misses down as line numbers. Nothing carries bytes,
store flags or trace rows between levels. Each usual associativity gets a loop compiled for it (constant
trip counts: the tag compare is vector code); 8- and 16-way levels find a line by one-byte fingerprints
of their tags, 8 ways per word, and read a tag only to confirm; a miss moves its victim from the back to
the front of the recency order with one shift.

Runs of consecutive lines (a buffer or an image row read in order) go whole: when a chunk's heads are
one such run and every line of it lies above the highest line the level holds (``top``, an upper bound
kept per level), each line of the run is a miss, so no tag is compared. The level's state ends as if the
lines had been filled one by one (the last sets x ways lines are filled; earlier ones would be evicted
again in their set, and only their turns of the recency order are applied), and the misses go down as
the same run. This is the closed form for streaming reads; everything else goes line by line.

Two-level hierarchies of the usual associativities (FUSED_WAYS) take a chunk whose heads jump (a tiled
texture walk, random texels) in one pass instead: each head goes down L1 and, on a miss, L2 before the
next rows are read, with no line array between the levels (_fused_chunk). Which way a chunk goes follows
the chunk before (one run: cut first; heads that jumped: one pass); both give the same counts.

It changes the same state in the same order as the general path (_kernels_level.level_pass):
same victims, clock ticks, counters (``fast_hits`` included: a level's fast hits are the requests on the
line of its request before, across chunks too) and DRAM traffic. Stores are what it does not model: a
chunk with a store, a row that crosses a line or a bad row goes through the general path (serial_run),
and after a store no chunk takes this path again, because a dirty line would make a victim send a
write-back, which line numbers cannot carry. tests/memsim/test_lines_path.py holds the two paths to the
same state and to the Python model.

``S`` is the state (a _kernels_state.Levels), ``prints`` the fingerprints (two words per set, the epoch
each set's words are for, the epoch now) and ``keep`` what the path keeps between calls (LineKeep).
The unsectored levels of this path never write ``valid`` (see _kernels_state.py: it is not read).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from smartmem_sim.memsim._kernels_lines_heads import (
    BLOCK,
    CHUNK_PLAIN,
    CHUNK_STORE,
    _block_bits,
    _column_checks,
    _on_one_line,
    line_heads,
)
from smartmem_sim.memsim._kernels_lines_level import _counted, _fill_new_run, _level, _touch, refresh_tops
from smartmem_sim.memsim._kernels_state import (
    C_LINE_BITS,
    C_ROW_BASE,
    C_SET_BASE,
    C_SET_MASK,
    C_TAG_BASE,
    C_WAYS,
    DRAM_READ,
    DRAM_REQUESTS,
    ERR_NONE,
    META_LAST_LINE,
    ZERO,
)
from smartmem_sim.memsim._kernels_streams import serial_chunks

# What the line-stream paths keep between calls: the highest line per level (an upper bound), the
# fingerprints (two words per set, the epoch each set's words are for) and clock[0], the epoch now.
LineKeep = namedtuple("LineKeep", "top fp epoch clock")
# The single-stream path's buffers of one chunk: run heads, two line arrays to ping-pong between levels, and
# the nbytes, write and core columns spelled out for serial_run.
LineBuffers = namedtuple("LineBuffers", "heads a b nbytes write core")


@njit(cache=True, _nrt=False, inline="always")
def _down2(line, tags, plru, fp, epoch, now, cb1, pb1, sm1, w1, fp1, shift2, cb2, pb2, sm2, w2, fp2, last2):
    """A run head's line through two levels (_touch): returns (L1 hit, L2 line or -1 if the L1 hit, L2 hit,
    L2 fast hit)."""
    if _touch(line, tags, plru, cb1, pb1, sm1, w1, fp, epoch, now, fp1):
        return True, np.int64(-1), False, False
    l2 = line >> np.uint64(shift2)
    if l2 == last2:
        return False, l2, False, True
    return False, l2, _touch(l2, tags, plru, cb2, pb2, sm2, w2, fp, epoch, now, fp2), False


@njit(cache=True, _nrt=False, inline="always")
def _fused2_body(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, w1, fp1, shift2, cb2, pb2,
                 sm2, w2, fp2, last2, top1, top2):
    """Loads of rows lo..hi-1 (n1 + 1 bytes each) straight down two levels in one pass: blocks of BLOCK rows
    are checked as in _block_heads, and each run head goes down L1 and, on a miss, L2 before the next row
    is read, so no line buffer lies between the levels and the first read of the addresses overlaps the
    level work. Stops before the first block with a bad or line-crossing row. Returns (the row where it
    stopped, heads, L1 hits, L2 hits, L2 fast hits, L2 misses, last L1 line, last L2 line, top1, top2,
    nonzero unless the heads look like one run of consecutive lines, judged from row lo's line, the last
    head and their count). Inlined into one function per pair of usual associativities (constants ``w1``,
    ``w2``, ``fp1``, ``fp2``)."""
    ulb = np.uint64(lb)
    heads = 0
    hits2 = 0
    fast2 = 0
    misses2 = 0
    line0 = np.int64(np.uint64(addr[np.uint64(lo)]) >> ulb)  # (lo < hi)
    i = lo
    while i < hi:
        k = BLOCK if hi - i >= BLOCK else hi - i
        a0 = np.uint64(addr[np.uint64(i)])
        same = k == BLOCK and _on_one_line(addr, i, n1, a0, ulb)
        if not same:
            spread, high, cross = _block_bits(addr, i, k, n1, a0)
            if ((high >> np.uint64(62)) | (cross >> ulb)) != ZERO:
                break
            same = (spread >> ulb) == ZERO
        for q in range(1 if same else k):
            line = np.int64(np.uint64(addr[np.uint64(i + q)]) >> ulb)
            if line == last1:
                continue
            last1 = line
            heads += 1
            hit1, l2, hit2, f2 = _down2(line, tags, plru, fp, epoch, now, cb1, pb1, sm1, w1, fp1, shift2, cb2, pb2,
                                        sm2, w2, fp2, last2)
            if hit1:
                continue
            top1 = max(top1, line)
            if f2:
                fast2 += 1
                continue
            last2 = l2
            if hit2:
                hits2 += 1
            else:
                misses2 += 1
                top2 = max(top2, l2)
        i += k
    # heads on consecutive lines span as many lines as they are (one more if row lo was no head): checked at
    # the end, not head by head, as it only picks how the next chunk goes
    span = last1 - line0
    jumps = np.uint64(heads > 0 and span != heads - 1 and span != heads)
    return i, heads, heads - (hits2 + fast2 + misses2), hits2, fast2, misses2, last1, last2, top1, top2, jumps


# One compiled pass per pair of usual associativities of a two-level hierarchy (the texture L1 + L2);
# plain functions, not closures (see _kernels_lines_level._loop1). Other pairs take the level-by-level loops.
@njit(cache=True, _nrt=False)
def _fused_4_8(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2, sm2, last2,
               top1, top2):
    return _fused2_body(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, 4, False, shift2, cb2,
                        pb2, sm2, 8, True, last2, top1, top2)


@njit(cache=True, _nrt=False)
def _fused_4_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2, sm2, last2,
                top1, top2):
    return _fused2_body(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, 4, False, shift2, cb2,
                        pb2, sm2, 16, True, last2, top1, top2)


@njit(cache=True, _nrt=False)
def _fused_8_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2, sm2, last2,
                top1, top2):
    return _fused2_body(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, 8, True, shift2, cb2,
                        pb2, sm2, 16, True, last2, top1, top2)


@njit(cache=True, _nrt=False)
def _fused_16_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2, sm2, last2,
                 top1, top2):
    return _fused2_body(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, 16, True, shift2, cb2,
                        pb2, sm2, 16, True, last2, top1, top2)


FUSED_WAYS = ((4, 8), (4, 16), (8, 16), (16, 16))  # the pairs with a compiled pass (fused_shape)


@njit(cache=True, _nrt=False)
def fused_shape(cfg):
    """Index into FUSED_WAYS of a two-level hierarchy's pair of associativities, or -1."""
    if cfg.shape[0] != 2:
        return -1
    w1 = cfg[0, C_WAYS]
    w2 = cfg[1, C_WAYS]
    if w1 == 4 and w2 == 8:
        return 0
    if w1 == 4 and w2 == 16:
        return 1
    if w1 == 8 and w2 == 16:
        return 2
    if w1 == 16 and w2 == 16:
        return 3
    return -1


@njit(cache=True, _nrt=False)
def _fused_chunk(S, shape, addr, lo, hi, nbytes1, total, top, prints):
    """Rows lo..hi-1, loads of nbytes1 bytes each, or (nbytes1 = -1) of ``total`` bytes in all, checked by
    the caller, through a two-level hierarchy of shape ``shape`` in one pass (_fused2_body); counters,
    last lines and tops written as _lines_chunk writes them. Returns (the row where it stopped: a block
    with a bad or crossing row, or hi; nonzero unless its heads look like one run of consecutive lines)."""
    # (callers give lo < hi.) This guard also sets where the fused passes below land in serial_lines_run's
    # machine code: with it they start at the same offset mod 64 as in the baseline before the split (the
    # pass is the same machine code as there). Placement alone moved random int32 loads by 6-9% (issue 19):
    # check the offsets (bench README) after editing serial_lines_run, _column_checks or this function.
    if hi <= lo:
        return lo, ZERO
    cfg, meta, dram = S.cfg, S.meta, S.dram
    r1 = cfg[0, C_ROW_BASE]
    r2 = cfg[1, C_ROW_BASE]
    lb = cfg[0, C_LINE_BITS]
    lb2 = cfg[1, C_LINE_BITS]
    at1 = (cfg[0, C_TAG_BASE], cfg[0, C_SET_BASE], cfg[0, C_SET_MASK])
    at2 = (cfg[1, C_TAG_BASE], cfg[1, C_SET_BASE], cfg[1, C_SET_MASK])
    n1 = np.uint64(max(nbytes1, 1) - 1)  # (the columns' rows were checked: none crosses a line)
    tags, plru = S.tags, S.plru
    fp, epoch, now = prints
    cb1, pb1, sm1 = at1
    cb2, pb2, sm2 = at2
    shift2 = lb2 - lb
    last1 = meta[r1, META_LAST_LINE]
    last2 = meta[r2, META_LAST_LINE]
    if shape == 0:
        out = _fused_4_8(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2, sm2,
                         last2, top[0], top[1])
    elif shape == 1:
        out = _fused_4_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2,
                          sm2, last2, top[0], top[1])
    elif shape == 2:
        out = _fused_8_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2,
                          sm2, last2, top[0], top[1])
    else:
        out = _fused_16_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, cb1, pb1, sm1, shift2, cb2, pb2,
                           sm2, last2, top[0], top[1])
    stop, heads, hits1, hits2, fast2, misses2, last1, last2, top[0], top[1], jumps = out
    rows = stop - lo
    misses1 = heads - hits1
    bread = rows * nbytes1 if nbytes1 > 0 else total
    _counted(S, r1, rows, hits1, misses1, rows - heads, bread, np.int64(1) << lb, last1)
    _counted(S, r2, misses1, hits2, misses2, fast2, misses1 << lb, np.int64(1) << lb2, last2)
    dram[0, DRAM_READ] += misses2 << lb2
    dram[0, DRAM_REQUESTS] += misses2
    return stop, jumps


@njit(cache=True, _nrt=False)
def _lines_chunk(S, buf, m, run, nrows, nbytes, last0, top, prints):
    """One chunk of plain loads (nrows rows of nbytes bytes in all; buf.heads[:m] the lines of its run heads,
    consecutive lines if ``run``; last0 the line of its last row) through every level and out to DRAM.
    Between levels the requests are a line array (src[:m]) or, while ``run``, the lines start..start+m-1."""
    cfg, meta, dram = S.cfg, S.meta, S.dram
    heads, la, lb_buf = buf.heads, buf.a, buf.b
    epoch = prints[1]
    nlev = cfg.shape[0]
    src = heads
    start = heads[0] if m > 0 else np.int64(0)
    for lv in range(nlev):
        row = cfg[lv, C_ROW_BASE]
        lbits = cfg[lv, C_LINE_BITS]
        line_bytes = np.int64(1) << lbits
        at = (cfg[lv, C_TAG_BASE], cfg[lv, C_SET_BASE], cfg[lv, C_SET_MASK])
        ways = cfg[lv, C_WAYS]
        emit = lv < nlev - 1
        dst = la if lv % 2 == 0 else lb_buf
        shift = np.int64(0) if lv == 0 else lbits - cfg[lv - 1, C_LINE_BITS]
        bread = nbytes if lv == 0 else m << cfg[lv - 1, C_LINE_BITS]
        # level 0: the heads differ from the line before them; its other rows were fast hits
        last_line = np.int64(-1) if lv == 0 else meta[row, META_LAST_LINE]
        fast = nrows - m if lv == 0 else np.int64(0)
        hits = 0
        misses = 0
        if run:
            first = start >> shift
            end = (start + m - 1) >> shift
            count = end - first + 1 if m > 0 else np.int64(0)
            fast += m - count  # the requests after the first on each line of this level
            if count > 0 and first == last_line:
                fast += 1
                first += 1
                count -= 1
            if count > 0 and first > top[lv]:
                _fill_new_run(S, at, ways, first, count, epoch)
                misses = count
                last_line = end
                top[lv] = end
                start = first
                m = count
            else:
                # not all new: the run line by line, spelled out in dst and walked in place
                for j in range(count):
                    dst[np.uint64(j)] = first + j
                run = False
                src = dst
                m = count
                shift = np.int64(0)
        if not run:
            misses, hits, f, last, t = _level(S, at, ways, src, m, shift, (last_line, top[lv]), dst, emit, prints)
            top[lv] = t
            fast += f
            if lv > 0 or m > 0:
                last_line = last
            src = dst
            m = misses
        if lv == 0:
            last_line = last0
        _counted(S, row, hits + misses + fast, hits, misses, fast, bread, line_bytes, last_line)
        if not emit:
            dram[0, DRAM_READ] += misses * line_bytes
            dram[0, DRAM_REQUESTS] += misses


@njit(cache=True, _nrt=False)
def serial_lines_run(S, rows, uniform, r, chunk, room0, err, xy, scr, buf, keep, clean):
    """serial_run's contract (rows r.. in chunks of ``chunk`` rows; returns where it stopped), taking each
    chunk of plain loads through the line-stream levels while ``clean`` (no store so far, so no level
    holds a dirty line) and any other chunk through serial_run. With ``uniform``, the nbytes, write and
    core columns hold one value for every row (loads by a good core, checked by the caller), and a chunk
    for serial_run gets them spelled out in buf.nbytes, buf.write and buf.core. buf holds ``chunk``
    entries per array; keep.top (one per level) is refreshed from the tags here. keep.fp and keep.epoch
    hold the 8- and 16-way levels' fingerprints (see _kernels_lines_level._touch); keep.clock[0] gives the
    epoch they hold for, and moves on here whenever the tags may have changed without them. Returns (row
    where it stopped, clean)."""
    cfg, meta, dram = S.cfg, S.meta, S.dram
    addr, nb, st, core = rows.addr, rows.nbytes, rows.write, rows.core
    # serial_chunks takes flat arrays (see _kernels_state.py), unpacked here once
    flat = (S.tags, S.stamp, S.valid, S.dirty, S.plru, S.meta, S.umeta, S.stats)
    bufs = (xy[0].a, xy[0].n, xy[0].w, xy[1].a, xy[1].n, xy[1].w, scr.a, scr.n, scr.w)
    top, clock = keep.top, keep.clock
    n = addr.shape[0]
    lb0 = cfg[0, C_LINE_BITS]
    row0 = cfg[0, C_ROW_BASE]
    fresh = False  # top holds for the tags (serial_run does not keep it)
    clock[0] += 1  # the fingerprints kept are from another simulation
    shape = fused_shape(cfg)
    cut_first = True  # cut a chunk to its heads before the levels (whole runs go in closed form), or fuse
    while r < n:
        r1 = min(n, r + chunk)
        prints = (keep.fp, keep.epoch, clock[0])
        if clean and shape >= 0 and not cut_first:
            # the last chunk's heads were not one run: one pass down both levels (_fused_chunk)
            total = np.int64(0)
            if not uniform:
                stores, other, total = _column_checks(rows, r, r1, np.uint64(lb0))
                clean = stores == 0
            if uniform or (clean and other == ZERO):
                if not fresh:
                    refresh_tops(S, top)
                    fresh = True
                stop, jumps = _fused_chunk(S, shape, addr, r, r1, np.int64(nb[0]) if uniform else np.int64(-1),
                                           total, top, prints)
                cut_first = jumps == ZERO  # heads on consecutive lines: a stream, whose runs go whole
                r = stop
                if r == r1:
                    continue
        elif clean:
            m, kind, last0, nbytes, run = line_heads(rows, uniform, r, r1, lb0, meta[row0, META_LAST_LINE],
                                                     buf.heads)
            if kind == CHUNK_PLAIN:
                if not fresh:
                    refresh_tops(S, top)
                    fresh = True
                _lines_chunk(S, buf, m, run, r1 - r, nbytes, last0, top, prints)
                cut_first = run
                r = r1
                continue
            clean = kind != CHUNK_STORE
        fresh = False
        clock[0] += 1
        if uniform:
            # serial_run reads every column row by row: give it this chunk's rows from 0
            size = r1 - r
            for q in range(size):
                buf.nbytes[q] = nb[0]
                buf.write[q] = st[0]
                buf.core[q] = core[0]
            stop = serial_chunks(cfg, *flat, addr[r:r1], buf.nbytes, buf.write, buf.core, rows.ncores, np.int64(0),
                                 size, chunk, room0, err, *bufs, dram)
            stop += r
            if err[0] != ERR_NONE:
                err[1] += r
        else:
            stop = serial_chunks(cfg, *flat, addr, nb, st, core, rows.ncores, r, r1, chunk, room0, err, *bufs, dram)
        if stop < r1 or err[0] != ERR_NONE:
            return stop, clean
        r = r1
    return r, clean
