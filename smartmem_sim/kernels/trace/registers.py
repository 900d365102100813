"""Replay of a read instruction's per-lane texel registers (the rule is in smartmem_sim/kernels/ops/program.py): which
executions of the instruction access memory.

A numba loop over work-items, iterations and lanes, in the order the kernel runs them. Updating the
registers in place in that order gives exactly the rule's timing: when lane ``l`` executes, the registers
of lanes ``j < l`` already hold this iteration's texels and those of lanes ``j >= l`` (its own included)
still hold the previous iteration's.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _replay(sel_item, sel_lane, ok, x, y, count, own_only):  # pragma: no cover - compiled
    rows, iters = ok.shape
    total = 0
    for r in range(rows):
        for i in range(iters):
            if ok[r, i]:
                total += 1
    o_item = np.empty(total, np.int64)
    o_seq = np.empty(total, np.int64)
    o_x = np.empty(total, np.int64)
    o_y = np.empty(total, np.int64)
    reg_x = np.zeros(count, np.int64)
    reg_y = np.zeros(count, np.int64)
    held = np.zeros(count, np.bool_)
    row_of = np.full(count, -1, np.int64)
    n = 0
    r = 0
    while r < rows:
        start = r
        item = sel_item[r]
        while r < rows and sel_item[r] == item:
            r += 1
        for lane in range(count):
            held[lane] = False
            row_of[lane] = -1
        for q in range(start, r):
            row_of[sel_lane[q]] = q
        for i in range(iters):
            for lane in range(count):
                q = row_of[lane]
                if q < 0 or not ok[q, i]:
                    continue
                xv = x[q, i]
                yv = y[q, i]
                hit = False
                for j in range(count):
                    if own_only and j != lane:
                        continue
                    if held[j] and reg_x[j] == xv and reg_y[j] == yv:
                        hit = True
                        break
                if not hit:
                    o_item[n] = item
                    o_seq[n] = i * count + lane
                    o_x[n] = xv
                    o_y[n] = yv
                    n += 1
                # the register holds the latest execution that was on, fetched or not
                reg_x[lane] = xv
                reg_y[lane] = yv
                held[lane] = True
    return o_item[:n], o_seq[:n], o_x[:n], o_y[:n]


def fetches(sel_item: np.ndarray, sel_lane: np.ndarray, ok: np.ndarray, x: np.ndarray, y: np.ndarray,
            count: int, reuse: bool = True, own_only: bool = False
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The executions of one read instruction that access memory, given every execution's need.

    ``sel_item``, ``sel_lane``: (rows,) work-item and lane of each row, rows of one work-item adjacent,
    each (item, lane) at most once; ``ok``, ``x``, ``y``: (rows, iterations): whether the execution is on
    (its guards pass) and the texel (image) or byte offset (buffer, y = 0) it reads. Returns
    (item, seq, x, y) of the accesses, ``seq`` = iteration * count + lane (the execution's position in
    its work-item), in no particular order. ``reuse=False``: no registers, every execution that is on
    accesses memory. ``own_only``: a register serves only its own lane (a tiled program's read groups,
    smartmem_sim/kernels/ops/program.py), no copy from another's."""
    if not reuse:
        row, i = np.nonzero(ok)
        return sel_item[row], i * count + sel_lane[row], x[row, i], y[row, i]
    ok = np.ascontiguousarray(ok, dtype=np.bool_)
    return _replay(np.ascontiguousarray(sel_item, dtype=np.int64), np.ascontiguousarray(sel_lane, dtype=np.int64),
                   ok, np.ascontiguousarray(x, dtype=np.int64), np.ascontiguousarray(y, dtype=np.int64), int(count),
                   bool(own_only))
