"""One level of the line-stream paths (_kernels_lines.py, _kernels_lines_cores.py): requests as line
numbers through an LRU-ordered, unsectored level that holds no dirty line, with the run of new lines in
closed form (_fill_new_run). 8- and 16-way levels find a line by one-byte fingerprints of their tags, 8 ways
per word, and read a tag only to confirm; a miss moves its victim from the back to the front of the recency
order with one shift.

``at`` is a level copy's place in the state: (tag base, set base, set mask); ``prints`` the fingerprints:
(two words per set, the epoch each set's words are for, the epoch now).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from smartmem_sim.memsim._kernels_state import (
    ALL,
    C_SET_MASK,
    C_TAG_BASE,
    C_WAYS,
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
)

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
    recent way (an invalid one while there is one, see _kernels_access.access) and makes it the most
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
    (measured faster than a presence test first). Flat arguments, not the state's tuples: the callers
    unpack those once, outside their loops (measured ~10% faster on random loads)."""
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
def _level_body(S, at, ways, by_fingerprint, lines, m, shift, ln, out, emit, prints, trk):
    """Requests lines[:m] (line numbers of the level above; this level's line is line >> shift) through
    one LRU-ordered, unsectored level holding no dirty line (_touch). A request on the line before is a
    fast hit; misses go to out[:k] as this level's line numbers when ``emit`` (out may be lines: k never
    passes i). ``ln``: (the stream's last line, top). Returns (k, hits, fast, last line, top: the larger of
    ``top`` and the lines filled). With trk = (True, rows, orow) each miss's entry of ``rows`` (the trace
    row it came from) goes to orow[k] too (orow may be rows). Inlined into one function per usual
    associativity, where ``ways``, ``by_fingerprint`` and the track flag are constants."""
    last_line, top = ln
    track, rows, orow = trk
    tags, plru = S.tags, S.plru
    cbase, pbase, set_mask = at
    fp, epoch, now = prints
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
def _loop1(S, at, ways, lines, m, shift, ln, out, emit, prints):
    return _level_body(S, at, 1, False, lines, m, shift, ln, out, emit, prints, (False, lines, out))


@njit(cache=True, _nrt=False)
def _loop2(S, at, ways, lines, m, shift, ln, out, emit, prints):
    return _level_body(S, at, 2, False, lines, m, shift, ln, out, emit, prints, (False, lines, out))


@njit(cache=True, _nrt=False)
def _loop4(S, at, ways, lines, m, shift, ln, out, emit, prints):
    return _level_body(S, at, 4, False, lines, m, shift, ln, out, emit, prints, (False, lines, out))


@njit(cache=True, _nrt=False)
def _loop8(S, at, ways, lines, m, shift, ln, out, emit, prints):
    return _level_body(S, at, 8, True, lines, m, shift, ln, out, emit, prints, (False, lines, out))


@njit(cache=True, _nrt=False)
def _loop16(S, at, ways, lines, m, shift, ln, out, emit, prints):
    return _level_body(S, at, 16, True, lines, m, shift, ln, out, emit, prints, (False, lines, out))


@njit(cache=True, _nrt=False)
def _loop_any(S, at, ways, lines, m, shift, ln, out, emit, prints):
    return _level_body(S, at, ways, False, lines, m, shift, ln, out, emit, prints, (False, lines, out))


@njit(cache=True, _nrt=False)
def _level(S, at, ways, lines, m, shift, ln, out, emit, prints):
    """Lines lines[:m] through one level copy (see _level_body) by the loop compiled for its ways."""
    if ways == 16:
        return _loop16(S, at, ways, lines, m, shift, ln, out, emit, prints)
    if ways == 8:
        return _loop8(S, at, ways, lines, m, shift, ln, out, emit, prints)
    if ways == 4:
        return _loop4(S, at, ways, lines, m, shift, ln, out, emit, prints)
    if ways == 2:
        return _loop2(S, at, ways, lines, m, shift, ln, out, emit, prints)
    if ways == 1:
        return _loop1(S, at, ways, lines, m, shift, ln, out, emit, prints)
    return _loop_any(S, at, ways, lines, m, shift, ln, out, emit, prints)


@njit(cache=True, _nrt=False, inline="always")
def _counted(S, row, requests, hits, misses, fast, bread, line_bytes, last_line):
    """A level stream's counters and last line after a batch of loads on this path (fast hits are among
    the requests and count as hits; the clock ticks for the others)."""
    stats, meta, umeta = S.stats, S.meta, S.umeta
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
def _fill_new_run(S, at, ways, start, count, epoch):
    """Lines start..start+count-1, none of them present, filled one after another as misses would fill
    them. Of the first count - sets*ways lines (if any) only their turns of each set's recency order are
    applied: each is evicted again by the sets*ways lines after it, which hold every set ``ways`` times.
    The fingerprints of the sets filled are marked stale (epoch 0)."""
    tags, plru = S.tags, S.plru
    cbase, pbase, set_mask = at
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
def refresh_tops(S, top):
    """top[lv] = the highest line level lv holds (-1 if none)."""
    cfg, tags = S.cfg, S.tags
    for lv in range(cfg.shape[0]):
        base = cfg[lv, C_TAG_BASE]
        n = (cfg[lv, C_SET_MASK] + 1) * cfg[lv, C_WAYS]
        t = np.int64(-1)
        for q in range(base, base + n):
            t = max(t, tags[np.uint64(q)])
        top[lv] = t
