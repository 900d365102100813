"""One level of the numba cache engine over a stream of requests: level_pass() is the workhorse, with
counters and the stream's clock/last line in registers, and access() (inlined into the out-of-line
_generic(), _kernels_access.py) for what its lean path does not cover; levels with an LRU recency order and
unsectored lines (the usual texture L1 and L2) hand their loads, and their stores unless write-through, to
_lean_lru_loads, a small separate loop that measured ~2x faster on misses. The stream drivers (_kernels_streams.py) call it once per level and
chunk. Callers pass typed values (np.int64(...), np.bool_(...)), never literals or prange indices, so
level_pass compiles once (each extra signature cost ~20 s of compile time)."""
from __future__ import annotations

import numpy as np
from numba import njit

from smartmem_sim.memsim._kernels_access import _generic
from smartmem_sim.memsim._kernels_state import (
    ADDRESS_BITS,
    C_LANES,
    C_LINE_BITS,
    C_POLICY,
    C_ROW_BASE,
    C_SECTOR_BITS,
    C_SET_BASE,
    C_SET_MASK,
    C_TAG_BASE,
    C_WALLOC,
    C_WAYS,
    C_WRITE,
    ERR_ADDRESS,
    ERR_CORE,
    ERR_NBYTES,
    ERR_NONE,
    META_CLOCK,
    META_LAST_LINE,
    ONE,
    ORDER_MAX_WAYS,
    POLICY_LRU,
    POLICY_PLRU,
    POLICY_RANDOM,
    S_ACC,
    S_BFILL,
    S_BREAD,
    S_BSTORED,
    S_BWRITTEN,
    S_FAST,
    S_HIT,
    S_MISS,
    S_SMISS,
    S_WB,
    S_WRITES,
    UMETA_LAST_DIRTY,
    UMETA_LAST_VALID,
    WRITE_RO,
    WRITE_WB,
    WRITE_WT,
    ZERO,
    _emit,
    _first,
    _first_invalid,
    _last,
    _order_last,
    _order_to_back,
    _order_to_front,
    _plru_touch,
    _plru_victim,
    _popcount,
    _span_mask,
)


@njit(cache=True, _nrt=False, inline="always")
def _find_way(tags, base, line, ways):
    found = -1
    for q in range(ways):
        found = q if tags[np.uint64(base + q)] == line else found
    return found


@njit(cache=True, _nrt=False, inline="always")
def _fill_back(tags, valid, dirty, plru, uset, base, rank, ways, line, lb, dirt, oa, on, ow, orow, pos, rowmode, rid):
    """A miss at an unsectored LRU-ordered level: the back of the set's order is the victim; the line is
    fetched (one request), the victim written back first if dirty (a second), and the line filled, marked
    ``dirt`` (ONE for a store at a write-back level) and made the most recent. Returns (pos, 1 if a
    write-back went out else 0)."""
    line_bytes = np.int64(1) << lb
    vw = _order_last(rank, ways)
    uwi = np.uint64(base + vw)
    pos = _emit(oa, on, ow, orow, pos, line << lb, line_bytes, 0, rowmode, rid)
    wb = 0
    old = tags[uwi]
    if old != -1 and dirty[uwi] != ZERO:
        wb = 1
        pos = _emit(oa, on, ow, orow, pos, old << lb, line_bytes, 1, rowmode, rid)
    tags[uwi] = line
    valid[uwi] = ONE
    dirty[uwi] = dirt
    plru[uset] = _order_to_front(rank, vw)
    return pos, wb


