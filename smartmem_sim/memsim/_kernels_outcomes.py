"""Per-row outcomes of the numba cache engine (smartmem_sim/memsim/heatmap.py drives them): every trace row,
in row order, through the whole hierarchy before the next, with what each level counted for that row.

Why a separate kernel and not a flag on the fast paths: the fast paths (_kernels_lines*.py, level_pass) keep
counters in registers and batch a chunk through one level at a time; recording a row's outcome there would
slow the default path for every caller. This one calls the same access() (_kernels_access.py) that the
general path uses, one access at a time, and reads the level's counters before and after, so the semantics
are memsim's own; it is slower (no run-length batching), which is fine for the traces a heat map draws.

Handing one row through every level before the next gives every level the same stream in the same order
as the chunked paths (smartmem_sim/memsim/hierarchy.py's docstring: no level looks at a level below it).
Every level runs with one lane (no set partitions): partitions change only the ``fast_hits`` diagnostic
and per-lane clocks, never which access hits.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from smartmem_sim.memsim._kernels_access import access
from smartmem_sim.memsim._kernels_state import (
    ADDRESS_BITS,
    C_LANES,
    C_LINE_BITS,
    C_ROW_BASE,
    DRAM_READ,
    DRAM_REQUESTS,
    DRAM_WRITTEN,
    ERR_ADDRESS,
    ERR_CORE,
    ERR_NBYTES,
    ERR_NONE,
    S_ACC,
    S_MISS,
    S_SMISS,
)


@njit(cache=True)
def row_outcomes(cfg, tags, stamp, valid, dirty, plru, meta, umeta, stats, dram, per_core, addr, nb, wr, core,
                 ncores, acc, miss, smiss, dread, dwritten, qa, qn, qw, ra, rn, rw, sa, sn, sw, err):
    """Rows 0..n-1 through every level. Per row r and level l: acc[l, r], miss[l, r], smiss[l, r] (what
    level l counted for requests caused by row r); dread[r], dwritten[r]: DRAM bytes it caused. q*/r* are
    request buffers (this level's input, next level's output), s* room for one access()'s requests.
    Stops at a bad row with err = (code, row); returns the rows done."""
    nlev = cfg.shape[0]
    n = addr.shape[0]
    for r in range(n):
        a = np.int64(addr[r])
        b = np.int64(nb[r])
        c = np.int64(core[r])
        if (a >> ADDRESS_BITS) != 0 or a < 0:
            err[0] = ERR_ADDRESS
            err[1] = r
            return r
        if b <= 0:
            err[0] = ERR_NBYTES
            err[1] = r
            return r
        if c < 0 or c >= ncores:
            err[0] = ERR_CORE
            err[1] = r
            return r
        qa[0] = a
        qn[0] = b
        qw[0] = wr[r]
        m = 1
        for lv in range(nlev):
            copy = c if per_core[lv] else 0
            srow = cfg[lv, C_ROW_BASE] + copy * cfg[lv, C_LANES]
            a0 = stats[srow, S_ACC]
            m0 = stats[srow, S_MISS]
            s0 = stats[srow, S_SMISS]
            lb = cfg[lv, C_LINE_BITS]
            out = 0
            for q in range(m):
                x = qa[q]
                end = x + qn[q]
                store = qw[q] != 0
                while x < end:
                    piece = min(end, ((x >> lb) + 1) << lb) - x
                    k = access(cfg, lv, copy, 0, tags, stamp, valid, dirty, plru, meta, umeta, stats, x, piece,
                               store, sa, sn, sw, 0)
                    for j in range(k):
                        ra[out] = sa[j]
                        rn[out] = sn[j]
                        rw[out] = sw[j]
                        out += 1
                    x += piece
            acc[lv, r] = stats[srow, S_ACC] - a0
            miss[lv, r] = stats[srow, S_MISS] - m0
            smiss[lv, r] = stats[srow, S_SMISS] - s0
            for q in range(out):
                qa[q] = ra[q]
                qn[q] = rn[q]
                qw[q] = rw[q]
            m = out
        rd = 0
        wt = 0
        for q in range(m):
            if qw[q] != 0:
                wt += qn[q]
            else:
                rd += qn[q]
        dread[r] = rd
        dwritten[r] = wt
        dram[0, DRAM_READ] += rd
        dram[0, DRAM_WRITTEN] += wt
        dram[0, DRAM_REQUESTS] += m
    err[0] = ERR_NONE
    return n


@njit(cache=True)
def reuse_distances(lines, out):
    """For each access of one stream (line numbers as dense ids 0..u-1, in order): the number of distinct
    other lines touched since the previous access to its line (its LRU stack distance), or -1 for a first
    touch. A Fenwick tree over time holds one mark per line, at its latest access: O(n log n)."""
    n = lines.shape[0]
    u = 0
    for i in range(n):
        u = max(u, lines[i] + 1)
    last = np.full(u, -1, np.int64)
    tree = np.zeros(n + 1, np.int64)
    for t in range(n):
        ln = lines[t]
        p = last[ln]
        if p < 0:
            out[t] = -1
        else:
            # marks in (p, t): prefix(t) - prefix(p + 1), prefix(i) = marks at positions < i
            s = 0
            i = t
            while i > 0:
                s += tree[i]
                i -= i & (-i)
            i = p + 1
            while i > 0:
                s -= tree[i]
                i -= i & (-i)
            out[t] = s
            i = p + 1
            while i <= n:
                tree[i] -= 1
                i += i & (-i)
        i = t + 1
        while i <= n:
            tree[i] += 1
            i += i & (-i)
        last[ln] = t
    return out
