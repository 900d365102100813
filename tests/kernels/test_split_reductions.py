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
