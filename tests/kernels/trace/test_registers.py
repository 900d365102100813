"""The register replay against a plain-Python reading of the rule (smartmem_sim/kernels/ops/program.py) that keeps
explicit snapshots of the registers per iteration instead of updating them in place."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.kernels.trace.registers import fetches


def _reference(sel_item, sel_lane, ok, x, y, count):
    out = set()
    for item in dict.fromkeys(sel_item.tolist()):
        rows = {int(sel_lane[q]): q for q in np.flatnonzero(sel_item == item)}
        prev = [None] * count  # registers as of the previous iteration
        for i in range(ok.shape[1]):
            now = list(prev)  # becomes the registers as of this iteration
            for lane in range(count):
                q = rows.get(lane)
                if q is None or not ok[q, i]:
                    continue
                t = (int(x[q, i]), int(y[q, i]))
                visible = [now[j] for j in range(lane)] + [prev[j] for j in range(lane, count)]
                if t not in visible:
                    out.add((item, i * count + lane, *t))
                now[lane] = t
            prev = now
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**31 - 1), st.booleans())
def test_replay_matches_reference(items, count, iters, seed, reuse):
    rng = np.random.default_rng(seed)
    pairs = [(it * 7, ln) for it in range(items) for ln in range(count) if rng.random() < 0.8]
    if not pairs:
        pairs = [(0, 0)]
    sel_item = np.array([p[0] for p in pairs], np.int64)
    sel_lane = np.array([p[1] for p in pairs], np.int64)
    shape = (len(pairs), iters)
    ok = rng.random(shape) < 0.8
    x = rng.integers(0, 3, shape)  # few distinct texels, so registers hit often
    y = rng.integers(0, 2, shape)
    got = fetches(sel_item, sel_lane, ok, x, y, count, reuse)
    rows = set(zip(*(a.tolist() for a in got), strict=True))
    assert len(rows) == len(got[0])
    if reuse:
        assert rows == _reference(sel_item, sel_lane, ok, x, y, count)
    else:
        want = {(int(sel_item[q]), i * count + int(sel_lane[q]), int(x[q, i]), int(y[q, i]))
                for q, i in zip(*np.nonzero(ok), strict=True)}
        assert rows == want


def test_broadcast_inputs_are_accepted():
    ok = np.broadcast_to(np.ones(1, bool), (4, 3))
    x = np.broadcast_to(np.arange(3), (4, 3))
    got = fetches(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), ok, x, np.zeros((4, 3), np.int64), 2)
    assert len(got[0]) == 6  # lane 1 always finds lane 0's texel of the same iteration
