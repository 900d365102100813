"""The state layout of the numba cache engine, the structures its kernels pass around, and the bit helpers
(masks, PLRU trees, LRU recency orders). Private: smartmem_sim/memsim/cache.py documents the semantics and
smartmem_sim/memsim/hierarchy.py builds the state and drives the kernels (one level:
_kernels_access.py and _kernels_level.py; the passes over a chunk of rows: _kernels_streams.py; the
line-stream paths: _kernels_lines*.py).

State of every level of a hierarchy lives in shared flat arrays (one per kind), so the same compiled pass
serves every level: ``tags``/``stamp``/``valid``/``dirty`` (int64/int64/uint64/uint64, one entry per way),
``plru`` (uint64, one per set: PLRU tree bits, or the recency order of an LRU set of at most ORDER_MAX_WAYS
ways, which then takes the place of ``stamp``), and per *stream* rows of ``meta`` (int64: clock, last line),
``umeta`` (uint64: random state, last line's valid and dirty sector masks) and ``stats`` (int64, NSTATS).
``cfg`` has one row per level (C_*): geometry, policy, write mode, and where the level's state starts in the
flat arrays. A level has ``copies`` (one per core for per-core levels) and every copy has ``lanes`` streams: a
shared level whose sets are split into set partitions (simulated in parallel) keeps one clock, last line and
counters per partition, so partitions never write the same memory. ``dram`` (int64, one row per parallel
stream, DRAM_*) counts what leaves the last level.

The drivers take these arrays as one ``Levels`` namedtuple, and request buffers as ``Requests``; every
field keeps one dtype at every call site, so each kernel compiles for as few signatures as before the
grouping. The functions with the hot loops (access, _generic, _lean_lru_loads and level_pass of
_kernels_access.py and _kernels_level.py, the fused pass of _kernels_lines.py) take flat arrays instead,
unpacked once by their callers: with the tuples passed down into them their loops measured 7-12% slower
(random loads on the fused pass; sequential loads with 10% stores on the general path).

An unsectored level's ``valid`` mask is never read: a present line of one sector is whole (ONE), so the
line-stream path (smartmem_sim/memsim/_kernels_lines.py) fills ways without writing it.

Masks are uint64 throughout: numba turns int64 <op> uint64 into float64, so no mask ever meets a signed
integer. Kernels are compiled with ``_nrt=False`` (no allocation, no reference counting of array
arguments).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit
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

# The flat state of all levels (layout above), built once by the hierarchy.
Levels = namedtuple("Levels", "cfg tags stamp valid dirty plru meta umeta stats dram")
# A request stream: byte address (int64), bytes (int32), store flag (uint8) and the trace row that caused
# it (int64; a stream that carries no rows repeats ``a`` there, so every buffer has one type).
Requests = namedtuple("Requests", "a n w row")
# The trace's columns (addresses int32 or int64, nbytes int32, write uint8, core int32) and the number of
# cores, which the row checks need wherever the columns are read.
Rows = namedtuple("Rows", "addr nbytes write core ncores")


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