@njit(cache=True, _nrt=False)
def _lean_lru_loads(tags, valid, dirty, plru, cbase, pbase, set_mask, ways, lb, wmode, walloc, ia, inb, iw, irow,
                    order, k, hi, use_order, rowmode, check, core, ncores, oa, on, ow, orow, pos, cap,
                    clock, last_line, last_dirty, seen, hits, misses, fast, bread, bfill, wbs, bwritten, writes,
                    bstored):
    """level_pass's path for the commonest level: LRU with a recency order (at most ORDER_MAX_WAYS ways),
    unsectored lines. Runs loads, and stores at a read-only or write-back level, that lie in one line from
    request k on, and stops (returning where) at anything else (a store at a write-through level, a row
    crossing lines, a bad row when ``check``, a full output buffer), which level_pass then takes. Same state
    changes, clock ticks, requests and counters as access() (an unsectored present line is always valid:
    its one sector mask is 1). A separate small function so its loop keeps everything in registers
    (measured ~2x faster on misses than the general loop); stores stay here because the compiler's traces
    interleave them with loads (about one row in five), and leaving this loop for each one through access()
    cost more than the stores themselves. ``seen`` turns True once the stream's last line is a line (not
    -1), which is when level_pass marks its one sector valid. Returns the updated stream state and
    counters."""
    line_bytes = np.int64(1) << lb
    uncores = np.uint64(ncores)
    while k < hi:
        i = order[np.uint64(k)] if use_order else k
        ui = np.uint64(i)
        a = ia[ui]
        n = np.int64(inb[ui])
        if check:
            if (a >> ADDRESS_BITS) != 0 or n <= 0 or np.uint64(np.int64(core[ui])) >= uncores:
                break
        line = a >> lb
        if ((a + n - 1) >> lb) != line:
            break
        if iw[ui] != 0:
            if wmode == WRITE_WT or pos + 2 > cap:
                break
            seen |= last_line != -1
            if wmode == WRITE_WB and line == last_line and last_dirty != ZERO:
                fast += 1  # access()'s run-length fast path for a store to a dirty line: no state change
                writes += 1
                bstored += n
                k += 1
                continue
            clock += 1
            rid = i if rowmode == 1 else (irow[ui] if rowmode == 2 else 0)
            sidx = line & set_mask
            base = cbase + sidx * ways
            uset = np.uint64(pbase + sidx)
            found = _find_way(tags, base, line, ways)
            writes += 1
            if wmode == WRITE_RO:
                # bypasses the level: forwarded, and a present copy is invalidated (to the back of the order)
                bwritten += n
                if found >= 0:
                    uwi = np.uint64(base + found)
                    valid[uwi] = ZERO
                    tags[uwi] = -1
                    plru[uset] = _order_to_back(plru[uset], found, ways)
                last_line = -1
                pos = _emit(oa, on, ow, orow, pos, a, n, 1, rowmode, rid)
                k += 1
                continue
            bstored += n
            rank = plru[uset]
            if found >= 0:
                hits += 1
                uwi = np.uint64(base + found)
                plru[uset] = _order_to_front(rank, found)
                dirty[uwi] |= ONE
                last_dirty = dirty[uwi]
                last_line = line
                k += 1
                continue
            misses += 1
            if not walloc:
                bwritten += n
                last_line = -1
                pos = _emit(oa, on, ow, orow, pos, a, n, 1, rowmode, rid)
                k += 1
                continue
            pos, wb = _fill_back(tags, valid, dirty, plru, uset, base, rank, ways, line, lb, ONE, oa, on, ow, orow, pos,
                                 rowmode, rid)
            bfill += line_bytes
            wbs += wb
            bwritten += wb * line_bytes
            last_dirty = ONE
            last_line = line
            k += 1
            continue
        if line == last_line:  # the run-length fast path: the most recent line of its set, no change
            fast += 1
            bread += n
            k += 1
            # the rest of the run in a loop of its own with one branch per row (measured ~10% faster on
            # sequential traces than going round the outer loop)
            while k < hi:
                i = order[np.uint64(k)] if use_order else k
                ui = np.uint64(i)
                a = ia[ui]
                n = np.int64(inb[ui])
                bad = (iw[ui] != 0) | ((a >> lb) != last_line) | (((a + n - 1) >> lb) != last_line)
                if check:
                    bad = bad | ((a >> ADDRESS_BITS) != 0) | (n <= 0) | (np.uint64(np.int64(core[ui])) >= uncores)
                if bad:
                    break
                fast += 1
                bread += n
                k += 1
            continue
        if pos + 2 > cap:
            break
        clock += 1
        bread += n
        sidx = line & set_mask
        base = cbase + sidx * ways
        uset = np.uint64(pbase + sidx)
        # a select per way, no early exit (see level_pass); constant trip counts for the usual
        # associativities let LLVM unroll the compare into vector code
        if ways == 16:
            found = _find_way(tags, base, line, 16)
        elif ways == 8:
            found = _find_way(tags, base, line, 8)
        elif ways == 4:
            found = _find_way(tags, base, line, 4)
        else:
            found = _find_way(tags, base, line, ways)
        rank = plru[uset]
        if found >= 0:
            hits += 1
            plru[uset] = _order_to_front(rank, found)
            last_dirty = dirty[np.uint64(base + found)]
        else:
            misses += 1
            rid = i if rowmode == 1 else (irow[ui] if rowmode == 2 else 0)
            pos, wb = _fill_back(tags, valid, dirty, plru, uset, base, rank, ways, line, lb, ZERO, oa, on, ow, orow, pos,
                                 rowmode, rid)
            bfill += line_bytes
            wbs += wb
            bwritten += wb * line_bytes
            last_dirty = ZERO
        last_line = line
        k += 1
    seen |= last_line != -1
    return k, pos, clock, last_line, last_dirty, seen, hits, misses, fast, bread, bfill, wbs, bwritten, writes, bstored


