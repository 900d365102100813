"""The features of a plan step that a profile's learned correction reads (smartmem_sim/memsim/correction.py).

One function serves both the cost model (SimulatedCost, on the kernels it just priced) and calibration
(smartmem_sim/calibration/correction_fit.py, on the terms of measured steps), so the fit and the
prediction see the same numbers. Sums run over the step's kernels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from smartmem_sim.memsim.correction import FEATURES


def step_features(terms: Sequence, predicted_us: float) -> dict[str, float]:
    """FEATURES of a step from its kernels' KernelTerms and the formula's step time (microseconds)."""
    items = sum(t.work_items for t in terms)
    acc = sum(t.issued_accesses for t in terms)
    lat = sum(t.latency_sum_cycles for t in terms)
    miss = sum(t.miss_latency_sum_cycles for t in terms)
    bw = sum(t.bandwidth_cycles for t in terms)
    comp = sum(t.compute_cycles for t in terms)
    out = {
        "log_predicted_us": math.log(max(predicted_us, 1e-6)),
        "log_accesses_per_item": math.log(max(acc, 1.0) / max(items, 1.0)),
        "log_work_items": math.log(max(items, 1.0)),
        "log_mean_latency": math.log(max(lat, 1.0) / max(acc, 1.0)),
        "log_miss_share": math.log((miss + 1.0) / (lat + 1.0)),
        "log_compute_over_bandwidth": math.log((comp + 1.0) / (bw + 1.0)),
    }
    assert set(out) == set(FEATURES)  # one definition per documented feature
    return out


def feature_matrix(steps_terms: Sequence[Sequence], predicted_us, names: Sequence[str]) -> np.ndarray:
    """Rows [1, feature_1, ...] (``names`` order) for each step: the design matrix of the fit."""
    rows = []
    for terms, p in zip(steps_terms, predicted_us, strict=True):
        f = step_features(terms, float(p))
        rows.append([1.0] + [f[n] for n in names])
    return np.array(rows, dtype=float).reshape(len(rows), 1 + len(names))
