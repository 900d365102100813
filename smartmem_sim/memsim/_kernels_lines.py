"""Numba kernels of the line-stream path: the single-stream case when every level keeps an LRU recency
order and unsectored lines (the usual texture L1 + L2) and the rows are plain loads. Private:
smartmem_sim/memsim/hierarchy.py decides when it applies and smartmem_sim/memsim/_kernels_cache.py has the state layout.

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

It changes the same state in the same order as the general path (smartmem_sim/memsim/_kernels_cache.level_pass):
same victims, clock ticks, counters (``fast_hits`` included: a level's fast hits are the requests on the
line of its request before, across chunks too) and DRAM traffic. Stores are what it does not model: a
chunk with a store, a row that crosses a line or a bad row goes through the general path (serial_run),
and after a store no chunk takes this path again, because a dirty line would make a victim send a
write-back, which line numbers cannot carry. tests/memsim/test_lines_path.py holds the two paths to the
same state and to the Python model.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from smartmem_sim.memsim._kernels_cache import (
    ALL,
    C_LINE_BITS,
    C_ROW_BASE,
    C_SET_BASE,
    C_SET_MASK,
    C_TAG_BASE,
    C_WAYS,
    DRAM_READ,
    DRAM_REQUESTS,
    ERR_NONE,
    META_CLOCK,
    META_LAST_LINE,
    ONE,
    S_ACC,
    S_BFILL,
    S_BREAD,
    S_FAST,
    S_HIT,
    S_MISS,
    UMETA_LAST_DIRTY,
    UMETA_LAST_VALID,
    ZERO,
    _order_to_front,
    serial_run,
)

# The unsectored levels of this path never write ``valid`` (see smartmem_sim/memsim/_kernels_cache.py: it is not read).

CHUNK_PLAIN, CHUNK_STORE, CHUNK_OTHER = 0, 1, 2  # what a chunk holds (see line_heads)


BLOCK = 8  # rows tested together: a block on one line (a texel row of a line, say) gives one head


@njit(cache=True, _nrt=False)
def line_heads(addr, nb, st, core, ncores, uniform, lo, hi, lb, last_line, heads):
    """Rows lo..hi-1 (at least one) cut down to the lines of their run heads (rows whose line differs
    from the row before; ``last_line`` is the line before row lo), checking every row on the way; with
    ``uniform`` nb, st and core hold one value for every row, loads by a good core (checked by the
    caller), and only the addresses are read. Returns (m, kind, last line, load bytes, run): kind is
    CHUNK_STORE if a row is a store, else CHUNK_OTHER if a row crosses a line or is bad (address, nbytes,
    core), else CHUNK_PLAIN; heads[:m] are the heads (only for CHUNK_PLAIN), which with ``run`` are
    consecutive lines."""
    ulb = np.uint64(lb)
    if uniform:
        n1 = np.uint64(np.int64(nb[0]) - 1)
        nbytes = np.int64(nb[0]) * (hi - lo)
        other = ZERO
    else:
        n1 = ZERO  # the columns' pass checks the rows' ends
        stores, other, nbytes = _column_checks(addr, nb, st, core, ncores, lo, hi, ulb)
        if stores != 0 or other != ZERO:
            return np.int64(0), CHUNK_STORE if stores != 0 else CHUNK_OTHER, last_line, nbytes, False
    m, last, high, cross, jumps = _block_heads(addr, lo, hi, lb, n1, last_line, heads)
    other |= (high >> np.uint64(62)) | (cross >> ulb)
    return m, CHUNK_OTHER if other != ZERO else CHUNK_PLAIN, last, nbytes, jumps == ZERO


@njit(cache=True, _nrt=False)
def _column_checks(addr, nb, st, core, ncores, lo, hi, ulb):
    """(any store, nonzero if a row is bad or crosses a line, load bytes) of rows lo..hi-1: OR-reductions
    in unsigned arithmetic, which is vector code."""
    stores = np.int64(0)
    high = ZERO  # OR of the addresses and of nbytes - 1: bit 62 or 63 set is bad
    cross = ZERO  # OR of address ^ (its last byte's address): a bit at lb or above crosses a line
    bad_core = ZERO
    nbytes = np.int64(0)
    uc = np.uint64(ncores)
    for i in range(lo, hi):
        ui = np.uint64(i)
        a = np.uint64(addr[ui])
        n = np.int64(nb[ui])
        n1 = np.uint64(n - 1)
        stores |= np.int64(st[ui])
        high |= a | n1
        cross |= (a + n1) ^ a
        bad_core |= np.uint64(np.uint64(np.int64(core[ui])) >= uc)
        nbytes += n
    return stores, (high >> np.uint64(62)) | (cross >> ulb) | bad_core, nbytes


@njit(cache=True, _nrt=False, inline="always")
def _block_bits(addr, i, k, n1, a0):
    """Rows i..i+k-1 (loads of n1 + 1 bytes; a0 the address of row i): (bits where a row's address differs
    from a0, OR of the addresses, OR of address ^ (its last byte's address)), by OR-reductions only."""
    spread = ZERO
    high = ZERO
    cross = ZERO
    for q in range(k):
        a = np.uint64(addr[np.uint64(i + q)])
        spread |= a ^ a0
        high |= a
        cross |= (a + n1) ^ a
    return spread, high, cross


@njit(cache=True, _nrt=False, inline="always")
def _on_one_line(addr, i, n1, a0, ulb):
    """True if the BLOCK rows from row i (loads of n1 + 1 bytes; a0 the address of row i) surely lie on
    a0's line, none crossing it and none bad: one OR-reduction of address ^ a0, whose OR with a0 bounds
    every row's offset in the line from above. Exact for loads aligned to their size (texels); False only
    means the block must be checked row by row (_block_bits)."""
    spread = ZERO
    for q in range(BLOCK):
        spread |= np.uint64(addr[np.uint64(i + q)]) ^ a0
    u = a0 | spread
    last = ((u & ((ONE << ulb) - ONE)) + n1) | n1  # (| n1: a huge n1 must not wrap round)
    return ((spread | last) >> ulb | (u >> np.uint64(62))) == ZERO


@njit(cache=True, _nrt=False)
def _block_heads(addr, lo, hi, lb, n1, last_line, heads):
    """The run heads of rows lo..hi-1 into heads[:m], in blocks of BLOCK rows: a block whose rows share a
    line adds at most one head, other blocks go row by row. Returns (m, last line, OR of the addresses,
    OR of address ^ (address + n1) (both over the blocks not found clean by _on_one_line: enough to flag
    a bad or crossing row), nonzero if a row is neither on the line of the row before nor on the next
    line)."""
    ulb = np.uint64(lb)
    high = ZERO
    cross = ZERO
    jumps = ZERO
    m = 0
    prev = last_line
    before = np.int64(addr[np.uint64(lo)] >> lb)
    i = lo
    while i < hi:
        k = BLOCK if hi - i >= BLOCK else hi - i
        a0 = np.uint64(addr[np.uint64(i)])
        if k == BLOCK and _on_one_line(addr, i, n1, a0, ulb):
            spread = ZERO
        else:
            spread, h, c = _block_bits(addr, i, k, n1, a0)
            high |= h
            cross |= c
        if (spread >> ulb) == ZERO:
            line = np.int64(a0 >> ulb)
            jumps |= np.uint64(np.uint64(line - before) > ONE)
            before = line
            heads[np.uint64(m)] = line
            m += line != prev
            prev = line
        else:
            for q in range(k):
                line = addr[np.uint64(i + q)] >> lb
                jumps |= np.uint64(np.uint64(line - before) > ONE)
                before = line
                heads[np.uint64(m)] = line
                m += line != prev
                prev = line
        i += k
    return m, prev, high, cross, jumps


FP_MUL = np.uint64(0x9E3779B97F4A7C15)  # a line's fingerprint: the top byte of line * FP_MUL
BYTES = np.uint64(0x0101010101010101)
BYTE_HIGH = np.uint64(0x8080808080808080)


@njit(cache=True, _nrt=False, inline="always")
def _fingerprint(line):
    return (np.uint64(line) * FP_MUL) >> np.uint64(56)


@njit(cache=True, _nrt=False, inline="always")
def _candidates(word, f):
    """Bit 7 of byte q set where byte q of ``word`` may equal f: exact for the lowest such byte, and a
    byte above an equal one may be flagged too (a borrow), so every candidate is checked on its tag."""
    x = word ^ (f * BYTES)
    return (x - BYTES) & ~x & BYTE_HIGH


@njit(cache=True, _nrt=False)
def _fingerprints_of(tags, base, ways, fp, word0):
    """The fingerprint words of a set (byte q: way q's tag), rebuilt from its tags."""
    w0 = ZERO
    w1 = ZERO
    for q in range(ways):
        f = _fingerprint(tags[np.uint64(base + q)])
        if q < 8:
            w0 |= f << np.uint64(8 * q)
        else:
            w1 |= f << np.uint64(8 * (q - 8))
    fp[np.uint64(word0)] = w0
    fp[np.uint64(word0 + 1)] = w1


@njit(cache=True, _nrt=False, inline="always")
def _way_by_fingerprint(tags, base, ways, line, f, fp, word0, epoch, uset, now):
    """The way holding ``line`` in a set of 8 or 16 ways (-1: none), found by the fingerprints of the set's
    tags (two words from fp[word0]), which are rebuilt first if stale (epoch[uset] != now)."""
    if epoch[uset] != now:
        _fingerprints_of(tags, base, ways, fp, word0)
        epoch[uset] = now
    c0 = _candidates(fp[np.uint64(word0)], f)
    c1 = _candidates(fp[np.uint64(word0 + 1)], f) & (BYTE_HIGH if ways == 16 else ZERO)
    while c0 != ZERO:
        q = np.int64(trailing_zeros(c0)) >> 3
        if tags[np.uint64(base + q)] == line:
            return q
        c0 &= c0 - ONE
    while c1 != ZERO:
        q = 8 + (np.int64(trailing_zeros(c1)) >> 3)
        if tags[np.uint64(base + q)] == line:
            return q
        c1 &= c1 - ONE
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _turned(rank, turns, ways):
    """A set's recency order after ``turns`` (1..ways-1) fills of its back way: each fill takes the least
    recent way (an invalid one while there is one, see _kernels_cache.access) and makes it the most
    recent, so the order turns by one place."""
    keep = ALL if ways == 16 else (ONE << np.uint64(4 * ways)) - ONE
    return ((rank << np.uint64(4 * turns)) & keep) | (rank >> np.uint64(4 * (ways - turns)))


@njit(cache=True, _nrt=False, inline="always")
def _touch(line, tags, plru, cbase, pbase, set_mask, ways, fp, epoch, now, by_fingerprint):
    """One load of ``line`` at an LRU-ordered, unsectored level holding no dirty line: True on a hit (the
    line moves to the front of its set's recency order); on a miss the back of the order is the victim,
    filled with the line and moved to the front.

    With ``by_fingerprint`` (8 or 16 ways) a line is looked up by one-byte fingerprints of the set's tags,
    8 to a word, and a tag is read only to confirm a candidate, so a miss usually reads none; fp holds two
    words per set, and a set's words are rebuilt from its tags when epoch[set] != now (the general path
    and _fill_new_run change tags without them). Otherwise by a select per way, no early exit: vector code
    (measured faster than a presence test first)."""
    sidx = line & set_mask
    base = cbase + sidx * ways
    uset = np.uint64(pbase + sidx)
    word0 = 2 * (pbase + sidx)
    f = _fingerprint(line)
    if by_fingerprint:
        found = _way_by_fingerprint(tags, base, ways, line, f, fp, word0, epoch, uset, now)
    else:
        found = -1
        for q in range(ways):
            found = q if tags[np.uint64(base + q)] == line else found
    rank = plru[uset]
    if found >= 0:
        plru[uset] = _order_to_front(rank, found)
        return True
    v = np.int64(rank >> np.uint64(4 * (ways - 1)))  # the back of the order
    plru[uset] = _turned(rank, 1, ways)
    tags[np.uint64(base + v)] = line
    if by_fingerprint:
        wi = np.uint64(word0 + (v >> 3))
        sh = np.uint64(8 * (v & 7))
        fp[wi] = (fp[wi] & ~(np.uint64(0xFF) << sh)) | (f << sh)
    return False


@njit(cache=True, _nrt=False, inline="always")
def _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch, now,
                by_fingerprint, rows, orow, track):
    """Requests lines[:m] (line numbers of the level above; this level's line is line >> shift) through
    one LRU-ordered, unsectored level holding no dirty line (_touch). A request on the line before is a
    fast hit; misses go to out[:k] as this level's line numbers when ``emit`` (out may be lines: k never
    passes i). Returns (k, hits, fast, last line, top: the larger of ``top`` and the lines filled). With
    ``track`` each miss's entry of ``rows`` (the trace row it came from) goes to orow[k] too (orow may be
    rows). Inlined into one function per usual associativity, where ``ways``, ``by_fingerprint`` and
    ``track`` are constants."""
    k = 0
    hits = 0
    fast = 0
    ushift = np.uint64(shift)
    for i in range(m):
        line = lines[np.uint64(i)] >> ushift
        if line == last_line:
            fast += 1
            continue
        last_line = line
        if _touch(line, tags, plru, cbase, pbase, set_mask, ways, fp, epoch, now, by_fingerprint):
            hits += 1
        else:
            top = max(top, line)
            if emit:
                out[np.uint64(k)] = line
                if track:
                    orow[np.uint64(k)] = rows[np.uint64(i)]
            k += 1
    return k, hits, fast, last_line, top


# One compiled loop per usual associativity. Plain functions, not closures of a factory: closures share one
# numba cache index, and two processes compiling them at once (pytest -n 2 on a cold cache) can number
# their cache files alike and load each other's code.
@njit(cache=True, _nrt=False)
def _loop1(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
           now):
    return _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, 1, last_line, top, out, emit, fp, epoch,
                       now, False, lines, out, False)


