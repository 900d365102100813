"""Fit memory_parallelism against memsim's timing formula on measured kernels (training models).

For every plan step the simulator's estimate is ``launch + (bound + latency_sum / mp) / clock``
(memsim/timing.py, compiler/costs/simulated.py). Evaluating the same steps under mp = 1 and mp = infinity
gives bound and latency_sum separately (the counts do not depend on mp), so the fit is a 1-D least squares
in log time (fit.fit_parallelism) on steps measured on the device. Validation should use other models.
"""
from __future__ import annotations

from collections.abc import Sequence

from compiler.costs.device import Device
from smartmem_sim.calibration import fit
from smartmem_sim.calibration.validate import with_parallelism

NO_LATENCY = 1e15  # a memory_parallelism that makes the latency term vanish


def fit_on_models(handle, device: Device, models: Sequence[tuple[str, bool]], policies: Sequence[str],
                  storage: str, repeat: int, log=print) -> tuple[float, float, int]:
    """(memory_parallelism, rms log error, steps used) from steps of ``models`` ((name, tiny) pairs)."""
    from compiler.costs import SimulatedCost
    from smartmem_sim.calibration.validate import measure_model, predict_rows
    from smartmem_sim.simulate import ProgramSampler

    sampler = ProgramSampler()
    bound_cost = SimulatedCost(with_parallelism(device, NO_LATENCY), sampler)
    unit_cost = SimulatedCost(with_parallelism(device, 1.0), sampler)
    bound, lat, meas = [], [], []
    for name, tiny in models:
        rows = measure_model(name, tiny, policies, storage, handle, repeat, log=log)
        rows_b = predict_rows(rows, bound_cost, log=log)
        rows_u = predict_rows(rows, unit_cost, log=log)
        for rb, ru in zip(rows_b, rows_u, strict=True):
            launch_us = device.launch_overhead_s * 1e6 * rb.kernels
            bound.append(max(rb.predicted_us - launch_us, 0.0))
            lat.append(max(ru.predicted_us - rb.predicted_us, 0.0))
            meas.append(rb.measured_us - launch_us)
    mp, rms = fit.fit_parallelism(bound, lat, meas)
    return mp, rms, len(meas)
