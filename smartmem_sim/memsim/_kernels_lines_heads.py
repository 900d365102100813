"""The line-stream paths' first step: a chunk of rows checked and cut down to the heads of its line runs (a
row on the line of the row before it is a run-length fast hit: counted, nothing else), in one pass (blocks
of 8 rows on one line give one head, and one OR-reduction over a block shows most blocks of aligned texels
clean). The block tests serve the multi-core cut (_kernels_lines_cores.py) and the fused two-level pass
(_kernels_lines.py) too."""
from __future__ import annotations

import numpy as np
from numba import njit

from smartmem_sim.memsim._kernels_state import ONE, ZERO

CHUNK_PLAIN, CHUNK_STORE, CHUNK_OTHER = 0, 1, 2  # what a chunk holds (see line_heads)


BLOCK = 8  # rows tested together: a block on one line (a texel row of a line, say) gives one head


@njit(cache=True, _nrt=False)
def line_heads(rows, uniform, lo, hi, lb, last_line, heads):
    """Rows lo..hi-1 (at least one) cut down to the lines of their run heads (rows whose line differs
    from the row before; ``last_line`` is the line before row lo), checking every row on the way; with
    ``uniform`` nb, st and core hold one value for every row, loads by a good core (checked by the
    caller), and only the addresses are read. Returns (m, kind, last line, load bytes, run): kind is
    CHUNK_STORE if a row is a store, else CHUNK_OTHER if a row crosses a line or is bad (address, nbytes,
    core), else CHUNK_PLAIN; heads[:m] are the heads (only for CHUNK_PLAIN), which with ``run`` are
    consecutive lines."""
    addr, nb = rows.addr, rows.nbytes
    ulb = np.uint64(lb)
    if uniform:
        n1 = np.uint64(np.int64(nb[0]) - 1)
        nbytes = np.int64(nb[0]) * (hi - lo)
        other = ZERO
    else:
        n1 = ZERO  # the columns' pass checks the rows' ends
        stores, other, nbytes = _column_checks(rows, lo, hi, ulb)
        if stores != 0 or other != ZERO:
            return np.int64(0), CHUNK_STORE if stores != 0 else CHUNK_OTHER, last_line, nbytes, False
    m, last, high, cross, jumps = _block_heads(addr, lo, hi, lb, n1, last_line, heads)
    other |= (high >> np.uint64(62)) | (cross >> ulb)
    return m, CHUNK_OTHER if other != ZERO else CHUNK_PLAIN, last, nbytes, jumps == ZERO


@njit(cache=True, _nrt=False)
def _column_checks(rows, lo, hi, ulb):
    """(any store, nonzero if a row is bad or crosses a line, load bytes) of rows lo..hi-1: OR-reductions
    in unsigned arithmetic, which is vector code."""
    addr, nb, st, core, ncores = rows
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
