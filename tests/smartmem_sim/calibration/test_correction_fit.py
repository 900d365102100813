"""correction_fit.py: on synthetic steps whose measured times are the formula's times times a known per-kind
factor, the fit recovers the factors, chooses lam from the training models only, and gives kinds with too few
steps no coefficients."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.calibration import correction_fit as C
from smartmem_sim.compiler.costs import KernelTerms
from smartmem_sim.compiler.costs.correction import feature_matrix
from smartmem_sim.memsim.correction import FEATURES


def _steps(n: int, seed: int):
    rng = np.random.default_rng(seed)
    terms, pred = [], []
    for _ in range(n):
        items = float(rng.integers(100, 10**6))
        acc = items * rng.uniform(1, 50)
        lat = acc * rng.uniform(40, 300)
        terms.append((KernelTerms(acc * rng.uniform(0.01, 1), acc * rng.uniform(0.001, 0.1), acc, 132.0, lat,
                                  lat * rng.uniform(0.05, 0.9), items),))
        pred.append(float(rng.uniform(3, 3000)))
    return terms, np.array(pred)


TRUE = {"MatMul": np.array([0.3, 0.0, 0.1, -0.05, 0.0, 0.2, 0.0]),
        "Softmax": np.array([-0.4, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0])}


def test_fit_recovers_per_kind_factors_and_leaves_rare_kinds_alone():
    terms, pred = _steps(400, seed=1)
    kinds = ["MatMul" if i % 3 == 0 else "Softmax" if i % 3 == 1 else "Add" for i in range(400)]
    kinds[5] = "Rare"  # one step: too few to fit
    X = feature_matrix(terms, pred, tuple(FEATURES))
    truth = np.array([X[i] @ TRUE[k] if k in TRUE else 0.0 for i, k in enumerate(kinds)])
    meas = pred * np.exp(truth)
    models = np.array(["a", "b", "c", "d"])[np.arange(400) % 4]
    train = models != "d"
    meas_poisoned = meas.copy()
    meas_poisoned[~train] *= 30  # held-out rows must not influence the fit
    corr, lam, cv = C.fit(terms, pred, meas_poisoned, kinds, models, train)
    assert lam in C.LAMBDAS and set(cv) == set(C.LAMBDAS)
    assert "Rare" not in corr.kinds and "Add" in corr.kinds
    got = C.factors(corr, terms, pred, kinds)
    held = ~train
    np.testing.assert_allclose(got[held], np.exp(truth[held]), rtol=0.05)
    assert np.allclose(got[[i for i, k in enumerate(kinds) if k == "Add"]], 1.0, atol=0.02)
    # the factor the profile's Correction computes is the one the fit scored
    from smartmem_sim.compiler.costs.correction import step_features

    i = int(np.flatnonzero(np.array(kinds) == "MatMul")[0])
    assert corr.factor("MatMul", step_features(terms[i], pred[i])) == pytest.approx(got[i])


def test_lad_ridge_ignores_a_few_wild_rows():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = 0.5 + 2.0 * X[:, 1]
    y[:10] += 50  # outliers that would drag least squares
    w = C.lad_ridge(X, y, lam=1e-6)
    assert w == pytest.approx([0.5, 2.0], abs=1e-2)
