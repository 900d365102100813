"""Numba kernels of the cache engine. Private: memsim/cache.py documents the semantics and
memsim/hierarchy.py checks every input before it reaches these functions.

A request stream is four columns: byte address (int64), bytes (int32), store flag (uint8), core (int32).
Every function that simulates a level takes one copy's state: tags/stamp/valid/dirty (sets, ways),
plru (sets,), meta (int64: clock, last line), umeta (uint64: random state, last line's valid and dirty
sector masks), stats (NSTATS,), and the level's config vector (CFG_*). Masks are uint64 throughout:
numba turns int64 <op> uint64 into float64, so no mask ever meets a signed integer.

The per-access functions are compiled with ``_nrt=False`` and inlined into the loops (numba IR
inlining): they allocate nothing, and without the runtime numba emits no atomic reference counting for
array arguments (which made a call taking four arrays ~15x slower), while inlining avoids passing ~70
array fields on the stack per call (another ~10x on the engine's fast path).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

CFG_LINE_BITS, CFG_SECTOR_BITS, CFG_SET_MASK, CFG_WAYS, CFG_POLICY, CFG_WRITE, CFG_WALLOC, CFG_SPL = range(8)
POLICY_LRU, POLICY_FIFO, POLICY_PLRU, POLICY_RANDOM = 0, 1, 2, 3
WRITE_RO, WRITE_WB, WRITE_WT = 0, 1, 2

META_CLOCK, META_LAST_LINE = 0, 1
NMETA = 2
UMETA_RNG, UMETA_LAST_VALID, UMETA_LAST_DIRTY = 0, 1, 2
NUMETA = 3

STAT_NAMES = (
    "accesses",  # loads + stores handled here (read-only bypassed stores excluded)
    "hits",
    "misses",  # line misses + sector misses
    "sector_misses",  # misses whose line was present
    "bytes_read",  # load bytes served to the level above
    "bytes_filled",  # bytes fetched from the level below (missing sectors)
    "writes",  # stores that reached this level (including bypassed ones at a read-only level)
    "bytes_stored",  # store bytes written into this level
    "writebacks",  # dirty victims written back
    "bytes_written",  # bytes sent below as stores (write-backs, write-through, bypassed, no-allocate)
    "fast_hits",  # hits counted by the run-length fast path (included in hits)
)
(S_ACC, S_HIT, S_MISS, S_SMISS, S_BREAD, S_BFILL, S_WRITES, S_BSTORED, S_WB, S_BWRITTEN, S_FAST) = range(11)
NSTATS = len(STAT_NAMES)

ONE = np.uint64(1)
ZERO = np.uint64(0)
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, inline="always")
def _span_mask(s0, s1):
    n = s1 - s0 + 1
    if n >= 64:
        return ALL
    return ((ONE << np.uint64(n)) - ONE) << np.uint64(s0)


@njit(cache=True, inline="always")
def _first_last(mask, spl):
    first = -1
    last = -1
    for s in range(spl):
        if (mask >> np.uint64(s)) & ONE:
            if first < 0:
                first = s
            last = s
    return first, last


@njit(cache=True, inline="always")
def _plru_touch(bits, w, ways):
    # Heap-ordered tree of ways-1 nodes; bit = 1 means "the victim is in the right subtree".
    depth = 0
    while (1 << depth) < ways:
        depth += 1
    node = 0
    for lvl in range(depth):
        d = (w >> (depth - 1 - lvl)) & 1
        if d == 1:
            bits = bits & ~(ONE << np.uint64(node))  # point left, away from w
        else:
            bits = bits | (ONE << np.uint64(node))
        node = 2 * node + 1 + d
    return bits


@njit(cache=True, inline="always")
def _plru_victim(bits, ways):
    depth = 0
    while (1 << depth) < ways:
        depth += 1
    node = 0
    w = 0
    for _ in range(depth):
        d = np.int64((bits >> np.uint64(node)) & ONE)
        w = (w << 1) | d
        node = 2 * node + 1 + d
    return w


@njit(cache=True, inline="always")
def _victim(first_invalid, lru_way, plru, set_idx, ways, policy, umeta):
    # LRU/FIFO: invalid ways carry stamp 0 (below every fill time), so lru_way, the first way with the
    # smallest stamp, is already "an invalid way first".
    if policy == POLICY_LRU or policy == POLICY_FIFO:
        return lru_way
    if first_invalid >= 0:
        return first_invalid
    if policy == POLICY_PLRU:
        return _plru_victim(plru[set_idx], ways)
    x = umeta[UMETA_RNG]  # xorshift64
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    umeta[UMETA_RNG] = x
    return np.int64(x % np.uint64(ways))


@njit(cache=True, inline="always")
def _emit(oa, on, ow, pos, addr, nb, store):
    oa[pos] = addr
    on[pos] = nb
    ow[pos] = store
    return pos + 1


@njit(cache=True, _nrt=False, inline="always")
def access(tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg, addr, nb, is_store, oa, on, ow, pos):
    """Simulate one access (inside one line) at one copy of a level; requests for the level below are
    written at oa/on/ow[pos:] (fetch first, then write-back or forwarded store: at most 2).
    Returns the new pos."""
    lb = cfg[CFG_LINE_BITS]
    sb = cfg[CFG_SECTOR_BITS]
    line_no = addr >> lb
    off = addr & ((np.int64(1) << lb) - 1)
    mask = _span_mask(off >> sb, (off + nb - 1) >> sb)
    wmode = cfg[CFG_WRITE]

    # Run-length fast path: the last line this copy touched is still present with these sectors, and
    # it is already the most recent in its set, so a repeated load (or a store to dirty sectors of a
    # write-back level) changes no state: count it and go.
    if line_no == meta[META_LAST_LINE] and (mask & ~umeta[UMETA_LAST_VALID]) == ZERO:
        if not is_store:
            stats[S_ACC] += 1
            stats[S_HIT] += 1
            stats[S_BREAD] += nb
            stats[S_FAST] += 1
            return pos
        if wmode == WRITE_WB and (mask & ~umeta[UMETA_LAST_DIRTY]) == ZERO:
            stats[S_ACC] += 1
            stats[S_HIT] += 1
            stats[S_WRITES] += 1
            stats[S_BSTORED] += nb
            stats[S_FAST] += 1
            return pos

    ways = cfg[CFG_WAYS]
    policy = cfg[CFG_POLICY]
    spl = cfg[CFG_SPL]
    set_idx = line_no & cfg[CFG_SET_MASK]
    trow = tags[set_idx]
    srow = stamp[set_idx]
    # One pass finds the line, or else the first invalid way and the oldest stamp (the victims).
    w = -1
    first_invalid = -1
    lru_way = 0
    lru_stamp = srow[0]
    for k in range(ways):
        tk = trow[k]
        if tk == line_no:
            w = k
            break
        if tk == -1 and first_invalid < 0:
            first_invalid = k
        if srow[k] < lru_stamp:
            lru_stamp = srow[k]
            lru_way = k
    meta[META_CLOCK] += 1
    clock = meta[META_CLOCK]

    if is_store and wmode == WRITE_RO:
        stats[S_WRITES] += 1
        stats[S_BWRITTEN] += nb
        if w >= 0:
            v = valid[set_idx, w] & ~mask
            valid[set_idx, w] = v
            if v == ZERO:
                trow[w] = -1
                srow[w] = 0
        meta[META_LAST_LINE] = -1
        return _emit(oa, on, ow, pos, addr, nb, 1)

    stats[S_ACC] += 1
    if is_store:
        stats[S_WRITES] += 1
        stats[S_BSTORED] += nb
    else:
        stats[S_BREAD] += nb
    walloc = cfg[CFG_WALLOC] != 0

    if w >= 0:
        missing = mask & ~valid[set_idx, w]
        if missing == ZERO:
            stats[S_HIT] += 1
        else:
            stats[S_MISS] += 1
            stats[S_SMISS] += 1
        if missing != ZERO and is_store and not walloc:
            stats[S_BWRITTEN] += nb
            pos = _emit(oa, on, ow, pos, addr, nb, 1)
        else:
            if missing != ZERO:
                first, last = _first_last(missing, spl)
                pos = _emit(oa, on, ow, pos, (line_no << lb) + (first << sb), (last - first + 1) << sb, 0)
                valid[set_idx, w] |= missing
                stats[S_BFILL] += _popcount(missing) << sb
            if policy == POLICY_LRU:
                srow[w] = clock
            elif policy == POLICY_PLRU:
                plru[set_idx] = _plru_touch(plru[set_idx], w, ways)
            if is_store:
                if wmode == WRITE_WB:
                    dirty[set_idx, w] |= mask
                else:
                    stats[S_BWRITTEN] += nb
                    pos = _emit(oa, on, ow, pos, addr, nb, 1)
    else:
        stats[S_MISS] += 1
        if is_store and not walloc:
            stats[S_BWRITTEN] += nb
            pos = _emit(oa, on, ow, pos, addr, nb, 1)
        else:
            v = _victim(first_invalid, lru_way, plru, set_idx, ways, policy, umeta)
            first, last = _first_last(mask, spl)
            pos = _emit(oa, on, ow, pos, (line_no << lb) + (first << sb), (last - first + 1) << sb, 0)
            stats[S_BFILL] += _popcount(mask) << sb
            if trow[v] != -1 and dirty[set_idx, v] != ZERO:
                dfirst, dlast = _first_last(dirty[set_idx, v], spl)
                wb_bytes = (dlast - dfirst + 1) << sb
                stats[S_WB] += 1
                stats[S_BWRITTEN] += wb_bytes
                pos = _emit(oa, on, ow, pos, (trow[v] << lb) + (dfirst << sb), wb_bytes, 1)
            trow[v] = line_no
            valid[set_idx, v] = mask
            dirty[set_idx, v] = ZERO
            if policy == POLICY_LRU or policy == POLICY_FIFO:
                srow[v] = clock
            elif policy == POLICY_PLRU:
                plru[set_idx] = _plru_touch(plru[set_idx], v, ways)
            w = v
            if is_store:
                if wmode == WRITE_WB:
                    dirty[set_idx, w] = mask
                else:
                    stats[S_BWRITTEN] += nb
                    pos = _emit(oa, on, ow, pos, addr, nb, 1)

    if w >= 0 and trow[w] == line_no:
        meta[META_LAST_LINE] = line_no
        umeta[UMETA_LAST_VALID] = valid[set_idx, w]
        umeta[UMETA_LAST_DIRTY] = dirty[set_idx, w]
    else:
        meta[META_LAST_LINE] = -1
    return pos


@njit(cache=True, _nrt=False, inline="always")
def _access_pieces(tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg, a, n, st, oa, on, ow, pos):
    # A request that crosses lines is one access per line it touches.
    lb = cfg[CFG_LINE_BITS]
    end = a + n
    while True:
        line_end = ((a >> lb) + 1) << lb
        piece = min(end, line_end) - a
        pos = access(tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg, a, piece, st, oa, on, ow, pos)
        a += piece
        if a >= end:
            return pos


@njit(cache=True, _nrt=False, inline="always")
def _run(addr, nb, st, order, lo, hi, use_order, keep_idx,
         tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg, oidx, oa, on, ow, pos):
    """Entries order[lo:hi] (or lo:hi) through one copy, in order. Loads that hit the line the copy
    touched last, on sectors already valid, are counted in registers (the run-length fast path; the
    same rule as in access(), kept here so the common case touches no state arrays)."""
    lb = cfg[CFG_LINE_BITS]
    sb = cfg[CFG_SECTOR_BITS]
    line_bytes = np.int64(1) << lb
    last_line = meta[META_LAST_LINE]
    last_valid = umeta[UMETA_LAST_VALID]
    fast = 0
    fast_bytes = 0
    for k in range(lo, hi):
        i = order[k] if use_order else k
        a = addr[i]
        n = nb[i]
        if st[i] == 0 and (a >> lb) == last_line:
            off = a & (line_bytes - 1)
            if off + n <= line_bytes and (_span_mask(off >> sb, (off + n - 1) >> sb) & ~last_valid) == ZERO:
                fast += 1
                fast_bytes += n
                continue
        p0 = pos
        pos = _access_pieces(tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg, a, n, st[i] != 0,
                             oa, on, ow, pos)
        if keep_idx:
            for q in range(p0, pos):
                oidx[q] = i
        last_line = meta[META_LAST_LINE]
        last_valid = umeta[UMETA_LAST_VALID]
    stats[S_ACC] += fast
    stats[S_HIT] += fast
    stats[S_FAST] += fast
    stats[S_BREAD] += fast_bytes
    return pos


@njit(cache=True, parallel=True, _nrt=False)
def per_core_pass(addr, nb, st, order, starts,
                  tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg,
                  oidx, oa, on, ow, ostart, ofill):
    """Copy c of the level simulates stream entries order[starts[c]:starts[c+1]] in order; copies are
    independent, so they run in parallel. Output of copy c goes to oidx/oa/on/ow[ostart[c]:], oidx
    naming the input entry that caused it. (One copy alone runs through shared_pass: no order needed,
    and its output is already in input order.)"""
    ncopies = starts.shape[0] - 1
    for c in prange(ncopies):
        pos = _run(addr, nb, st, order, starts[c], starts[c + 1], True, True,
                   tags[c], stamp[c], valid[c], dirty[c], plru[c], meta[c], umeta[c], stats[c], cfg,
                   oidx, oa, on, ow, ostart[c])
        ofill[c] = pos - ostart[c]


@njit(cache=True)
def group_by_core(core, ncores, pieces_bound):
    """Counting sort of stream entries by core: order (entries of core 0, then 1, ...), starts (ncores+1),
    and output segment starts (room for 2 requests per line piece)."""
    m = core.shape[0]
    counts = np.zeros(ncores + 1, dtype=np.int64)
    for i in range(m):
        counts[core[i] + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    order = np.empty(m, dtype=np.int64)
    for i in range(m):
        c = core[i]
        order[fill[c]] = i
        fill[c] += 1
    ostart = starts * (2 * pieces_bound)
    return order, starts, ostart


@njit(cache=True)
def merge_by_input(core, ostart, ofill, oidx, oa, on, ow, ma, mn, mw, mc):
    """Merge per-core output segments into input order (the order the shared level sees them)."""
    ncores = ofill.shape[0]
    ptr = ostart[:ncores].copy()
    end = ptr + ofill
    j = 0
    for i in range(core.shape[0]):
        c = core[i]
        p = ptr[c]
        while p < end[c] and oidx[p] == i:
            ma[j] = oa[p]
            mn[j] = on[p]
            mw[j] = ow[p]
            mc[j] = c
            j += 1
            p += 1
        ptr[c] = p
    return j


@njit(cache=True, _nrt=False)
def shared_pass(addr, nb, st, m, tags, stamp, valid, dirty, plru, meta, umeta, stats, cfg, oa, on, ow):
    """One shared copy simulates stream entries 0..m-1 in order; returns the number of requests out."""
    return _run(addr, nb, st, addr, 0, m, False, False, tags[0], stamp[0], valid[0], dirty[0], plru[0],
                meta[0], umeta[0], stats[0], cfg, addr, oa, on, ow, 0)


@njit(cache=True)
def stream_bytes(nb, st, m):
    """(load bytes, store bytes) of the first m requests: what reaches DRAM after the last level."""
    loads = 0
    stores = 0
    for i in range(m):
        if st[i] != 0:
            stores += nb[i]
        else:
            loads += nb[i]
    return loads, stores


@njit(cache=True)
def max_lines_touched(addr, nb, line):
    """Largest number of lines of size ``line`` any single request touches."""
    most = 1
    for i in range(addr.shape[0]):
        n = (addr[i] + nb[i] - 1) // line - addr[i] // line + 1
        if n > most:
            most = n
    return most


@njit(cache=True, parallel=True)
def row_summary(addr, core, nb):
    """(smallest address, largest address, smallest nbytes, largest nbytes, smallest core, largest core)."""
    n = addr.shape[0]
    amin = np.int64(2**62)
    amax = np.int64(-1)
    nmin = np.int64(2**31)
    nmax = np.int64(0)
    cmin = np.int64(2**31)
    cmax = np.int64(-1)
    for i in prange(n):
        amin = min(amin, addr[i])
        amax = max(amax, addr[i])
        nmin = min(nmin, np.int64(nb[i]))
        nmax = max(nmax, np.int64(nb[i]))
        cmin = min(cmin, np.int64(core[i]))
        cmax = max(cmax, np.int64(core[i]))
    return amin, amax, nmin, nmax, cmin, cmax