@njit(cache=True, _nrt=False)
def level_pass(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats,
               ia, inb, iw, irow, order, lo, hi, use_order, rowmode, check, core, ncores, err,
               oa, on, ow, orow, pos, cap, sa, sn, sw):
    """Requests k = lo..hi-1 (entry i = order[k] if use_order else k of ia/inb/iw) through copy ``copy``,
    stream ``lane`` of level ``lv``, in order. Requests for the level below go to oa/on/ow[pos:cap]; with
    rowmode 1 (2) orow gets i (irow[i]), the trace row that caused them. Stops before a request that might
    not fit. With ``check``, entries are trace rows and the first bad one stops the pass with
    err = (code, row). Returns (k where it stopped, pos).

    Loads (other than under the random policy) take a lean path with the stream's clock, last line and
    counters in registers; it follows access() exactly (same victims, same clock ticks, same requests);
    stores and random-policy loads go through access()."""
    lb = cfg[lv, C_LINE_BITS]
    sb = cfg[lv, C_SECTOR_BITS]
    set_mask = cfg[lv, C_SET_MASK]
    ways = cfg[lv, C_WAYS]
    policy = cfg[lv, C_POLICY]
    lean = policy != POLICY_RANDOM
    is_lru = policy == POLICY_LRU
    is_plru = policy == POLICY_PLRU
    ordered = is_lru and ways <= ORDER_MAX_WAYS  # O(1) recency order instead of stamps (see access())
    sets = set_mask + 1
    cbase = cfg[lv, C_TAG_BASE] + copy * sets * ways
    pbase = cfg[lv, C_SET_BASE] + copy * sets
    row = cfg[lv, C_ROW_BASE] + copy * cfg[lv, C_LANES] + lane
    line_bytes = np.int64(1) << lb
    sec = np.int64(1) << sb
    clock = meta[row, META_CLOCK]
    last_line = meta[row, META_LAST_LINE]
    last_valid = umeta[row, UMETA_LAST_VALID]
    last_dirty = umeta[row, UMETA_LAST_DIRTY]
    hits = 0
    misses = 0
    smisses = 0
    fast = 0
    bread = 0
    bfill = 0
    wbs = 0
    bwritten = 0
    writes = 0
    bstored = 0
    wmode = cfg[lv, C_WRITE]
    walloc = cfg[lv, C_WALLOC] != 0
    sectored = sb != lb  # an unsectored line that is present has its one sector valid
    spec = ordered and not sectored  # _lean_lru_loads takes the loads
    k = lo
    while k < hi:
        if spec:
            (k, pos, clock, last_line, last_dirty, seen, hits, misses, fast, bread, bfill, wbs, bwritten, writes,
             bstored) = _lean_lru_loads(tags, valid, dirty, plru, cbase, pbase, set_mask, ways, lb, wmode, walloc, ia,
                                        inb, iw, irow, order, k, hi, use_order, rowmode, check, core, ncores, oa, on,
                                        ow, orow, pos, cap, clock, last_line, last_dirty, False, hits, misses, fast,
                                        bread, bfill, wbs, bwritten, writes, bstored)
            if seen:
                last_valid = ONE  # (a present unsectored line has its sector valid)
            if k >= hi:
                break
        # Run-length fast path in its own small loop (so its values stay in registers): loads of the line
        # this stream touched last, on sectors already valid, change no state.
        while k < hi:
            i = order[np.uint64(k)] if use_order else k
            a = ia[np.uint64(i)]
            n = np.int64(inb[np.uint64(i)])
            if check:
                c = core[np.uint64(i)]
                if (a >> ADDRESS_BITS) != 0 or n <= 0 or c < 0 or c >= ncores:
                    break
            if iw[np.uint64(i)] != 0 or (a >> lb) != last_line:
                break
            off = a & (line_bytes - 1)
            if off + n > line_bytes:
                break
            if sectored and (_span_mask(off >> sb, (off + n - 1) >> sb) & ~last_valid) != ZERO:
                break
            fast += 1
            bread += n
            k += 1
        if k >= hi:
            break
        i = order[np.uint64(k)] if use_order else k
        ui = np.uint64(i)  # unsigned indices: numba adds no negative-index wraparound (measured ~15% here)
        a = ia[ui]
        n = np.int64(inb[ui])
        w = iw[ui]
        if check:
            c = core[ui]
            if (a >> ADDRESS_BITS) != 0:
                err[0] = ERR_ADDRESS
            elif n <= 0:
                err[0] = ERR_NBYTES
            elif c < 0 or c >= ncores:
                err[0] = ERR_CORE
            if err[0] != ERR_NONE:
                err[1] = i
                break
        line = a >> lb
        off = a & (line_bytes - 1)
        inside = off + n <= line_bytes
        if w == 0 and inside:
            s0 = off >> sb
            s1 = (off + n - 1) >> sb
            mask = _span_mask(s0, s1)
            if lean:
                if pos + 2 > cap:
                    break
                rid = i if rowmode == 1 else (irow[ui] if rowmode == 2 else 0)
                clock += 1
                sidx = line & set_mask
                base = cbase + sidx * ways
                uset = np.uint64(pbase + sidx)
                found = -1
                lru_way = 0
                if ordered:
                    for q in range(ways):  # a select per way, no early exit: measured ~20% faster on misses
                        found = q if tags[np.uint64(base + q)] == line else found
                else:
                    # one pass finds the line or else the oldest stamp (see access(); branches beat selects
                    # here: measured 2x faster on random traces at 16 ways)
                    lru_stamp = stamp[base]
                    for q in range(ways):
                        if tags[base + q] == line:
                            found = q
                            break
                        sq = stamp[base + q]
                        if sq < lru_stamp:
                            lru_stamp = sq
                            lru_way = q
                bread += n
                if found >= 0:
                    wi = base + found
                    uwi = np.uint64(wi)
                    v = valid[uwi] if sectored else ONE  # (an unsectored line is whole: module docstring)
                    missing = mask & ~v
                    if missing == ZERO:
                        hits += 1
                    else:
                        misses += 1
                        smisses += 1
                        f = _first(missing)
                        pos = _emit(oa, on, ow, orow, pos, (line << lb) + f * sec, (_last(missing) - f + 1) * sec, 0,
                                    rowmode, rid)
                        v |= missing
                        valid[uwi] = v
                        bfill += _popcount(missing) * sec
                    if ordered:
                        plru[uset] = _order_to_front(plru[uset], found)
                    elif is_lru:
                        stamp[wi] = clock
                    elif is_plru:
                        plru[pbase + sidx] = _plru_touch(plru[pbase + sidx], found, ways)
                    last_valid = v
                    last_dirty = dirty[uwi]
                else:
                    misses += 1
                    if ordered:  # invalid ways, if any, are the back of the order (see access())
                        vw = _order_last(plru[uset], ways)
                    elif is_plru:
                        vw = _first_invalid(tags, base, ways)
                        if vw < 0:
                            vw = _plru_victim(plru[pbase + sidx], ways)
                    else:
                        vw = lru_way
                    wi = base + vw
                    pos = _emit(oa, on, ow, orow, pos, (line << lb) + s0 * sec, (s1 - s0 + 1) * sec, 0, rowmode, rid)
                    bfill += (s1 - s0 + 1) * sec
                    uwi = np.uint64(wi)
                    old = tags[uwi]
                    d = dirty[uwi]
                    if old != -1 and d != ZERO:
                        f = _first(d)
                        wb_bytes = (_last(d) - f + 1) * sec
                        wbs += 1
                        bwritten += wb_bytes
                        pos = _emit(oa, on, ow, orow, pos, (old << lb) + f * sec, wb_bytes, 1, rowmode, rid)
                    tags[uwi] = line
                    valid[uwi] = mask
                    dirty[uwi] = ZERO
                    if ordered:
                        plru[uset] = _order_to_front(plru[uset], vw)
                    elif is_plru:
                        plru[pbase + sidx] = _plru_touch(plru[pbase + sidx], vw, ways)
                    else:
                        stamp[wi] = clock
                    last_valid = mask
                    last_dirty = ZERO
                last_line = line
                k += 1
                continue
        # everything else: access() with the stream state in memory
        pieces = 1 if inside else ((a + n - 1) >> lb) - line + 1
        if pos + 2 * pieces > cap:
            break
        rid = i if rowmode == 1 else (irow[i] if rowmode == 2 else 0)
        meta[row, META_CLOCK] = clock
        meta[row, META_LAST_LINE] = last_line
        umeta[row, UMETA_LAST_VALID] = last_valid
        umeta[row, UMETA_LAST_DIRTY] = last_dirty
        pos = _generic(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats, a, n, w != 0,
                       sa, sn, sw, oa, on, ow, orow, pos, rid, rowmode != 0)
        clock = meta[row, META_CLOCK]
        last_line = meta[row, META_LAST_LINE]
        last_valid = umeta[row, UMETA_LAST_VALID]
        last_dirty = umeta[row, UMETA_LAST_DIRTY]
        k += 1
    meta[row, META_CLOCK] = clock
    meta[row, META_LAST_LINE] = last_line
    umeta[row, UMETA_LAST_VALID] = last_valid
    umeta[row, UMETA_LAST_DIRTY] = last_dirty
    stats[row, S_ACC] += hits + misses + fast
    stats[row, S_HIT] += hits + fast
    stats[row, S_MISS] += misses
    stats[row, S_SMISS] += smisses
    stats[row, S_FAST] += fast
    stats[row, S_BREAD] += bread
    stats[row, S_BFILL] += bfill
    stats[row, S_WB] += wbs
    stats[row, S_BWRITTEN] += bwritten
    stats[row, S_WRITES] += writes
    stats[row, S_BSTORED] += bstored
    return k, pos
