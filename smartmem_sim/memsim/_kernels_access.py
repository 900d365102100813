"""One access at one level of the numba cache engine: access() applies the semantics of
smartmem_sim/memsim/cache.py to the state (layout in _kernels_state.py); _generic() cuts a request into
line pieces for it. level_pass (_kernels_level.py) hands them what its lean paths do not cover."""
from __future__ import annotations

import numpy as np
from numba import njit

from smartmem_sim.memsim._kernels_state import (
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
    META_CLOCK,
    META_LAST_LINE,
    ONE,
    ORDER_MAX_WAYS,
    POLICY_FIFO,
    POLICY_LRU,
    POLICY_PLRU,
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
    UMETA_RNG,
    WRITE_RO,
    WRITE_WB,
    ZERO,
    _emit,
    _first,
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
def access(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats, addr, nb, is_store,
           oa, on, ow, sp):
    """One access (inside one line) at copy ``copy``, stream ``lane`` of level ``lv``. Requests for the
    level below are written at oa/on/ow[sp], [sp + 1] (fetch first, then write-back or forwarded store).
    Returns how many (0..2)."""
    lb = cfg[lv, C_LINE_BITS]
    sb = cfg[lv, C_SECTOR_BITS]
    row = cfg[lv, C_ROW_BASE] + copy * cfg[lv, C_LANES] + lane
    line_no = addr >> lb
    off = addr & ((np.int64(1) << lb) - 1)
    s0 = off >> sb
    s1 = (off + nb - 1) >> sb
    mask = _span_mask(s0, s1)
    wmode = cfg[lv, C_WRITE]

    # Run-length fast path: the last line this stream touched is still present with these sectors, and
    # it is already the most recent in its set, so a repeated load (or a store to dirty sectors of a
    # write-back level) changes no state: count it and go.
    if line_no == meta[row, META_LAST_LINE] and (mask & ~umeta[row, UMETA_LAST_VALID]) == ZERO:
        if not is_store:
            stats[row, S_ACC] += 1
            stats[row, S_HIT] += 1
            stats[row, S_BREAD] += nb
            stats[row, S_FAST] += 1
            return 0
        if wmode == WRITE_WB and (mask & ~umeta[row, UMETA_LAST_DIRTY]) == ZERO:
            stats[row, S_ACC] += 1
            stats[row, S_HIT] += 1
            stats[row, S_WRITES] += 1
            stats[row, S_BSTORED] += nb
            stats[row, S_FAST] += 1
            return 0

    ways = cfg[lv, C_WAYS]
    policy = cfg[lv, C_POLICY]
    set_mask = cfg[lv, C_SET_MASK]
    set_idx = line_no & set_mask
    pidx = cfg[lv, C_SET_BASE] + copy * (set_mask + 1) + set_idx
    base = cfg[lv, C_TAG_BASE] + (copy * (set_mask + 1) + set_idx) * ways
    ordered = policy == POLICY_LRU and ways <= ORDER_MAX_WAYS  # recency order in plru[pidx], no stamps
    # One pass finds the line, or else the oldest stamp (LRU/FIFO victim; invalid ways have stamp 0,
    # below every fill time, so the first oldest way is "an invalid way first") and the first invalid way.
    w = -1
    first_invalid = -1
    lru_way = 0
    lru_stamp = stamp[base]
    for k in range(ways):
        tk = tags[base + k]
        if tk == line_no:
            w = k
            break
        if tk == -1 and first_invalid < 0:
            first_invalid = k
        sk = stamp[base + k]
        if sk < lru_stamp:
            lru_stamp = sk
            lru_way = k
    clock = meta[row, META_CLOCK] + 1
    meta[row, META_CLOCK] = clock

    if is_store and wmode == WRITE_RO:
        stats[row, S_WRITES] += 1
        stats[row, S_BWRITTEN] += nb
        if w >= 0:
            v = valid[base + w] & ~mask if sb != lb else ZERO
            valid[base + w] = v
            if v == ZERO:
                tags[base + w] = -1
                stamp[base + w] = 0
                if ordered:  # invalid ways stay at the back of the order, behind every valid way
                    plru[pidx] = _order_to_back(plru[pidx], w, ways)
        meta[row, META_LAST_LINE] = -1
        _emit(oa, on, ow, oa, sp, addr, nb, 1, 0, 0)
        return 1

    stats[row, S_ACC] += 1
    if is_store:
        stats[row, S_WRITES] += 1
        stats[row, S_BSTORED] += nb
    else:
        stats[row, S_BREAD] += nb
    walloc = cfg[lv, C_WALLOC] != 0
    sec = np.int64(1) << sb
    nout = 0

    if w >= 0:
        wi = base + w
        missing = mask & ~valid[wi] if sb != lb else ZERO  # (an unsectored line is whole: module docstring)
        if missing == ZERO:
            stats[row, S_HIT] += 1
        else:
            stats[row, S_MISS] += 1
            stats[row, S_SMISS] += 1
        if missing != ZERO and is_store and not walloc:
            stats[row, S_BWRITTEN] += nb
            _emit(oa, on, ow, oa, sp, addr, nb, 1, 0, 0)
            # the bypassing store leaves the recency alone, so the line need not be the most recent in its
            # set: it must not become the run-length fast path's line
            meta[row, META_LAST_LINE] = -1
            return 1
        if missing != ZERO:
            first = _first(missing)
            _emit(oa, on, ow, oa, sp, (line_no << lb) + first * sec, (_last(missing) - first + 1) * sec, 0, 0, 0)
            nout = 1
            valid[wi] |= missing
            stats[row, S_BFILL] += _popcount(missing) * sec
        if ordered:
            plru[pidx] = _order_to_front(plru[pidx], w)
        elif policy == POLICY_LRU:
            stamp[wi] = clock
        elif policy == POLICY_PLRU:
            plru[pidx] = _plru_touch(plru[pidx], w, ways)
        if is_store:
            if wmode == WRITE_WB:
                dirty[wi] |= mask
            else:
                stats[row, S_BWRITTEN] += nb
                _emit(oa, on, ow, oa, sp + nout, addr, nb, 1, 0, 0)
                nout += 1
    else:
        stats[row, S_MISS] += 1
        if is_store and not walloc:
            stats[row, S_BWRITTEN] += nb
            _emit(oa, on, ow, oa, sp, addr, nb, 1, 0, 0)
            meta[row, META_LAST_LINE] = -1
            return 1
        if ordered:
            # Invalid ways are always the back of the order (all start invalid, a fill moves its way to the
            # front, an invalidation to the back), so the last way is invalid whenever one is: "invalid
            # first" holds. Which invalid way fills is unobservable under LRU: only the order matters.
            v = _order_last(plru[pidx], ways)
        elif policy == POLICY_LRU or policy == POLICY_FIFO:
            v = lru_way
        elif first_invalid >= 0:
            v = first_invalid
        elif policy == POLICY_PLRU:
            v = _plru_victim(plru[pidx], ways)
        else:
            x = umeta[row, UMETA_RNG]  # xorshift64
            x ^= x << np.uint64(13)
            x ^= x >> np.uint64(7)
            x ^= x << np.uint64(17)
            umeta[row, UMETA_RNG] = x
            v = np.int64(x % np.uint64(ways))
        wi = base + v
        _emit(oa, on, ow, oa, sp, (line_no << lb) + s0 * sec, (s1 - s0 + 1) * sec, 0, 0, 0)
        nout = 1
        stats[row, S_BFILL] += (s1 - s0 + 1) * sec
        old = tags[wi]
        d = dirty[wi]
        if old != -1 and d != ZERO:
            dfirst = _first(d)
            wb_bytes = (_last(d) - dfirst + 1) * sec
            stats[row, S_WB] += 1
            stats[row, S_BWRITTEN] += wb_bytes
            _emit(oa, on, ow, oa, sp + 1, (old << lb) + dfirst * sec, wb_bytes, 1, 0, 0)
            nout = 2
        tags[wi] = line_no
        valid[wi] = mask
        dirty[wi] = ZERO
        if ordered:
            plru[pidx] = _order_to_front(plru[pidx], v)
        elif policy == POLICY_LRU or policy == POLICY_FIFO:
            stamp[wi] = clock
        elif policy == POLICY_PLRU:
            plru[pidx] = _plru_touch(plru[pidx], v, ways)
        if is_store:
            if wmode == WRITE_WB:
                dirty[wi] = mask
            else:
                stats[row, S_BWRITTEN] += nb
                _emit(oa, on, ow, oa, sp + nout, addr, nb, 1, 0, 0)
                nout += 1
        w = v

    wi = base + w
    meta[row, META_LAST_LINE] = line_no
    umeta[row, UMETA_LAST_VALID] = valid[wi] if sb != lb else ONE
    umeta[row, UMETA_LAST_DIRTY] = dirty[wi]
    return nout


@njit(cache=True, _nrt=False)
def _generic(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats, a, n, is_store,
             sa, sn, sw, oa, on, ow, orow, pos, rowid, track):
    """The request (a, n bytes) through access(), one access per line it touches; its requests for the
    level below go to oa/on/ow[pos:] (and rowid to orow when ``track``). Returns the new pos. Kept out of
    line so the loop in level_pass stays small enough for registers."""
    lb = cfg[lv, C_LINE_BITS]
    end = a + n
    while a < end:
        piece = min(end, ((a >> lb) + 1) << lb) - a
        k = access(cfg, lv, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats, a, piece, is_store,
                   sa, sn, sw, 0)
        for j in range(k):
            pos = _emit(oa, on, ow, orow, pos, sa[j], sn[j], sw[j], 1 if track else 0, rowid)
        a += piece
    return pos
