"""The texel_reuse switch (smartmem_sim/kernels/ops/program.py): without registers the trace is every read execution
that is on (the reuse trace's rows are a subset of it, at the same program points), the source has no
registers, and the numerics match onnxruntime either way. The instrumented-build check is in
tests/kernels/test_trace_matches_kernel.py."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.errors import UserError
from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.execute import execute
from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.render.opencl import render, render_shared
from smartmem_sim.kernels.trace.generate import item_accesses
from smartmem_sim.running import texel_reuse_for
from tests.kernels.cases import Case, rand
from tests.kernels.ops.catalogue import cases

CASES = cases()
PLANS = {"MatMul": ("MatMul", ("lane_last", "lane_rows"), "lane_last"),  # lanes along K: most reuse
         "Conv": ("Conv", ("nc4hw4", "buffer"), "phwc4")}  # padded: guarded reads


def _kernel(key, storage="fp32"):
    name, ins, out = PLANS[key]
    case = CASES[name]
    plan, inputs, weights = case.plan(ins, out, storage=storage, out_shapes=[r.shape for r in case.reference()])
    return case, plan, inputs, weights


def _rows(acc):
    return set(zip(acc.item.tolist(), acc.point.tolist(), acc.surface.tolist(), acc.x.tolist(), acc.y.tolist(),
                   strict=True))


@pytest.mark.parametrize("key", sorted(PLANS))
def test_without_reuse_every_read_fetches_and_reuse_only_drops_rows(key):
    _, plan, _, weights = _kernel(key)
    (k,) = step_kernels(plan, plan.steps[0], weights)
    on = item_accesses(k.program, "fp32", texel_reuse=True)
    off = item_accesses(k.program, "fp32", texel_reuse=False)
    assert _rows(on) < _rows(off)  # same instruction executions at the same points, fewer of them
    # brute force: each (work-item, point) of a read appears once, so no execution is dropped or doubled
    reads = ~off.write
    pairs = off.item[reads] * (1 << 32) + off.point[reads]
    assert np.unique(pairs).size == pairs.size
    if key == "MatMul":  # no guards: exactly valid lanes x K x 2 reads, plus one texel write per item
        (m, kk), (_, n) = (a.shape for a in CASES["MatMul"].inputs)
        assert reads.sum() == m * n * kk * 2 and off.write.sum() == on.write.sum()
        assert len(on) < len(off) / 2


def test_source_has_registers_only_with_reuse():
    _, plan, _, weights = _kernel("MatMul")
    (k,) = step_kernels(plan, plan.steps[0], weights)
    with_regs, without = render(k.program, texel_reuse=True), render(k.program, texel_reuse=False)
    assert "sm_at_" in with_regs and "sm_at_" not in without
    assert without.count("SM_READ_IMAGEF(") >= with_regs.count("SM_READ_IMAGEF(")
    assert render_shared(k.program)[0] != render_shared(k.program, texel_reuse=False)[0]  # distinct entries
    assert render_shared(k.program)[1] == render_shared(k.program, texel_reuse=True)[1]  # default: reuse on
    with pytest.raises(KernelError, match="texel_reuse"):
        render(k.program, texel_reuse="off")
    with pytest.raises(KernelError, match="texel_reuse"):
        item_accesses(k.program, texel_reuse=None)


@pytest.mark.opencl
@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "no-reuse"])
@pytest.mark.parametrize("key", sorted(PLANS))
def test_numerics_match_onnxruntime_either_way(cl_device, key, reuse):
    case, plan, inputs, weights = _kernel(key)
    result = execute(plan, cl_device, inputs, weights, texel_reuse=reuse)
    assert all(k.texel_reuse is reuse for k in result.kernels)
    np.testing.assert_allclose(result.outputs["y0"], case.reference()[0], rtol=1e-4, atol=1e-5)


@pytest.mark.opencl
def test_numerics_fp16_matmul_without_reuse(cl_device):
    r = np.random.default_rng(11)
    case = Case("MatMul", [rand(r, 6, 9), rand(r, 9, 5)])
    plan, inputs, weights = case.plan(("lane_last", "lane_last"), "buffer", storage="fp16")
    result = execute(plan, cl_device, inputs, weights, texel_reuse=False)
    np.testing.assert_allclose(result.outputs["y0"], case.reference()[0], rtol=2e-2, atol=2e-2)


def test_run_option_picks_the_device_table_value():
    # smartmem_sim/commands/run.py: on/off as given, auto from the device profile's [execution] table
    assert texel_reuse_for("on", "NVIDIA CUDA / NVIDIA H100 80GB HBM3")[0] is True
    assert texel_reuse_for("off", "Portable Computing Language / cpu")[0] is False
    assert texel_reuse_for("auto", "NVIDIA CUDA / NVIDIA H100 80GB HBM3")[0] is False
    assert texel_reuse_for("auto", "Portable Computing Language / pthread-haswell")[0] is True
    assert texel_reuse_for("auto", "Some Vendor / Some GPU") == (True, "auto: no device table matches this device, on")
    with pytest.raises(UserError, match="--texel-reuse"):
        texel_reuse_for("yes", "x")
