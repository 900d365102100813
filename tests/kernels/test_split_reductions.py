"""Reductions that smartmem_sim/compiler/passes/reductions.py splits into partial results and their reduction,
run under every policy on the CPU OpenCL device, equal onnxruntime on the original model."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.compiler.frontend import load_model
from tests.compiler.passes.test_reductions import feeds, onnxruntime_outputs, reductions_model


@pytest.mark.opencl
@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem", "search"])
def test_split_reductions_match_onnxruntime(cl_device, policy):
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import execute

    model = reductions_model()
    inputs = feeds(seed=3)
    want = onnxruntime_outputs(model, inputs)
    plan = compile_model(load_model(model), policy)
    assert sum(s.id.endswith("/partial") for s in plan.steps) == 7
    got = execute(plan, cl_device, {n: inputs["x"] for n in plan.inputs})
    for n in plan.outputs:
        ref = want[plan.tensors[n].source or n]
        np.testing.assert_allclose(got.outputs[n], ref, rtol=2e-5, err_msg=f"{n} under {policy}")


@pytest.mark.opencl
@pytest.mark.parametrize("policy", ["naive", "smartmem"])
def test_a_split_over_middle_axes_matches_onnxruntime(cl_device, policy):
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import execute
    from tests.compiler.passes.test_reductions import middle_axes_model

    model = middle_axes_model()
    inputs = {"x": np.random.default_rng(8).normal(size=(1, 64, 128, 4)).astype(np.float32)}
    want = onnxruntime_outputs(model, inputs)["y"]
    plan = compile_model(load_model(model), policy)
    got = execute(plan, cl_device, {n: inputs["x"] for n in plan.inputs}).outputs[plan.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
