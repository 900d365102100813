"""Small ONNX graphs for the pass tests, and a check against onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.compiler.reference import run_plan


def model(nodes, inputs: dict[str, tuple], outputs: dict[str, tuple], inits: dict[str, np.ndarray] | None = None,
          opset: int = 17) -> onnx.ModelProto:
    """A model from helper nodes; inputs/outputs as {name: shape} (float32)."""
    g = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def feeds_for(m: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for vi in m.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def ort_outputs(m: onnx.ModelProto, feeds) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check_policies(m: onnx.ModelProto, policies=("naive", "fusion", "smartmem"), check_layouts=True, seed=0):
    """Compile under each policy, run the reference evaluator, compare with onnxruntime; return the plans."""
    feeds = feeds_for(m, seed)
    expected = ort_outputs(m, feeds)
    graph = load_model(m)
    plans = {}
    for policy in policies:
        plan = compile_model(graph, policy)
        got = run_plan(plan, feeds, check_layouts=check_layouts)
        assert len(got) == len(expected)
        for g_, e in zip(got, expected, strict=False):
            np.testing.assert_allclose(g_, e, rtol=1e-4, atol=1e-5, err_msg=f"policy {policy}")
        plans[policy] = plan
    return plans
