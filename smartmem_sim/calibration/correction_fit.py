"""Fit a profile's learned correction (smartmem_sim/memsim/correction.py) on measured steps.

Per operator kind, the log of measured / predicted step time is fitted as a linear function of the step's
features (smartmem_sim/compiler/costs/correction.py) by least absolute deviations (iteratively reweighted
least squares), with a ridge penalty ``lam`` on every coefficient but the intercept so that a kind with
few steps stays near a constant factor. Absolute rather than squared error: the target is the share of
kernels within +-10%, and a few mis-simulated kernels should not pull the rest. A kind with fewer than
``min_steps`` training steps gets no coefficients (factor 1).

``lam`` is chosen among :data:`LAMBDAS` by leave-one-model-out over the training models only (the
held-out models never influence it); with one training model the middle value is used.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smartmem_sim.compiler.costs.correction import feature_matrix
from smartmem_sim.memsim.correction import FEATURES, Correction

LAMBDAS = (1.0, 10.0, 100.0)
CLIP = 8.0
MIN_STEPS = 8


def lad_ridge(X: np.ndarray, y: np.ndarray, lam: float, iters: int = 60) -> np.ndarray:
    """argmin_w sum |y - X w| + lam * |w[1:]|^2 (column 0 is the intercept), by IRLS."""
    pen = np.full(X.shape[1], float(lam))
    pen[0] = 1e-9
    w = np.linalg.solve(X.T @ X + np.diag(pen), X.T @ y)
    for _ in range(iters):
        wt = 1.0 / np.maximum(np.abs(y - X @ w), 1e-3)
        w_new = np.linalg.solve((X * wt[:, None]).T @ X + np.diag(pen), (X * wt[:, None]).T @ y)
        if np.max(np.abs(w_new - w)) < 1e-7:
            return w_new
        w = w_new
    return w


def fit_kinds(X: np.ndarray, y: np.ndarray, kinds: Sequence[str], mask: np.ndarray, lam: float,
              min_steps: int = MIN_STEPS) -> dict[str, tuple[float, ...]]:
    """Coefficients per kind from the rows where ``mask`` holds."""
    kinds = np.asarray(kinds)
    out = {}
    for kind in sorted(set(kinds[mask])):
        sel = mask & (kinds == kind)
        if sel.sum() >= min_steps:
            out[str(kind)] = tuple(float(v) for v in lad_ridge(X[sel], y[sel], lam))
    return out


def log_factors(corr: Correction, X: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """log of each step's factor (0 for kinds without coefficients), as Correction.factor computes it."""
    z = np.zeros(len(X))
    for i, kind in enumerate(kinds):
        coef = corr.kinds.get(kind)
        if coef is not None:
            z[i] = float(np.dot(coef, X[i]))
    return np.clip(z, -np.log(corr.clip), np.log(corr.clip))


def fit(steps_terms: Sequence[Sequence], predicted_us, measured_us, kinds: Sequence[str],
        models: Sequence[str], train: np.ndarray) -> tuple[Correction, float, dict[float, float]]:
    """The correction fitted on the ``train`` rows: (Correction, the lam chosen, CV loss per lam)."""
    names = tuple(FEATURES)
    X = feature_matrix(steps_terms, predicted_us, names)
    y = np.log(np.asarray(measured_us, dtype=float)) - np.log(np.asarray(predicted_us, dtype=float))
    train = np.asarray(train, dtype=bool) & np.isfinite(y)
    models = np.asarray(models)
    train_models = sorted(set(models[train]))
    cv: dict[float, float] = {}
    if len(train_models) >= 2:
        for lam in LAMBDAS:
            errs = []
            for m in train_models:
                fold = train & (models != m)
                corr = Correction(names, CLIP, fit_kinds(X, y, kinds, fold, lam))
                held = train & (models == m)
                errs.append(np.abs(y[held] - log_factors(corr, X[held], np.asarray(kinds)[held])))
            cv[lam] = float(np.mean(np.concatenate(errs)))
        lam = min(cv, key=cv.get)
    else:
        lam = LAMBDAS[len(LAMBDAS) // 2]
    return Correction(names, CLIP, fit_kinds(X, y, kinds, train, lam)), lam, cv


def factors(corr: Correction, steps_terms: Sequence[Sequence], predicted_us, kinds: Sequence[str]) -> np.ndarray:
    """Each step's factor under ``corr``."""
    X = feature_matrix(steps_terms, predicted_us, corr.features)
    return np.exp(log_factors(corr, X, kinds))
