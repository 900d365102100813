"""The calibration fits on synthetic curves with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from smartmem_sim.calibration import fit
from smartmem_sim.errors import UserError


def cache_curve(footprints, capacities, latencies, ramp=1.0, noise=0.0, seed=0):
    """Latency of a random chase: the level whose capacity holds the footprint; between C and ramp*C the
    latency climbs linearly in log footprint to the next level's (a non-LRU cache fills gradually)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in footprints:
        lat = latencies[-1]
        for i, c in enumerate(capacities):
            if f <= c:
                lat = latencies[i]
                break
            if ramp > 1 and f < c * ramp:
                t = math.log(f / c) / math.log(ramp)
                lat = latencies[i] + t * (latencies[i + 1] - latencies[i])
                break
        out.append(lat * (1 + noise * rng.standard_normal()))
    return np.array(out)


FOOTPRINTS = [4096 * 2 ** (k / 2) for k in range(0, 30)]  # 4 KB .. ~95 MB at sqrt(2) spacing


@pytest.mark.parametrize("caps,lats", [
    ([256 << 10, 24 << 20], [20.0, 143.0, 315.0]),  # H100-like
    ([32 << 10, 512 << 10, 16 << 20], [1.0, 4.0, 12.0, 90.0]),  # CPU-like
    ([64 << 10], [5.0, 50.0]),
])
@pytest.mark.parametrize("noise", [0.0, 0.03])
def test_find_knees_recovers_capacities(caps, lats, noise):
    y = cache_curve(FOOTPRINTS, caps, lats, ramp=1.5, noise=noise, seed=1)
    knees = fit.find_knees(FOOTPRINTS, y, max_knees=len(caps))
    assert len(knees) == len(caps)
    for k, c in zip(knees, caps, strict=True):
        # bracketed by the last footprint at the lower plateau and the next one measured
        assert k.capacity_bytes <= c * 1.0001 < k.next_bytes
        assert abs(math.log2(k.capacity_bytes / c)) <= 0.5  # within one sqrt(2) step
    plat = fit.plateaus(FOOTPRINTS, y, knees)
    assert np.allclose(plat, lats, rtol=0.1)


def test_find_knees_flat_curve_has_none():
    y = np.full(len(FOOTPRINTS), 7.0) * (1 + 0.02 * np.random.default_rng(0).standard_normal(len(FOOTPRINTS)))
    assert fit.find_knees(FOOTPRINTS, y, max_knees=3) == []


def test_find_knees_ignores_one_point_spike():
    y = cache_curve(FOOTPRINTS, [1 << 20], [10.0, 100.0])
    y[5] *= 3  # one disturbed measurement must not become a level
    knees = fit.find_knees(FOOTPRINTS, y, max_knees=2)
    assert len(knees) == 1 and abs(math.log2(knees[0].capacity_bytes / (1 << 20))) <= 0.5


def test_find_knees_unsorted_input():
    y = cache_curve(FOOTPRINTS, [1 << 20], [10.0, 100.0])
    perm = np.random.default_rng(3).permutation(len(FOOTPRINTS))
    knees = fit.find_knees(np.array(FOOTPRINTS)[perm], y[perm], 1)
    assert knees[0].capacity_bytes == pytest.approx(1 << 20, rel=0.42)


def test_segment_matches_brute_force():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(0, 0.1, 5), rng.normal(2, 0.1, 4), rng.normal(5, 0.1, 6)])
    segs = fit.segment(y, 3)
    assert segs == [(0, 4), (5, 8), (9, 14)]
    # brute force over all cut pairs agrees on the cost
    def cost(parts):
        return sum(float(((y[a:b + 1] - y[a:b + 1].mean()) ** 2).sum()) for a, b in parts)
    best = min(cost([(0, i - 1), (i, j - 1), (j, len(y) - 1)]) for i in range(2, 14) for j in range(i + 2, 14))
    assert cost(segs) == pytest.approx(best)


@pytest.mark.parametrize("line", [32, 64, 128, 256])
def test_line_from_knees(line):
    cap = 256 << 10
    small, big = 32, 512
    knee_small = cap * max(1, small / line)
    knee_big = cap * max(1, big / line)
    assert fit.line_from_knees(knee_small, small, knee_big, big) == line


def test_line_from_knees_bounds():
    assert fit.line_from_knees(1000, 64, 1000, 256) == 256  # no scaling: line >= the big stride
    with pytest.raises(UserError):
        fit.line_from_knees(1000, 256, 1000, 64)


@pytest.mark.parametrize("sector", [16, 32, 64, 128])
def test_fetch_granularity_recovers_sector(sector):
    strides = [4, 8, 16, 32, 64, 128, 256]
    hit, miss = 20.0, 140.0
    lat = [hit + (miss - hit) * min(1.0, s / sector) for s in strides]
    g, _ = fit.fetch_granularity(strides, lat, hit, miss)
    assert g == sector


def test_fetch_granularity_edges():
    assert fit.fetch_granularity([4, 8], [100, 100], 10, 100)[0] == 4  # every stride missed
    g, note = fit.fetch_granularity([4, 8], [10, 10], 10, 100)
    assert g == 8 and "no stride missed" in note
    with pytest.raises(UserError):
        fit.fetch_granularity([4, 8], [1, 2], 5, 5)


def test_fit_bandwidth_recovers_line():
    bytes_ = np.array([1e6, 4e6, 8e6])
    ns = 5000 + bytes_ / 2e12 * 1e9
    bps, intercept, r2 = fit.fit_bandwidth(bytes_, ns)
    assert bps == pytest.approx(2e12, rel=1e-9)
    assert intercept == pytest.approx(5000)
    assert r2 == pytest.approx(1.0)
