"""smartmem_sim/compiler/costs/simulated.py: the kernel terms handed to calibration (work-items, active cores, issued
accesses) and the step time are what smartmem_sim/memsim/timing.py's formula makes of them, for a hand-made kernel."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from smartmem_sim import memsim
from smartmem_sim.calibration import timing_fit as F
from smartmem_sim.compiler.costs import SimulatedCost
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.kernels.trace.sample import KernelSample
from tests.compiler.search.graphs import attention_graph


class OneKernel:
    """A sampler whose every step is one kernel: ``items`` work-items on cores 0..used-1, each reading
    ``reads`` texels of one image (whole kernel, no sampling)."""

    def __init__(self, items: int, reads: int, used: int, inner: float):
        self.items, self.reads, self.used, self.inner = items, reads, used, inner

    def sample(self, plan, step, cores, wave_size, row_budget, windows):
        n = self.items * self.reads
        item = np.repeat(np.arange(self.items), self.reads)
        trace = memsim.Trace.from_columns(core=item % self.used, surface=0, x=np.arange(n) % 256,
                                          y=np.arange(n) // 256, write=False, nbytes=8)
        img = memsim.Image2D(256, 256, "fp16")
        return [KernelSample("k", [img], [(trace, 0)], self.items, [self.items], self.inner)]


@pytest.fixture(scope="module")
def plan():
    return compile_model(attention_graph(tokens=16, dim=16, heads=2), "smartmem", "fp16")


@pytest.mark.parametrize("items, reads, used", [(6, 50, 3), (4000, 4, 12)])
def test_terms_and_time_follow_the_formula(plan, items, reads, used):
    dev = memsim.load_profile("adreno740")
    cost = SimulatedCost(dev, OneKernel(items, reads, used, inner=1e5))
    step = plan.steps[0]
    kc = cost.evaluate(plan, step)
    (t,) = cost.terms(plan, step)
    assert t.work_items == items and t.issued_accesses == items * reads and t.active_cores == used
    prof = dev
    assert t.compute_cycles == pytest.approx(1e5 / dev.execution.alu_lanes * prof.cores / used)
    # the fit's vector formula reproduces the cost model's seconds under the shipped parameters
    p = F.TimingParams(dev.execution.launch_overhead_s * 1e6, prof.memory_parallelism,
                       prof.occupancy.reads_in_flight_per_item, prof.occupancy.accesses_per_core_per_cycle)
    k = F.Kernels.from_steps([type("S", (), {"terms": (t,)})()])
    got = F.predict_us(k, p, prof.clock_hz, prof.occupancy.max_items_per_core)
    assert got[0] == pytest.approx(kc.seconds * 1e6, rel=1e-9)


def test_few_work_items_are_slower_than_the_device_wide_parallelism_says(plan):
    """6 work-items x 50 serial reads: the latency term divides by 6 x reads_in_flight, not by
    memory_parallelism; without [occupancy] the same kernel comes out faster."""
    dev = memsim.load_profile("adreno740")
    bare = replace(dev, occupancy=None)
    step = plan.steps[0]
    with_occ = SimulatedCost(dev, OneKernel(6, 50, 3, 0.0)).evaluate(plan, step).seconds
    without = SimulatedCost(bare, OneKernel(6, 50, 3, 0.0)).evaluate(plan, step).seconds
    assert with_occ > without > dev.execution.launch_overhead_s


def test_a_profiles_correction_scales_its_kind_only(plan):
    """A [correction] with a constant factor 2 for the first step's op kind doubles that step's formula time
    (launch overhead included) and leaves other kinds alone; explain() reports the factor."""
    import math

    from smartmem_sim.memsim.correction import FEATURES, Correction

    dev = memsim.load_profile("adreno740")
    kind = plan.steps[0].op_type
    corr = Correction(tuple(FEATURES), 8.0, {kind: [math.log(2.0)] + [0.0] * len(FEATURES)})
    plain = SimulatedCost(dev, OneKernel(4000, 4, 12, inner=1e5))
    corrected = SimulatedCost(replace(dev, correction=corr), OneKernel(4000, 4, 12, inner=1e5))
    other = next(s for s in plan.steps if s.op_type != kind)
    assert corrected.evaluate(plan, plan.steps[0]).seconds == pytest.approx(2 * plain.evaluate(plan, plan.steps[0]).seconds)
    assert corrected.evaluate(plan, other).seconds == pytest.approx(plain.evaluate(plan, other).seconds)
    assert corrected.explain(plan, plan.steps[0])[0]["correction"] == pytest.approx(2.0)
