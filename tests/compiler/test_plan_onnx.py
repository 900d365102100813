"""smartmem_sim/compiler/plan_onnx.py with helper kernels: a long reduction's partial kernel has no node of its own;
its reader's node holds the operators both implement, and the written model still computes what the input model
computes (onnxruntime) and passes onnx's full check."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.pipeline import compile_with_graph
from smartmem_sim.compiler.plan_onnx import plan_to_onnx
from tests.compiler.passes.test_reductions import REDUCERS, feeds, onnxruntime_outputs, reductions_model


@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem"])
def test_split_reductions_export_one_node_per_reduction_and_compute_the_same(policy):
    model = reductions_model()
    plan, graph = compile_with_graph(load_model(model), policy)
    partials = [s for s in plan.steps if s.id.endswith("/partial")]
    assert partials
    out = plan_to_onnx(plan, graph)
    onnx.checker.check_model(out, full_check=True)
    names = {n.name for n in out.graph.node}
    assert not names & {s.id for s in partials}  # the helper kernels have no node ...
    kernels = {n.name: a.s.decode() for n in out.graph.node for a in n.attribute if a.name == "kernels"}
    assert len(kernels) == len(partials)  # ... their readers name both kernels
    assert all(p.id in "".join(kernels.values()) for p in partials)
    inputs = feeds(seed=5)
    want = onnxruntime_outputs(model, inputs)
    sess = ort.InferenceSession(out.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, inputs), strict=True))
    assert set(got) == set(REDUCERS) | {"root"}
    for name, value in got.items():
        np.testing.assert_allclose(value, want[name], rtol=1e-5, err_msg=f"{name} under {policy}")