@njit(cache=True, _nrt=False)
def _loop2(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
           now):
    return _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, 2, last_line, top, out, emit, fp, epoch,
                       now, False, lines, out, False)


@njit(cache=True, _nrt=False)
def _loop4(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
           now):
    return _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, 4, last_line, top, out, emit, fp, epoch,
                       now, False, lines, out, False)


@njit(cache=True, _nrt=False)
def _loop8(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
           now):
    return _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, 8, last_line, top, out, emit, fp, epoch,
                       now, True, lines, out, False)


@njit(cache=True, _nrt=False)
def _loop16(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
            now):
    return _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, 16, last_line, top, out, emit, fp, epoch,
                       now, True, lines, out, False)


@njit(cache=True, _nrt=False)
def _loop_any(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
              now):
    return _level_body(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                       now, False, lines, out, False)


@njit(cache=True, _nrt=False)
def _level(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
           now):
    if ways == 16:
        return _loop16(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                       now)
    if ways == 8:
        return _loop8(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                      now)
    if ways == 4:
        return _loop4(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                      now)
    if ways == 2:
        return _loop2(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                      now)
    if ways == 1:
        return _loop1(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                      now)
    return _loop_any(lines, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line, top, out, emit, fp, epoch,
                     now)


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
# plain functions, not closures (see above). Other pairs take the level-by-level loops.
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
def _fused_chunk(cfg, shape, tags, plru, meta, umeta, stats, dram, addr, lo, hi, nbytes1, total, top, fp, epoch, now):
    """Rows lo..hi-1, loads of nbytes1 bytes each, or (nbytes1 = -1) of ``total`` bytes in all, checked by
    the caller, through a two-level hierarchy of shape ``shape`` in one pass (_fused2_body); counters,
    last lines and tops written as _lines_chunk writes them. Returns (the row where it stopped: a block
    with a bad or crossing row, or hi; nonzero unless its heads look like one run of consecutive lines)."""
    r1 = cfg[0, C_ROW_BASE]
    r2 = cfg[1, C_ROW_BASE]
    lb = cfg[0, C_LINE_BITS]
    lb2 = cfg[1, C_LINE_BITS]
    args1 = (cfg[0, C_TAG_BASE], cfg[0, C_SET_BASE], cfg[0, C_SET_MASK])
    args2 = (lb2 - lb, cfg[1, C_TAG_BASE], cfg[1, C_SET_BASE], cfg[1, C_SET_MASK])
    n1 = np.uint64(max(nbytes1, 1) - 1)  # (the columns' rows were checked: none crosses a line)
    last1 = meta[r1, META_LAST_LINE]
    last2 = meta[r2, META_LAST_LINE]
    if shape == 0:
        out = _fused_4_8(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, *args1, *args2, last2, top[0], top[1])
    elif shape == 1:
        out = _fused_4_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, *args1, *args2, last2, top[0],
                          top[1])
    elif shape == 2:
        out = _fused_8_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, *args1, *args2, last2, top[0],
                          top[1])
    else:
        out = _fused_16_16(addr, lo, hi, lb, n1, last1, tags, plru, fp, epoch, now, *args1, *args2, last2, top[0],
                           top[1])
    stop, heads, hits1, hits2, fast2, misses2, last1, last2, top[0], top[1], jumps = out
    rows = stop - lo
    misses1 = heads - hits1
    bread = rows * nbytes1 if nbytes1 > 0 else total
    _counted(stats, meta, umeta, r1, rows, hits1, misses1, rows - heads, bread, np.int64(1) << lb, last1)
    _counted(stats, meta, umeta, r2, misses1, hits2, misses2, fast2, misses1 << lb, np.int64(1) << lb2, last2)
    dram[0, DRAM_READ] += misses2 << lb2
    dram[0, DRAM_REQUESTS] += misses2
    return stop, jumps


