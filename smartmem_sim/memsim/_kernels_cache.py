"""Numba kernels of the cache engine. Private: smartmem_sim/memsim/cache.py documents the semantics and
smartmem_sim/memsim/hierarchy.py builds the state and drives these functions.

State of every level of a hierarchy lives in shared flat arrays (one per kind), so the same compiled pass
serves every level: ``tags``/``stamp``/``valid``/``dirty`` (int64/int64/uint64/uint64, one entry per way),
``plru`` (uint64, one per set: PLRU tree bits, or the recency order of an LRU set of at most ORDER_MAX_WAYS
ways, which then takes the place of ``stamp``), and per *stream* rows of ``meta`` (int64: clock, last line),
``umeta`` (uint64: random state, last line's valid and dirty sector masks) and ``stats`` (int64, NSTATS).
``cfg`` has one row per level (C_*): geometry, policy, write mode, and where the level's state starts in the
flat arrays. A level has ``copies`` (one per core for per-core levels) and every copy has ``lanes`` streams: a
shared level whose sets are split into set partitions (simulated in parallel) keeps one clock, last line and
counters per partition, so partitions never write the same memory.

An unsectored level's ``valid`` mask is never read: a present line of one sector is whole (ONE), so the
line-stream path (smartmem_sim/memsim/_kernels_lines.py) fills ways without writing it.

Masks are uint64 throughout: numba turns int64 <op> uint64 into float64, so no mask ever meets a signed
integer. Kernels are compiled with ``_nrt=False`` (no allocation, no reference counting of array
arguments). level_pass() is the workhorse: one level, a stream of requests, counters and the stream's
clock/last line in registers, with access() (inlined into the out-of-line _generic()) for what its lean
path does not cover; levels with an LRU recency order and unsectored lines (the usual texture L1 and L2)
hand their loads to _lean_lru_loads, a small separate loop that measured ~2x faster on misses. serial_run
drives the single-stream case in small chunks through all levels, so request buffers stay in cache.
Callers pass typed values (np.int64(...), np.bool_(...)), never literals or prange
indices, so level_pass compiles once (each extra signature cost ~20 s of compile time).

A level's requests for the level below (fetch first, then write-back or forwarded store) are collected
for a whole chunk before the next level runs. No level looks at a level below it, so this gives every
level the same stream, in the same order, as handing each request down to memory before the next.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

(C_LINE_BITS, C_SECTOR_BITS, C_SET_MASK, C_WAYS, C_POLICY, C_WRITE, C_WALLOC, C_SPL,
 C_TAG_BASE, C_SET_BASE, C_ROW_BASE, C_LANES) = range(12)
NCFG = 12  # the first 8 fields are CacheLevel.config_array(); the rest are placed by the hierarchy
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

DRAM_READ, DRAM_WRITTEN, DRAM_REQUESTS = 0, 1, 2  # columns of the per-stream DRAM counters
ERR_NONE, ERR_ADDRESS, ERR_NBYTES, ERR_CORE = 0, 1, 2, 3  # row checks done inside the passes
ADDRESS_BITS = 62  # addresses must lie in [0, 2**62)

ONE = np.uint64(1)
ZERO = np.uint64(0)
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _emit(oa, on, ow, orow, pos, addr, nbytes, write, rowmode, rid):
    """Append one request (byte address, bytes, write flag, trace row) to the next level's stream; the new
    stream length."""
    upos = np.uint64(pos)
    oa[upos] = addr
    on[upos] = nbytes
    ow[upos] = write
    if rowmode != 0:
        orow[upos] = rid
    return pos + 1


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
def _first(mask):
    return np.int64(trailing_zeros(mask))


@njit(cache=True, inline="always")
def _last(mask):
    return np.int64(63) - np.int64(leading_zeros(mask))


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


ORDER_MAX_WAYS = 16  # LRU sets of at most this many ways keep a recency order (4-bit way ids in a uint64)
NIBBLES = np.uint64(0x1111111111111111)
NIBBLE_HIGH = np.uint64(0x8888888888888888)


def lru_order_start(ways: int) -> int:
    """The recency order of an empty set: nibble i (i = 0 most recent) holds way ways-1-i, so way 0 is
    the least recent. Any order serves an empty set (its victims are the first invalid ways)."""
    return sum((ways - 1 - i) << (4 * i) for i in range(ways))


@njit(cache=True, inline="always")
def _order_pos(order, w):
    # Lowest zero nibble of order ^ (w in every nibble): the zero-nibble test can flag a nibble above a
    # true zero (borrow), never one below, and w occurs once in the first ways nibbles: the lowest is exact.
    x = order ^ (np.uint64(w) * NIBBLES)
    t = (x - NIBBLES) & ~x & NIBBLE_HIGH
    return np.int64(trailing_zeros(t)) >> 2


@njit(cache=True, inline="always")
def _order_to_front(order, w):
    """Way w becomes the most recent (nibble 0); the ways before it move back one place."""
    below = (ONE << np.uint64(4 * _order_pos(order, w))) - ONE
    # (below + 1) << 4 wraps to 0 when w is in nibble 15, so ~(that - 1) keeps nothing above it
    above = order & ~(((below + ONE) << np.uint64(4)) - ONE)
    return ((order & below) << np.uint64(4)) | above | np.uint64(w)


@njit(cache=True, inline="always")
def _order_to_back(order, w, ways):
    """Way w becomes the least recent (nibble ways-1); the ways after it move forward one place."""
    below = (ONE << np.uint64(4 * _order_pos(order, w))) - ONE
    return (order & below) | ((order >> np.uint64(4)) & ~below) | (np.uint64(w) << np.uint64(4 * (ways - 1)))


@njit(cache=True, inline="always")
def _order_last(order, ways):
    return np.int64((order >> np.uint64(4 * (ways - 1))) & np.uint64(15))


@njit(cache=True, _nrt=False, inline="always")
def _first_invalid(tags, base, ways):
    for q in range(ways):
        if tags[base + q] == -1:
            return q
    return -1


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


@njit(cache=True, _nrt=False, inline="always")
def _find_way(tags, base, line, ways):
    found = -1
    for q in range(ways):
        found = q if tags[np.uint64(base + q)] == line else found
    return found


@njit(cache=True, _nrt=False)
def _lean_lru_loads(tags, valid, dirty, plru, cbase, pbase, set_mask, ways, lb, ia, inb, iw, irow, order, k, hi,
                    use_order, rowmode, check, core, ncores, oa, on, ow, orow, pos, cap,
                    clock, last_line, last_dirty, hits, misses, fast, bread, bfill, wbs, bwritten):
    """level_pass's path for the commonest level: LRU with a recency order (at most ORDER_MAX_WAYS ways),
    unsectored lines. Runs loads that lie in one line from request k on, and stops (returning where) at
    anything else (a store, a row crossing lines, a bad row when ``check``, a full output buffer), which
    level_pass then takes. Same state changes, clock ticks, requests and counters as the lean path of
    level_pass (an unsectored present line is always valid: its one sector mask is 1). A separate small
    function so its loop keeps everything in registers (measured ~2x faster on misses than the general
    loop). Returns the updated stream state and counters."""
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
        if iw[ui] != 0:
            break
        line = a >> lb
        if ((a + n - 1) >> lb) != line:
            break
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
            vw = _order_last(rank, ways)
            uwi = np.uint64(base + vw)
            rid = i if rowmode == 1 else (irow[ui] if rowmode == 2 else 0)
            pos = _emit(oa, on, ow, orow, pos, line << lb, line_bytes, 0, rowmode, rid)
            bfill += line_bytes
            old = tags[uwi]
            if old != -1 and dirty[uwi] != ZERO:
                wbs += 1
                bwritten += line_bytes
                pos = _emit(oa, on, ow, orow, pos, old << lb, line_bytes, 1, rowmode, rid)
            tags[uwi] = line
            valid[uwi] = ONE
            dirty[uwi] = ZERO
            plru[uset] = _order_to_front(rank, vw)
            last_dirty = ZERO
        last_line = line
        k += 1
    return k, pos, clock, last_line, last_dirty, hits, misses, fast, bread, bfill, wbs, bwritten


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
    sectored = sb != lb  # an unsectored line that is present has its one sector valid
    spec = ordered and not sectored  # _lean_lru_loads takes the loads
    k = lo
    while k < hi:
        if spec:
            (k, pos, clock, last_line, last_dirty, hits, misses, fast, bread, bfill, wbs,
             bwritten) = _lean_lru_loads(tags, valid, dirty, plru, cbase, pbase, set_mask, ways, lb, ia, inb, iw,
                                         irow, order, k, hi, use_order, rowmode, check, core, ncores, oa, on, ow,
                                         orow, pos, cap, clock, last_line, last_dirty, hits, misses, fast, bread,
                                         bfill, wbs, bwritten)
            if last_line != -1:
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
    return k, pos


@njit(cache=True, _nrt=False)
def to_dram(nb, wr, lo, hi, dram, drow):
    """Requests lo..hi-1 leave the last level: fetches are DRAM reads, stores DRAM writes."""
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
def _chain(cfg, l0, l1, copy, lane, tags, stamp, valid, dirty, plru, meta, umeta, stats, m, track,
           xa, xn, xw, xr, ya, yn, yw, yr, lo, cap, sa, sn, sw, err):
    """m requests at x*[lo:] through levels l0..l1-1 (one pass per level, ping-pong between x* and y*,
    each with room cap - lo from lo). Returns (which: 0 = x, 1 = y, holding the output, its count)."""
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
def per_core_pass(addr, nb, st, order, starts, cfg, nper, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                  sa, sn, sw, ostart, xa, xn, xw, xr, ya, yn, yw, yr, ofill, oside, pcount, part_shift, dram, err):
    """Copy c of the per-core levels 0..nper-1 runs rows order[starts[c]:starts[c+1]] in order; copies are
    independent, so they run in parallel, each in its region [ostart[c], ostart[c+1]) of the buffers.
    Copy c's requests leaving level nper-1 (with the row that caused them) end in x* (oside[c] = 0) or
    y* (1) from ostart[c], ofill[c] of them, counted per set partition of the shared levels in pcount[c];
    with no shared levels they go to DRAM (dram[c])."""
    ncopies = starts.shape[0] - 1
    nparts = pcount.shape[1]
    nlev = cfg.shape[0]
    for c in prange(ncopies):
        ci = np.int64(c)  # typed values, not literals or the prange index type: one compiled level_pass
        zero = np.int64(0)
        lo = ostart[c]
        cap = ostart[c + 1]
        _, end = level_pass(cfg, zero, ci, zero, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                            addr, nb, st, addr, order, starts[c], starts[c + 1], np.bool_(True), np.int64(1),
                            np.bool_(False), nb, zero, err[c], xa, xn, xw, xr, lo, cap, sa[c], sn[c], sw[c])
        which, m = _chain(cfg, np.int64(1), nper, ci, zero, tags, stamp, valid, dirty, plru, meta, umeta, stats,
                          end - lo, np.bool_(True), xa, xn, xw, xr, ya, yn, yw, yr, lo, cap, sa[c], sn[c], sw[c],
                          err[c])
        ofill[c] = m
        oside[c] = which
        for p in range(nparts):
            pcount[c, p] = 0
        if nper == nlev:
            if which == 0:
                to_dram(xn, xw, lo, lo + m, dram, ci)
            else:
                to_dram(yn, yw, lo, lo + m, dram, ci)
        else:
            for q in range(lo, lo + m):
                a = xa[q] if which == 0 else ya[q]
                pcount[c, (a >> part_shift) & (nparts - 1)] += 1


@njit(cache=True, parallel=True, _nrt=False)
def count_rows(addr, nb, core, r0, r1, ncores, line_bits, counts, pieces, err):
    """Block b of rows r0..r1-1 (blocks = counts.shape[0]): rows per core (counts[b]), lines of size
    2**line_bits they touch per core (pieces[b]); the first bad row of the block in err[b] = (code, row)."""
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
def split_by_part(ostart, ofill, oside, pstart, part_shift, xa, xn, xw, xr, ya, yn, yw, yr, ba, bn, bw, brow):
    """Copy c's output requests (in x* or y*, per oside[c]), stably sorted by set partition: partition p's go to b*[pstart[c, p]:]
    (pstart is advanced to the ends)."""
    nparts = pstart.shape[1]
    for c in prange(ofill.shape[0]):
        if oside[c] == 0:
            _split(ostart[c], ofill[c], pstart[c], part_shift, nparts, xa, xn, xw, xr, ba, bn, bw, brow)
        else:
            _split(ostart[c], ofill[c], pstart[c], part_shift, nparts, ya, yn, yw, yr, ba, bn, bw, brow)


@njit(cache=True, _nrt=False, inline="always")
def _split(lo, m, pstart, part_shift, nparts, oa, on, ow, orow, ba, bn, bw, brow):
    for q in range(lo, lo + m):
        p = (oa[q] >> part_shift) & (nparts - 1)
        j = pstart[p]
        ba[j] = oa[q]
        bn[j] = on[q]
        bw[j] = ow[q]
        brow[j] = orow[q]
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
def shared_pass(pstart, pend, ba, bn, bw, brow, mstart, xa, xn, xw, xr, ya, yn, yw, yr, cfg, l0,
                tags, stamp, valid, dirty, plru, meta, umeta, stats, sa, sn, sw, heads, dram, err):
    """Set partition p of the shared levels l0.. sees its requests from every copy merged by the row that
    caused them (row order; a row's requests come from one copy, in order): b*[pstart[c, p]:pend[c, p]]
    for copy c, merged into x*[mstart[p]:], then one pass per shared level in its region
    [mstart[p], mstart[p + 1]). Partitions own disjoint sets of every shared level, so they run in
    parallel; p's DRAM traffic goes to dram[p]."""
    ncopies = pstart.shape[0]
    for p in prange(pstart.shape[1]):
        h = heads[p]
        for c in range(ncopies):
            h[c] = pstart[c, p]
        j = mstart[p]
        while True:
            best, second = merge_pick(h, pend[:, p], brow)
            if best < 0:
                break
            q = h[best]
            end = pend[best, p]
            while q < end and brow[q] < second:
                xa[j] = ba[q]
                xn[j] = bn[q]
                xw[j] = bw[q]
                j += 1
                q += 1
            h[best] = q
        lo = mstart[p]
        pi = np.int64(p)
        which, m = _chain(cfg, l0, np.int64(cfg.shape[0]), np.int64(0), pi, tags, stamp, valid, dirty, plru, meta,
                          umeta, stats, j - lo, np.bool_(False), xa, xn, xw, xr, ya, yn, yw, yr, lo, mstart[p + 1],
                          sa[p], sn[p], sw[p], err[p])
        if which == 0:
            to_dram(xn, xw, lo, lo + m, dram, pi)
        else:
            to_dram(yn, yw, lo, lo + m, dram, pi)


@njit(cache=True, _nrt=False)
def serial_run(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, addr, nb, st, core, ncores, r, n, rows,
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
            to_dram(xn, xw, 0, m, dram, 0)
        else:
            to_dram(yn, yw, 0, m, dram, 0)
        r = k
    return r
