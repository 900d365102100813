"""Rank statistics against plain definitions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.calibration import stats


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=30, unique=True), st.randoms())
def test_spearman_matches_textbook_formula_without_ties(a, rnd):
    b = list(a)
    rnd.shuffle(b)
    n = len(a)
    ra = np.argsort(np.argsort(a)) + 1
    rb = np.argsort(np.argsort(b)) + 1
    expected = 1 - 6 * float(((ra - rb) ** 2).sum()) / (n * (n * n - 1))
    assert stats.spearman(a, b) == pytest.approx(expected, abs=1e-9)


def test_spearman_monotone_and_ties():
    assert stats.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(stats.spearman([1, 2], [1, 2]))
    assert list(stats.ranks([5, 1, 5, 2])) == [3.5, 1.0, 3.5, 2.0]


def test_share_and_pairs():
    err = stats.rel_error([1.05, 2.0, 0.95], [1.0, 1.0, 1.0])
    assert stats.share_within(err) == pytest.approx(2 / 3)
    # measured 1, 2, 2.05: the pair (2, 2.05) is within 5% and is not counted
    assert stats.pair_agreement([1, 3, 2], [1, 2, 2.05]) == (2, 2)
    assert stats.pair_agreement([3, 1], [1, 2]) == (0, 1)