@njit(cache=True, _nrt=False, inline="always")
def _counted(stats, meta, umeta, row, requests, hits, misses, fast, bread, line_bytes, last_line):
    """A level stream's counters and last line after a batch of loads on this path (fast hits are among
    the requests and count as hits; the clock ticks for the others)."""
    stats[row, S_ACC] += requests
    stats[row, S_HIT] += hits + fast
    stats[row, S_MISS] += misses
    stats[row, S_FAST] += fast
    stats[row, S_BREAD] += bread
    stats[row, S_BFILL] += misses * line_bytes
    meta[row, META_CLOCK] += hits + misses
    if last_line != -1:
        meta[row, META_LAST_LINE] = last_line
        umeta[row, UMETA_LAST_VALID] = ONE  # a present unsectored line, never dirty on this path
        umeta[row, UMETA_LAST_DIRTY] = ZERO


@njit(cache=True, _nrt=False)
def _fill_new_run(tags, plru, cbase, pbase, set_mask, ways, start, count, epoch):
    """Lines start..start+count-1, none of them present, filled one after another as misses would fill
    them. Of the first count - sets*ways lines (if any) only their turns of each set's recency order are
    applied: each is evicted again by the sets*ways lines after it, which hold every set ``ways`` times.
    The fingerprints of the sets filled are marked stale (epoch 0)."""
    sets = set_mask + 1
    skip = max(0, count - sets * ways)
    if skip > 0:
        full = skip // sets
        part = skip % sets
        for s in range(sets):
            turns = (full + (1 if ((s - start) & set_mask) < part else 0)) % ways
            if turns:
                uset = np.uint64(pbase + s)
                rank = plru[uset]
                plru[uset] = _turned(rank, turns, ways)
    back = np.uint64(4 * (ways - 1))
    for line in range(start + skip, start + count):
        sidx = line & set_mask
        uset = np.uint64(pbase + sidx)
        rank = plru[uset]
        victim = rank >> back
        plru[uset] = _turned(rank, 1, ways)
        tags[np.uint64(cbase + sidx * ways + np.int64(victim))] = line
        epoch[uset] = 0


