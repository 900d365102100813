"""Fit memsim's device-wide timing parameters to measured kernel times, and score them on held-out models.

The model is smartmem_sim/memsim/timing.py's formula applied to each kernel's parameter-free terms
(smartmem_sim.compiler.costs.KernelTerms, written by smartmem_sim/calibration/terms.py)::

    issue      = issued_accesses / (active_cores * accesses_per_core_per_cycle)
    throughput = max(bandwidth_cycles, compute_cycles, issue)
    rounds     = ceil(work_items / (active_cores * max_items_per_core))
    cycles     = max(throughput + latency_sum_cycles / issued_accesses,
                     rounds * latency_sum_cycles / work_items / reads_in_flight_per_item,
                     miss_latency_sum_cycles / memory_parallelism)
    step_us    = sum over the step's kernels (cycles / clock_hz * 1e6 + launch_overhead_us)

Fitted (:data:`FITTED`): launch_overhead_us, memory_parallelism, reads_in_flight_per_item,
accesses_per_core_per_cycle: four device-wide physical quantities, no per-kernel or per-operator factor.
clock_hz and max_items_per_core are the profile's (datasheet numbers, not fitted). The loss is
the mean absolute log error of step times (robust: a few mis-simulated kernels do not drag the rest),
minimised by Nelder-Mead over the logs of the parameters from several deterministic starts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from smartmem_sim.errors import UserError

LOG_LOW, LOG_HIGH = math.log(1e-4), math.log(1e12)
FITTED = ("launch_overhead_us", "memory_parallelism", "reads_in_flight_per_item", "accesses_per_core_per_cycle")


@dataclass(frozen=True)
class TimingParams:
    """The fitted quantities (units in the names; the rest are per-profile constants)."""

    launch_overhead_us: float
    memory_parallelism: float
    reads_in_flight_per_item: float
    accesses_per_core_per_cycle: float

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FITTED], dtype=float)


@dataclass(frozen=True)
class Kernels:
    """Per-kernel terms as arrays, with ``step`` (index into the steps) per kernel."""

    step: np.ndarray
    bandwidth_cycles: np.ndarray
    compute_cycles: np.ndarray
    issued_accesses: np.ndarray
    active_cores: np.ndarray
    latency_sum_cycles: np.ndarray
    miss_latency_sum_cycles: np.ndarray
    work_items: np.ndarray
    steps: int

    @classmethod
    def from_steps(cls, steps) -> Kernels:
        """From smartmem_sim.calibration.terms.StepTerms (or anything with a ``terms`` tuple)."""
        cols: dict[str, list] = {f.name: [] for f in fields(cls) if f.name not in ("step", "steps")}
        idx = []
        for i, s in enumerate(steps):
            for t in s.terms:
                idx.append(i)
                for k in cols:
                    cols[k].append(getattr(t, k))
        return cls(np.array(idx, dtype=np.int64), **{k: np.array(v, dtype=float) for k, v in cols.items()},
                   steps=len(steps))


def predict_us(k: Kernels, p: TimingParams, clock_hz: float, max_items_per_core: float) -> np.ndarray:
    """Predicted microseconds per step (module docstring)."""
    from smartmem_sim.memsim.timing import Occupancy, cycles_from_terms

    issue = k.issued_accesses / (np.maximum(k.active_cores, 1.0) * p.accesses_per_core_per_cycle)
    occ = Occupancy(max_items_per_core=min(max_items_per_core, 1e300), reads_in_flight_per_item=p.reads_in_flight_per_item,
                    accesses_per_core_per_cycle=p.accesses_per_core_per_cycle)
    cycles = cycles_from_terms(np.maximum(np.maximum(k.bandwidth_cycles, k.compute_cycles), issue),
                               k.latency_sum_cycles, k.miss_latency_sum_cycles, k.issued_accesses, k.work_items,
                               k.active_cores, p.memory_parallelism, occ)[0]
    per_kernel = cycles / clock_hz * 1e6 + p.launch_overhead_us
    return np.bincount(k.step, weights=per_kernel, minlength=k.steps)


def log_errors(predicted, measured) -> np.ndarray:
    return np.log(np.asarray(predicted, dtype=float)) - np.log(np.asarray(measured, dtype=float))


def nelder_mead(f, x0, step: float = 0.7, iters: int = 400, tol: float = 1e-9) -> tuple[np.ndarray, float]:
    """Minimise ``f`` from ``x0`` (standard reflection/expansion/contraction/shrink coefficients)."""
    n = len(x0)
    pts = [np.asarray(x0, dtype=float)] + [np.asarray(x0, dtype=float) + step * np.eye(n)[i] for i in range(n)]
    vals = [f(x) for x in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < tol:
            break
        centre = np.mean(pts[:-1], axis=0)
        xr = centre + (centre - pts[-1])
        fr = f(xr)
        if fr < vals[0]:
            xe = centre + 2 * (centre - pts[-1])
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = centre + 0.5 * (pts[-1] - centre)
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                pts = [pts[0]] + [pts[0] + 0.5 * (x - pts[0]) for x in pts[1:]]
                vals = [vals[0]] + [f(x) for x in pts[1:]]
    i = int(np.argmin(vals))
    return pts[i], float(vals[i])


def fit(k: Kernels, measured_us, mask, clock_hz: float, max_items_per_core: float,
        start: TimingParams, fixed: dict | None = None) -> tuple[TimingParams, float]:
    """Parameters minimising the mean |log error| over the steps where ``mask`` is true; ``fixed`` holds
    parameters not to fit (name -> value). Returns (params, loss)."""
    measured_us = np.asarray(measured_us, dtype=float)
    mask = np.asarray(mask, dtype=bool) & (measured_us > 0)
    if mask.sum() < len(FITTED):
        raise UserError(f"timing fit: {int(mask.sum())} training steps; need at least {len(FITTED)}")
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed) - set(FITTED))
    if unknown:
        raise UserError(f"timing fit: unknown fixed parameter(s) {unknown}; known: {list(FITTED)}")
    free = [n for n in FITTED if n not in fixed]
    base = {n: getattr(start, n) for n in FITTED} | fixed
    if any(not v > 0 for v in base.values()):
        raise UserError(f"timing fit: start and fixed values must be > 0, got {base}")

    def params(x) -> TimingParams:
        # clipped to [1e-4, 1e12]: a parameter the data do not bound (memory_parallelism when no kernel
        # reaches the device-wide limit) would otherwise drift off to overflow
        return TimingParams(**(base | {n: math.exp(min(max(v, LOG_LOW), LOG_HIGH)) for n, v in zip(free, x, strict=True)}))

    def loss(x) -> float:
        pred = predict_us(k, params(x), clock_hz, max_items_per_core)
        return float(np.mean(np.abs(log_errors(pred[mask], measured_us[mask]))))

    x0 = np.log([base[n] for n in free])
    best_x, best = x0, loss(x0)
    for shift in (0.0, -2.0, 2.0):  # starts spread over the scale of every parameter
        x, v = nelder_mead(loss, x0 + shift)
        x, v = nelder_mead(loss, x, step=0.2)  # restart: Nelder-Mead can stall on a flat ridge
        if v < best:
            best_x, best = x, v
    return params(best_x), best


def scores(predicted, measured, band: float = 0.10) -> dict:
    """within +-10% / +-25%, median |relative error|, Spearman rho (smartmem_sim.calibration.stats)."""
    from smartmem_sim.calibration import stats

    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    err = (p - m) / m
    return {"steps": int(len(m)), "within10": stats.share_within(err, band),
            "within25": stats.share_within(err, 0.25),
            "median_abs_error": float(np.median(np.abs(err))) if len(m) else float("nan"),
            "spearman": stats.spearman(p, m)}
