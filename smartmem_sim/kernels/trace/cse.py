"""Which rows of a trace the device compiler's common-subexpression elimination keeps (generate.merged_reads
says when reads merge): every store, and in each run of read rows of one work-item and one unrolled block of a
phase, the earliest read of each texel (or element) of each surface.

A numba loop: a block holds a few dozen reads, so comparing each with the kept reads before it in its block is
cheaper than sorting every read of a kernel by (block, texel), which took a third of a tiny twin's `search`
compile on a profile without texel registers (issue 26).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def kept_rows(item, point, write, surface, x, y, base, stride, per_block):  # pragma: no cover - compiled
    """Per row (rows in (item, point) order): False for a read that an earlier read of its block makes.
    Phase ``p`` starts at point ``base[p]`` (increasing), has ``stride[p]`` points per loop iteration and
    ``per_block[p]`` iterations per unrolled block."""
    n = item.shape[0]
    keep = np.ones(n, np.bool_)
    start = 0  # first row of the current block's reads
    prev_item, prev_phase, prev_block = -1, -1, -1
    phase = 0
    for i in range(n):
        if write[i]:
            continue
        pt = point[i]
        while phase > 0 and pt < base[phase]:
            phase -= 1
        while phase + 1 < base.shape[0] and pt >= base[phase + 1]:
            phase += 1
        block = (pt - base[phase]) // stride[phase] // per_block[phase]
        if item[i] != prev_item or phase != prev_phase or block != prev_block:
            start = i
            prev_item, prev_phase, prev_block = item[i], phase, block
            continue
        for j in range(start, i):
            if keep[j] and not write[j] and surface[j] == surface[i] and x[j] == x[i] and y[j] == y[i]:
                keep[i] = False
                break
    return keep