@njit(cache=True, _nrt=False)
def refresh_tops(cfg, tags, top):
    """top[lv] = the highest line level lv holds (-1 if none)."""
    for lv in range(cfg.shape[0]):
        base = cfg[lv, C_TAG_BASE]
        n = (cfg[lv, C_SET_MASK] + 1) * cfg[lv, C_WAYS]
        t = np.int64(-1)
        for q in range(base, base + n):
            t = max(t, tags[np.uint64(q)])
        top[lv] = t


@njit(cache=True, _nrt=False)
def _lines_chunk(cfg, tags, plru, meta, umeta, stats, dram, heads, m, run, nrows, nbytes, last0, la, lb_buf, top, fp,
                 epoch, now):
    """One chunk of plain loads (nrows rows of nbytes bytes in all; heads[:m] the lines of its run heads,
    consecutive lines if ``run``; last0 the line of its last row) through every level and out to DRAM.
    Between levels the requests are a line array (src[:m]) or, while ``run``, the lines start..start+m-1."""
    nlev = cfg.shape[0]
    src = heads
    start = heads[0] if m > 0 else np.int64(0)
    for lv in range(nlev):
        row = cfg[lv, C_ROW_BASE]
        lbits = cfg[lv, C_LINE_BITS]
        line_bytes = np.int64(1) << lbits
        cbase = cfg[lv, C_TAG_BASE]
        pbase = cfg[lv, C_SET_BASE]
        set_mask = cfg[lv, C_SET_MASK]
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
                _fill_new_run(tags, plru, cbase, pbase, set_mask, ways, first, count, epoch)
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
            misses, hits, f, last, t = _level(src, m, shift, tags, plru, cbase, pbase, set_mask, ways, last_line,
                                              top[lv], dst, emit, fp, epoch, now)
            top[lv] = t
            fast += f
            if lv > 0 or m > 0:
                last_line = last
            src = dst
            m = misses
        if lv == 0:
            last_line = last0
        _counted(stats, meta, umeta, row, hits + misses + fast, hits, misses, fast, bread, line_bytes, last_line)
        if not emit:
            dram[0, DRAM_READ] += misses * line_bytes
            dram[0, DRAM_REQUESTS] += misses


