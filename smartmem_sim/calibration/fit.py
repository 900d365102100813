"""The fits of calibration, each explicit and testable on synthetic curves (tests/smartmem_sim/calibration).

Units: footprints and strides in bytes, latencies in ns (any unit works: fits are scale-free), times in ns.

- :func:`find_knees`: a pointer chase's latency is flat while the chain fits a cache level and steps up
  once it does not. The curve (log latency over footprints sorted ascending) is split into k+1 constant
  segments by dynamic programming (least squares); the largest k <= ``max_knees`` whose neighbouring
  segments differ by at least ``min_ratio`` wins. A level's capacity is the largest footprint of the lower
  segment whose latency is still within ``tol`` of that segment's median: with LRU-like replacement a
  random chase that fits is all hits, so this is a lower bound, tight to the spacing of the measured
  footprints (calibration refines around each knee).
- :func:`line_from_knees`: a random chase with stride S >= line uses one line per element, so its knee
  footprint is C * S / line; with S <= line it is C. Two sweeps (strides s_small <= line <= s_big) give
  line = s_big * knee(s_small) / knee(s_big).
- :func:`fetch_granularity`: a sequential chase with stride s over a footprint that misses a level misses
  once per fetched block of g bytes: miss share f = min(1, s / g), read off the latency between the hit
  and miss plateaus; g = s / f (geometric mean over strides with 0.05 < f < 0.9).
- :func:`fit_line`: least squares t = intercept + bytes / bandwidth (streams of several lengths).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smartmem_sim.errors import UserError


@dataclass(frozen=True)
class Knee:
    """One capacity step of a latency curve. ``capacity_bytes``: largest footprint still at the lower
    plateau; ``next_bytes``: the first measured footprint above it (the capacity lies in between)."""

    capacity_bytes: float
    next_bytes: float
    lower_latency: float
    upper_latency: float


def _segment_cost(y: np.ndarray) -> np.ndarray:
    """cost[i, j] = squared error of y[i:j+1] around its mean (j >= i)."""
    n = len(y)
    c1 = np.concatenate([[0.0], np.cumsum(y)])
    c2 = np.concatenate([[0.0], np.cumsum(y * y)])
    cost = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(i, n):
            m = j - i + 1
            s = c1[j + 1] - c1[i]
            cost[i, j] = max(0.0, (c2[j + 1] - c2[i]) - s * s / m)
    return cost


def segment(y, k: int, min_points: int = 2) -> list[tuple[int, int]]:
    """Optimal split of ``y`` into ``k`` contiguous segments of >= ``min_points`` points (least squares
    around each segment's mean); returns [(first, last)] index pairs."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if k < 1 or n < k * min_points:
        raise UserError(f"cannot split {n} points into {k} segments of at least {min_points}")
    cost = _segment_cost(y)
    best = np.full((k + 1, n + 1), np.inf)
    back = np.zeros((k + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for s in range(1, k + 1):
        for end in range(s * min_points, n + 1):  # segment s covers [start, end)
            for start in range((s - 1) * min_points, end - min_points + 1):
                v = best[s - 1, start] + cost[start, end - 1]
                if v < best[s, end]:
                    best[s, end], back[s, end] = v, start
    out, end = [], n
    for s in range(k, 0, -1):
        start = back[s, end]
        out.append((start, end - 1))
        end = start
    return out[::-1]


def find_knees(footprints, latencies, max_knees: int, min_ratio: float = 1.3, tol: float = 0.15,
               min_points: int = 2) -> list[Knee]:
    """Capacity knees of a latency-vs-footprint curve (module docstring). Points need not be sorted."""
    x = np.asarray(footprints, dtype=float)
    y = np.asarray(latencies, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise UserError("find_knees: need two equally long 1-D sequences of at least 2 points")
    if max_knees < 0:
        raise UserError(f"find_knees: max_knees must be >= 0, got {max_knees}")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    floor = max(float(np.max(y)) * 1e-6, 1e-12)
    ly = np.log(np.maximum(y, floor))
    for k in range(min(max_knees, len(x) // min_points - 1), 0, -1):
        segs = segment(ly, k + 1, min_points)
        meds = [float(np.median(y[a:b + 1])) for a, b in segs]
        if all(hi >= lo * min_ratio for lo, hi in zip(meds, meds[1:], strict=False)):
            knees = []
            for (a, b), lo, hi in zip(segs, meds, meds[1:], strict=False):
                ok = [i for i in range(a, b + 1) if y[i] <= lo * (1 + tol)]
                last = ok[-1] if ok else a
                knees.append(Knee(float(x[last]), float(x[last + 1]), lo, hi))
            return knees
    return []


def plateaus(footprints, latencies, knees: list[Knee]) -> list[float]:
    """Median latency of each plateau: below the first knee, between knees, above the last."""
    x = np.asarray(footprints, dtype=float)
    y = np.asarray(latencies, dtype=float)
    edges = [-np.inf] + [k.capacity_bytes for k in knees] + [np.inf]
    out = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
        # a plateau starts past the previous knee's next point, so ramp points are left out
        start = knees[i - 1].next_bytes if i > 0 else lo
        sel = y[(x >= start) & (x <= hi)]
        out.append(float(np.median(sel)) if sel.size else float("nan"))
    return out


def pow2_round(v: float) -> int:
    """Nearest power of two in log scale."""
    if not v > 0 or not math.isfinite(v):
        raise UserError(f"cannot round {v!r} to a power of two")
    return 1 << max(0, round(math.log2(v)))


def line_from_knees(knee_small_bytes: float, stride_small: int, knee_big_bytes: float, stride_big: int) -> int:
    """Line size from two capacity knees (module docstring), a power of two in [stride_small, stride_big].

    If the line is shorter than ``stride_small`` both knees scale and this returns ``stride_small`` (an
    upper bound); if longer than ``stride_big``, ``stride_big`` (a lower bound)."""
    if min(knee_small_bytes, knee_big_bytes) <= 0 or not 0 < stride_small < stride_big:
        raise UserError("line_from_knees: need positive knees and 0 < stride_small < stride_big")
    line = stride_big * knee_small_bytes / knee_big_bytes
    return int(min(max(pow2_round(line), stride_small), stride_big))


def fetch_granularity(strides, latencies, hit_latency: float, miss_latency: float) -> tuple[int, str]:
    """Bytes fetched per miss from a sequential stride sweep (module docstring); returns (bytes, note)."""
    s = np.asarray(strides, dtype=float)
    lat = np.asarray(latencies, dtype=float)
    if s.shape != lat.shape or len(s) < 2:
        raise UserError("fetch_granularity: need strides and latencies of equal length >= 2")
    if not miss_latency > hit_latency:
        raise UserError(f"fetch_granularity: miss latency {miss_latency} must exceed hit latency {hit_latency}")
    f = np.clip((lat - hit_latency) / (miss_latency - hit_latency), 0.0, 1.0)
    mid = (f > 0.05) & (f < 0.9)
    if mid.any():
        g = float(np.exp(np.mean(np.log(s[mid] / f[mid]))))
        return pow2_round(g), f"miss share {np.round(f, 2).tolist()} at strides {s.astype(int).tolist()}"
    if (f >= 0.9).all():
        return int(s.min()), f"every stride missed: granularity <= {int(s.min())} B"
    if (f <= 0.05).all():
        return int(s.max()), f"no stride missed (prefetching?): granularity >= {int(s.max())} B"
    first_miss = float(s[f >= 0.9].min())
    return int(first_miss), f"miss share jumps to 1 at stride {int(first_miss)} B"


def fit_line(xs, ts) -> tuple[float, float, float]:
    """Least squares ts = intercept + xs * slope; returns (intercept, slope, r^2)."""
    x = np.asarray(xs, dtype=float)
    t = np.asarray(ts, dtype=float)
    if x.shape != t.shape or len(x) < 2 or np.ptp(x) == 0:
        raise UserError("fit_line: need at least two points with different x")
    a = np.vstack([np.ones_like(x), x]).T
    (intercept, slope), *_ = np.linalg.lstsq(a, t, rcond=None)
    resid = t - (intercept + slope * x)
    tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / tot if tot > 0 else 1.0
    return float(intercept), float(slope), r2


def fit_bandwidth(bytes_read, ns) -> tuple[float, float, float]:
    """(bytes per second, intercept ns, r^2) of streams of several lengths. A non-positive slope (the
    lengths were too close to separate from noise) falls back to the longest run's bytes / time."""
    intercept, slope, r2 = fit_line(bytes_read, ns)
    if slope <= 0:
        i = int(np.argmax(bytes_read))
        return float(bytes_read[i]) / (float(ns[i]) * 1e-9), 0.0, r2
    return 1e9 / slope, intercept, r2
