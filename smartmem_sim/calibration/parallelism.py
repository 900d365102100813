"""Fit memory_parallelism against memsim's timing formula on measured kernels (``smartmem calibrate
--train-models``).

Every measured step is simulated once (terms.py: the per-kernel terms that do not depend on the timing
parameters) and timing_fit.fit chooses memory_parallelism with the profile's [occupancy] values and the
launch overhead held fixed, so the fit is the formula smartmem_sim/memsim/timing.py applies. The complete fit of all
four device-wide parameters, with held-out models, is smartmem_sim/calibration/refit.py; run it on the
rows of `smartmem validate --csv` (the refit also reports which parameters the data pin down).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from smartmem_sim.calibration import timing_fit as F
from smartmem_sim.memsim import DeviceProfile


def fit_on_models(handle, device: DeviceProfile, models: Sequence[tuple[str, bool]], policies: Sequence[str],
                  storage: str, repeat: int, log=print) -> tuple[float, float, int]:
    """(memory_parallelism, rms log error, steps used) from steps of ``models`` ((name, tiny) pairs)."""
    from smartmem_sim.calibration.refit import shipped_params
    from smartmem_sim.calibration.terms import extract
    from smartmem_sim.calibration.validate import measure_model
    from smartmem_sim.compiler.costs import SimulatedCost
    from smartmem_sim.kernels.trace.sample import ProgramSampler

    cost = SimulatedCost(device, ProgramSampler())
    steps = []
    for name, tiny in models:
        steps += extract(measure_model(name, tiny, policies, storage, handle, repeat, log=log), cost, log=log)
    max_items = device.occupancy.max_items_per_core if device.occupancy else math.inf
    start = shipped_params(device)
    fixed = {n: getattr(start, n) for n in F.FITTED if n != "memory_parallelism"}
    k = F.Kernels.from_steps(steps)
    meas = np.array([s.measured_us for s in steps])
    p, _ = F.fit(k, meas, meas > 0, device.clock_hz, max_items, start=start, fixed=fixed)
    pred = F.predict_us(k, p, device.clock_hz, max_items)
    ok = meas > 0
    rms = float(np.sqrt(np.mean(F.log_errors(pred[ok], meas[ok]) ** 2)))
    return p.memory_parallelism, rms, int(ok.sum())
