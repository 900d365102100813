"""timing_fit: the fit recovers known device-wide parameters from synthetic kernels, holds out what it
is told to, and rejects bad input."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.calibration import timing_fit as F
from smartmem_sim.compiler.costs import KernelTerms
from smartmem_sim.errors import UserError

CORES, CLOCK, MAX_ITEMS = 132, 2e9, 2048
TRUE = F.TimingParams(launch_overhead_us=4.5, memory_parallelism=20000.0, reads_in_flight_per_item=3.0,
                      accesses_per_core_per_cycle=2.0)


class Step:
    def __init__(self, terms):
        self.terms = terms


def synthetic_steps(n: int, seed: int) -> list[Step]:
    """Kernels of four kinds, so that every parameter decides some of them: tiny (launch), few
    work-items with long serial loops (reads in flight per item), many work-items with much latency
    (memory_parallelism), many accesses on few bytes (issue rate)."""
    rng = np.random.default_rng(seed)
    steps = []
    for i in range(n):
        kind = i % 4
        items = [64, rng.integers(50, 800), rng.integers(10**5, 10**7), rng.integers(10**5, 10**6)][kind]
        per_item = [2, rng.integers(200, 2000), rng.integers(4, 40), rng.integers(50, 200)][kind]
        issued = float(items * per_item)
        latency = issued * rng.uniform(60, 300)
        bandwidth = issued * 16 / rng.uniform(4000, 30000)
        if kind == 3:
            latency *= 0.05
        miss = latency * (0.9 if kind == 2 else 0.3)  # the latency of what missed L1
        active = float(min(CORES, max(1, items // 64)))
        steps.append(Step((KernelTerms(bandwidth, 0.0, issued, active, latency, miss, float(items)),)))
    return steps


def measured(steps, params, noise: float, seed: int) -> np.ndarray:
    k = F.Kernels.from_steps(steps)
    clean = F.predict_us(k, params, CLOCK, MAX_ITEMS)
    return clean * np.exp(np.random.default_rng(seed).normal(0, noise, len(clean)))


def test_fit_recovers_known_parameters():
    steps = synthetic_steps(240, seed=1)
    meas = measured(steps, TRUE, noise=0.02, seed=2)
    start = F.TimingParams(3.0, 8000.0, 1.0, 4.0)
    got, loss = F.fit(F.Kernels.from_steps(steps), meas, np.ones(len(steps), bool), CLOCK, MAX_ITEMS,
                      start=start)
    for name, want in zip(F.FITTED, TRUE.as_array(), strict=True):
        assert getattr(got, name) == pytest.approx(want, rel=0.1), name
    assert loss < 0.03  # the noise level: ~0.8 x 0.02


def test_fixed_parameters_stay_and_held_out_steps_are_not_used():
    steps = synthetic_steps(120, seed=3)
    meas = measured(steps, TRUE, noise=0.0, seed=0)
    train = np.arange(len(steps)) < 80
    meas_poisoned = meas.copy()
    meas_poisoned[~train] *= 50  # held-out rows that would wreck the fit if they were used
    got, loss = F.fit(F.Kernels.from_steps(steps), meas_poisoned, train, CLOCK, MAX_ITEMS,
                      start=F.TimingParams(3.0, 8000.0, 1.0, 4.0), fixed={"launch_overhead_us": 4.5})
    assert got.launch_overhead_us == 4.5
    assert got.memory_parallelism == pytest.approx(TRUE.memory_parallelism, rel=0.05)
    assert loss < 1e-3


def test_scores_by_hand():
    s = F.scores([1.05, 1.2, 2.0, 0.5], [1.0, 1.0, 1.0, 1.0])
    assert s["within10"] == 0.25 and s["within25"] == 0.5 and s["median_abs_error"] == pytest.approx(0.35)


def test_nelder_mead_minimises_a_quadratic():
    x, v = F.nelder_mead(lambda x: float((x[0] - 1) ** 2 + 3 * (x[1] + 2) ** 2), np.zeros(2))
    assert x == pytest.approx([1, -2], abs=1e-3) and v < 1e-6


def test_bad_fits_are_user_errors():
    steps = synthetic_steps(8, seed=0)
    k = F.Kernels.from_steps(steps)
    start = F.TimingParams(3.0, 8000.0, 1.0, 4.0)
    with pytest.raises(UserError, match="training steps"):
        F.fit(k, np.ones(8), np.zeros(8, bool), CLOCK, MAX_ITEMS, start=start)
    with pytest.raises(UserError, match="unknown fixed"):
        F.fit(k, np.ones(8), np.ones(8, bool), CLOCK, MAX_ITEMS, start=start, fixed={"clock": 1})
