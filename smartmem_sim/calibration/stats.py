"""Accuracy statistics of predicted vs measured kernel times: relative error, share within a band,
Spearman rank correlation (ties get average ranks), and pairwise order agreement."""
from __future__ import annotations

import numpy as np


def rel_error(predicted, measured) -> np.ndarray:
    """(predicted - measured) / measured, elementwise."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    return (p - m) / m


def share_within(errors, band: float = 0.10) -> float:
    """Share of |errors| <= band (nan for no errors)."""
    e = np.abs(np.asarray(errors, dtype=float))
    return float(np.mean(e <= band)) if e.size else float("nan")


def ranks(values) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v), dtype=float)
    r[order] = np.arange(1, len(v) + 1)
    for val in np.unique(v):
        tie = v == val
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


def spearman(a, b) -> float:
    """Spearman's rho (Pearson correlation of the ranks); nan with fewer than 3 points or no spread."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b):
        raise ValueError("spearman: sequences differ in length")
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def pair_agreement(predicted, measured, min_gap: float = 0.05) -> tuple[int, int]:
    """Pairs (i < j) whose measured times differ by more than ``min_gap`` (relative), and how many of
    them the prediction orders the same way. Returns (agreeing, pairs)."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    agree = total = 0
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            if abs(m[i] - m[j]) <= min_gap * max(m[i], m[j]):
                continue
            total += 1
            agree += int((p[i] - p[j]) * (m[i] - m[j]) > 0)
    return agree, total
