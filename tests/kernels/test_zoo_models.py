"""Tiny zoo twins compiled by compiler.pipeline and run through kernels.execute equal onnxruntime."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

MODELS = Path(__file__).resolve().parents[2] / "smartmem_sim" / "zoo" / "models"


@pytest.mark.opencl
@pytest.mark.slow
@pytest.mark.parametrize("model,policy", [("resnext", "smartmem"), ("resnext", "fusion"), ("vit", "smartmem")])
def test_tiny_twin_matches_onnxruntime(cl_device, model, policy):
    from compiler.frontend.load import load_model
    from compiler.frontend.read import read_model
    from compiler.frontend.weights import materialize_weights
    from compiler.pipeline import compile_model
    from kernels.execute import execute

    path = MODELS / f"{model}.tiny.onnx"
    if not path.exists():
        pytest.skip(f"{path.name} not exported (smartmem zoo export)")
    proto = materialize_weights(read_model(path), 0)
    graph = load_model(proto, name=model)
    plan = compile_model(graph, policy)
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(graph.tensor(n).shape).astype(np.float32) for n in graph.inputs}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
    got = execute(plan, cl_device, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs})
    for n in plan.outputs:
        ref = want[plan.tensors[n].source or n]
        assert np.abs(ref).max() > 0
        np.testing.assert_allclose(got.outputs[n], ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
