"""smartmem_sim/compiler/passes/reductions.py: which reductions become two kernels, how many partial results,
and that the split plan computes what onnxruntime computes on the original model (the plan's semantics,
through the numpy reference evaluator; the kernels on an OpenCL device: tests/kernels/test_split_reductions.py)."""
from __future__ import annotations

from math import log

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.passes import reductions
from smartmem_sim.compiler.passes.reductions import MIN_LOOP, partial_count, thresholds
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.compiler.reference import run_plan

# output name -> (op type, axes, keepdims)
REDUCERS = {
    "mean": ("ReduceMean", [2, 3], 1),
    "sum": ("ReduceSum", [2, 3], 0),
    "max": ("ReduceMax", [1, 2, 3], 0),
    "min": ("ReduceMin", [2, 3], 1),
    "sumsq": ("ReduceSumSquare", [2, 3], 1),
    "l2": ("ReduceL2", [3, 2], 0),
    "prod": ("ReduceProd", [2, 3], 1),
    "short": ("ReduceMean", [3], 1),  # 96 elements per output: stays one kernel
}


def reductions_model(shape=(1, 8, 64, 96)) -> onnx.ModelProto:
    """x (N, C, H, W) reduced by every REDUCERS entry, axes as constant inputs (opset 18); ``sqrt(mean)`` adds
    an epilogue to a split reduction."""
    nodes, inits, outs = [], [], []
    for name, (op, axes, keep) in REDUCERS.items():
        inits.append(numpy_helper.from_array(np.array(axes, np.int64), f"axes_{name}"))
        nodes.append(helper.make_node(op, ["x", f"axes_{name}"], [name], keepdims=keep))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    nodes.append(helper.make_node("Sqrt", ["mean"], ["root"]))
    outs.append(helper.make_tensor_value_info("root", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "reductions", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          outs, inits)
    return onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]))


def feeds(shape=(1, 8, 64, 96), seed: int = 0) -> dict[str, np.ndarray]:
    # values near 1 keep the product of 6,144 of them finite; positive keeps sqrt(mean) real
    rng = np.random.default_rng(seed)
    return {"x": (1.0 + 0.01 * rng.normal(size=shape)).astype(np.float32)}


def onnxruntime_outputs(model: onnx.ModelProto, inputs) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs), strict=True))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200_000))
def test_partial_count_is_the_divisor_nearest_the_square_root(n):
    """Brute force over every divisor: P divides n, leaves both loops >= MIN_LOOP, prefers multiples of 4,
    and no allowed divisor is nearer sqrt(n) in ratio."""
    allowed = [d for d in range(1, n + 1) if n % d == 0 and d >= MIN_LOOP and n // d >= MIN_LOOP]
    p = partial_count(n)
    if not allowed:
        assert p is None
        return
    pool = [d for d in allowed if d % 4 == 0] or allowed
    assert p in pool
    assert min(abs(log(d) - log(n) / 2) for d in pool) == pytest.approx(abs(log(p) - log(n) / 2))


@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem"])
def test_long_reductions_with_few_outputs_split_and_others_stay(policy):
    plan = compile_model(load_model(reductions_model()), policy)
    partials = {s.id: s for s in plan.steps if s.id.endswith("/partial")}
    min_elements, max_outputs = thresholds()
    assert 64 * 96 >= min_elements and 8 <= max_outputs
    # every reduction over H*W (6,144 elements) or C*H*W splits; the one over W (96) does not
    assert len(partials) == len(REDUCERS) - 1
    for step in partials.values():
        partial = plan.tensors[step.outputs[0]]
        n = 6144 if step.op_type != "ReduceMax" else 8 * 6144
        assert partial.shape[-1] == partial_count(n)
        # the partial step reduces strided chunks: its operand is (*kept, m, P)
        assert step.inputs[0].shape[-2:] == (n // partial_count(n), partial_count(n))
    # the final step of each split reads the partial tensor and writes the original output
    finals = [s for s in plan.steps if s.inputs and s.inputs[0].tensor.endswith("/partial")]
    assert len(finals) == len(partials)
    plan.validate()


def test_many_outputs_stay_one_kernel():
    _, max_outputs = thresholds()
    plan = compile_model(load_model(reductions_model(shape=(1, max_outputs + 4, 64, 96))), "smartmem")
    assert not [s for s in plan.steps if s.id.endswith("/partial") and s.op_type != "ReduceMax"]


@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem"])
def test_split_plan_computes_what_onnxruntime_computes(policy):
    model = reductions_model()
    inputs = feeds()
    want = onnxruntime_outputs(model, inputs)
    plan = compile_model(load_model(model), policy)
    assert any(s.id.endswith("/partial") for s in plan.steps)
    got = dict(zip(plan.outputs, run_plan(plan, {n: inputs["x"] for n in plan.inputs}, check_layouts=True),
                   strict=True))
    for name, value in got.items():
        ref = want[plan.tensors[name].source or name]
        np.testing.assert_allclose(value, ref, rtol=1e-5, err_msg=f"{name} under {policy}")


def test_a_table_without_its_keys_is_an_error(tmp_path, monkeypatch):
    bad = tmp_path / "reductions.toml"
    bad.write_text("min_elements = 4096\n")
    monkeypatch.setattr(reductions, "TABLE", bad)
    thresholds.cache_clear()
    try:
        with pytest.raises(reductions.CompilerError, match="max_outputs"):
            thresholds()
    finally:
        thresholds.cache_clear()


def middle_axes_model() -> onnx.ModelProto:
    """ReduceSum over the middle axes (1, 2) of (1, 64, 128, 4), the last axis kept: 8,192 elements per output,
    4 outputs, keepdims 0."""
    inits = [numpy_helper.from_array(np.array([1, 2], np.int64), "axes")]
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)]
    g = helper.make_graph(nodes, "middle", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 128, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]))


@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem"])
def test_a_split_over_middle_axes_keeps_the_trailing_axis(policy):
    model = middle_axes_model()
    plan = compile_model(load_model(model), policy)
    (partial,) = [s for s in plan.steps if s.id.endswith("/partial")]
    assert plan.tensors[partial.outputs[0]].shape == (1, 4, partial_count(64 * 128))
    inputs = {"x": np.random.default_rng(7).normal(size=(1, 64, 128, 4)).astype(np.float32)}
    want = onnxruntime_outputs(model, inputs)["y"]
    (got,) = run_plan(plan, {n: inputs["x"] for n in plan.inputs}, check_layouts=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
