"""Graphs whose normalizations smartmem_sim/compiler/passes/statistics.py split into reductions and element-wise ops,
run under every policy on the CPU OpenCL device, equal onnxruntime on the original model."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.passes.statistics import min_elements
from tests.compiler.passes.test_statistics import statistics_model


@pytest.mark.opencl
@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem", "search"])
def test_split_graph_matches_onnxruntime(cl_device, policy):
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import execute

    model = statistics_model(side=32, softmax_len=min_elements())
    graph = load_model(model)
    plan = compile_model(graph, policy)
    assert "InstanceNormalization" not in {s.op_type for s in plan.steps}
    rng = np.random.default_rng(1)
    feeds = {"x": rng.normal(size=(1, 4, 32, 32)).astype(np.float32) * 3 + 1,
             "z": rng.normal(size=(2, 3, min_elements())).astype(np.float32) * 4}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip(["y", "p"], sess.run(["y", "p"], feeds), strict=True))
    got = execute(plan, cl_device, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs})
    for n in plan.outputs:
        ref = want[plan.tensors[n].source or n]
        np.testing.assert_allclose(got.outputs[n], ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()),
                                   err_msg=f"{n} under {policy}")


@pytest.mark.opencl
def test_gated_launches_give_the_same_outputs_and_one_timing_per_kernel(cl_device):
    """execute(gate=N): kernels held behind a user event N at a time (a gate smaller than the plan, so that
    several gates open in turn) compute what ungated launches compute, in the same order."""
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import execute

    model = statistics_model(side=32, softmax_len=min_elements())
    plan = compile_model(load_model(model), "naive")
    rng = np.random.default_rng(2)
    feeds = {"x": rng.normal(size=(1, 4, 32, 32)).astype(np.float32),
             "z": rng.normal(size=(2, 3, min_elements())).astype(np.float32)}
    inputs = {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}
    plain = execute(plan, cl_device, inputs)
    assert len(plain.kernels) > 3
    gated = execute(plan, cl_device, inputs, gate=3)
    assert [t.label for t in gated.timings] == [t.label for t in plain.timings]
    assert all(t.end_ns >= t.start_ns > 0 for t in gated.timings)
    for n in plan.outputs:
        np.testing.assert_array_equal(gated.outputs[n], plain.outputs[n])