@njit(cache=True, _nrt=False)
def serial_lines_run(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, addr, nb, st, core, ncores, uniform,
                     r, n, rows, room0, err, xa, xn, xw, ya, yn, yw, sa, sn, sw, dram, heads, la, lb_buf, cnb, cst,
                     ccore, top, fp, epoch, clock, clean):
    """serial_run's contract (rows r..n-1 in chunks of ``rows``; returns where it stopped), taking each
    chunk of plain loads through the line-stream levels while ``clean`` (no store so far, so no level
    holds a dirty line) and any other chunk through serial_run. With ``uniform``, nb, st and core hold
    one value for every row (loads by a good core, checked by the caller), and a chunk for serial_run
    gets them spelled out in cnb, cst and ccore. heads, la, lb_buf, cnb, cst and ccore hold ``rows``
    entries; top (one per level) is refreshed from the tags here. fp and epoch hold the 8- and 16-way
    levels' fingerprints (see _level_body); clock[0] gives the epoch they hold for, and moves on here
    whenever the tags may have changed without them. Returns (row where it stopped, clean)."""
    lb0 = cfg[0, C_LINE_BITS]
    row0 = cfg[0, C_ROW_BASE]
    fresh = False  # top holds for the tags (serial_run does not keep it)
    clock[0] += 1  # the fingerprints kept are from another simulation
    shape = fused_shape(cfg)
    cut_first = True  # cut a chunk to its heads before the levels (whole runs go in closed form), or fuse
    while r < n:
        r1 = min(n, r + rows)
        if clean and shape >= 0 and not cut_first:
            # the last chunk's heads were not one run: one pass down both levels (_fused_chunk)
            total = np.int64(0)
            if not uniform:
                stores, other, total = _column_checks(addr, nb, st, core, ncores, r, r1, np.uint64(lb0))
                clean = stores == 0
            if uniform or (clean and other == ZERO):
                if not fresh:
                    refresh_tops(cfg, tags, top)
                    fresh = True
                stop, jumps = _fused_chunk(cfg, shape, tags, plru, meta, umeta, stats, dram, addr, r, r1,
                                           np.int64(nb[0]) if uniform else np.int64(-1), total, top, fp, epoch,
                                           clock[0])
                cut_first = jumps == ZERO  # heads on consecutive lines: a stream, whose runs go whole
                r = stop
                if r == r1:
                    continue
        elif clean:
            m, kind, last0, nbytes, run = line_heads(addr, nb, st, core, ncores, uniform, r, r1, lb0,
                                                     meta[row0, META_LAST_LINE], heads)
            if kind == CHUNK_PLAIN:
                if not fresh:
                    refresh_tops(cfg, tags, top)
                    fresh = True
                _lines_chunk(cfg, tags, plru, meta, umeta, stats, dram, heads, m, run, r1 - r, nbytes, last0, la,
                             lb_buf, top, fp, epoch, clock[0])
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
                cnb[q] = nb[0]
                cst[q] = st[0]
                ccore[q] = core[0]
            stop = serial_run(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, addr[r:r1], cnb, cst, ccore,
                              ncores, np.int64(0), size, rows, room0, err, xa, xn, xw, ya, yn, yw, sa, sn, sw, dram)
            stop += r
            if err[0] != ERR_NONE:
                err[1] += r
        else:
            stop = serial_run(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, addr, nb, st, core, ncores, r,
                              r1, rows, room0, err, xa, xn, xw, ya, yn, yw, sa, sn, sw, dram)
        if stop < r1 or err[0] != ERR_NONE:
            return stop, clean
        r = r1
    return r, clean
