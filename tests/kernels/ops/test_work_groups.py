"""Work-group shapes (builder.pick_local_2d / pick_local_1d) against a brute force over every full
work-group, and the padded launch's guard in the rendered source."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.ops.builder import MAX_GROUP_ITEMS, PAD_SLACK, WARP, pick_local_1d, pick_local_2d
from tests.kernels.cases import Case, rand


def _area(w, h, lx, ly):
    return -(-w // lx) * lx * (-(-h // ly) * ly)


def _good(items):
    """Fills at least 75% of the 32-wide warps it occupies, and one warp at least (counted by hand)."""
    warps = (items + WARP - 1) // WARP
    return items >= WARP and 4 * items >= 3 * warps * WARP


def _divisor_choice(w, h):
    """The shape chosen before padding existed: largest divisors, 16 along x at most."""
    lx = max(d for d in range(1, min(w, 16) + 1) if w % d == 0)
    ly = max(d for d in range(1, min(h, MAX_GROUP_ITEMS // lx) + 1) if h % d == 0)
    return lx, ly


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000))
def test_a_work_group_is_full_or_the_whole_grid_and_pads_little(w, h):
    lx, ly = pick_local_2d(w, h)
    old = _divisor_choice(w, h)
    if old[0] * old[1] == w * h or _good(old[0] * old[1]):
        assert (lx, ly) == old  # a grid whose divisors make a good group keeps its kernels
        return
    if w * h <= MAX_GROUP_ITEMS:
        assert (lx, ly) == (w, h)
        return
    assert lx * ly == MAX_GROUP_ITEMS
    best = min(_area(w, h, s, MAX_GROUP_ITEMS // s) for s in range(1, MAX_GROUP_ITEMS + 1) if MAX_GROUP_ITEMS % s == 0)
    assert _area(w, h, lx, ly) <= PAD_SLACK * best


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 100_000))
def test_a_1d_work_group_is_good_or_full_or_the_whole_grid(n):
    d = pick_local_1d(n)
    divisor = max(k for k in range(1, min(n, MAX_GROUP_ITEMS) + 1) if n % k == 0)
    assert d == (divisor if divisor == n or _good(divisor) else MAX_GROUP_ITEMS)


def test_vit_rows_get_full_work_groups():
    # 197 tokens: before, a [192, 197] grid ran work-groups of 16x1 and [591, 197] of 3x1; a buffer of
    # 3 x 197 x 197 work-items, groups of 3
    assert pick_local_2d(192, 197) == (16, 4)
    assert pick_local_2d(591, 197) == (16, 4)
    assert pick_local_1d(3 * 197 * 197) == 64
    assert pick_local_2d(192, 196) == (16, 4)  # divisors fill it: unchanged, no padding
    assert pick_local_2d(50, 768) == (10, 6)  # 60 work-items, 94% of two warps: unchanged


def test_a_padded_kernel_returns_past_its_grid():
    r = np.random.default_rng(0)
    case = Case("Add", [rand(r, 1, 8, 13, 13), rand(r, 1, 8, 13, 13)])
    plan, _, weights = case.plan(("nc4hw4", "nc4hw4"), "nc4hw4", out_shapes=[(1, 8, 13, 13)])
    (k,) = step_kernels(plan, plan.steps[0], weights)
    (w, h), (lw, lh) = k.program.global_size, k.global_size
    assert (w, h) == (26, 13) and lw % k.local_size[0] == 0 and lh % k.local_size[1] == 0 and lw * lh > w * h
    guard = [line.strip() for line in k.source.splitlines() if "return;" in line]
    assert guard == [" || ".join(c for c, on in ((f"gx >= {w}", lw > w), (f"gy >= {h}", lh > h)) if on).join(
        ("if (", ") return;"))]
