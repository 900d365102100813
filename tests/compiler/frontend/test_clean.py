"""clean_model: shape-logic folding, Constant/Identity removal, dim binding, static shapes.

Every cleaned model is checked against the original in onnxruntime (the reference) and for the absence
of shape logic."""
from __future__ import annotations

import numpy as np
import onnx
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.frontend import clean_model, load_model
from smartmem_sim.compiler.frontend.fold import FOLD_MAX_ELEMENTS
from tests.compiler.frontend.onnx_builders import (
    assert_no_shape_logic,
    const,
    make,
    matmul_model,
    run_ort,
    shape_logic_model,
)


def test_shape_chain_folds_and_matches_original():
    m = shape_logic_model()
    cleaned = clean_model(m, {"b": 2})
    assert_no_shape_logic(cleaned)
    assert [n.op_type for n in cleaned.graph.node] == ["Reshape", "Add", "Mul"]
    onnx.checker.check_model(cleaned, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_ort(cleaned, {"x": x})[0], run_ort(m, {"x": x})[0])
    out = cleaned.graph.output[0].type.tensor_type.shape
    assert [d.dim_value for d in out.dim] == [2, 12]


def test_clean_does_not_modify_its_argument():
    m = shape_logic_model()
    before = m.SerializeToString()
    clean_model(m, {"b": 3})
    assert m.SerializeToString() == before


@settings(max_examples=12, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=2, max_size=4), keep=st.integers(0, 3), seed=st.integers(0, 9))
def test_flatten_by_shape_logic_property(dims, keep, seed):
    """Reshape(x, Concat(Shape(x)[:k], [-1])) with symbolic dims: cleaned == original for any shape."""
    k = min(keep, len(dims) - 1)
    names = [f"d{i}" for i in range(len(dims))]
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "z", "k"], ["head"]),
        helper.make_node("Concat", ["head", "m1"], ["t"], axis=0),
        helper.make_node("Reshape", ["x", "t"], ["y"]),
    ]
    m = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, names)],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["?"] * (k + 1))],
             [const("z", [0]), const("k", [k]), const("m1", [-1])])
    cleaned = clean_model(m, dict(zip(names, dims, strict=True)))
    assert_no_shape_logic(cleaned)
    x = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    want = run_ort(m, {"x": x})[0]
    got = run_ort(cleaned, {"x": x})[0]
    assert got.shape == want.shape == tuple(dims[:k]) + (int(np.prod(dims[k:])),)
    np.testing.assert_array_equal(got, want)


def test_large_constant_of_shape_is_kept_as_a_node():
    big = FOLD_MAX_ELEMENTS + 1
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["w"], value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Mul", ["x", "w"], ["y"])]
    m = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [big])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [big])], [const("shape", [big])])
    cleaned = clean_model(m)
    assert [n.op_type for n in cleaned.graph.node] == ["ConstantOfShape", "Mul"]
    assert sum(t.ByteSize() for t in cleaned.graph.initializer) < 1000


def test_dropout_and_identity_are_removed_graph_output_name_kept():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Dropout", ["r"], ["d"], name="drop"),
             helper.make_node("Identity", ["d"], ["y"], name="id")]
    m = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    cleaned = clean_model(m)
    assert [n.op_type for n in cleaned.graph.node] == ["Relu"]
    assert cleaned.graph.output[0].name == "y" and cleaned.graph.node[0].output[0] == "y"


def test_identity_of_a_graph_input_to_output_is_kept():
    m = make([helper.make_node("Identity", ["x"], ["y"])], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    assert [n.op_type for n in clean_model(m).graph.node] == ["Identity"]


def test_old_opset_is_converted():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], axis=1)]
    m = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])], [const("s", [2, 12])], opset=11)
    cleaned = clean_model(m)
    assert cleaned.opset_import[0].version == 13
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(run_ort(cleaned, {"x": x})[0], run_ort(m, {"x": x})[0], rtol=1e-6)


def test_nodes_get_unique_names_that_become_ids():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="act"), helper.make_node("Relu", ["a"], ["b"], name="act"),
             helper.make_node("Neg", ["b"], ["y"])]
    m = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    cleaned = clean_model(m)
    assert [n.name for n in cleaned.graph.node] == ["act", "act__2", "Neg_2"]
    assert load_model(m).topological_order() == ["act", "act__2", "Neg_2"]


def test_every_tensor_gets_a_static_shape():
    cleaned = clean_model(matmul_model(), {"b": 5})
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(cleaned.graph.value_info) + list(cleaned.graph.output)}
    assert shapes == {"xw": [5, 3], "h": [5, 3], "hg": [5, 3], "y": [5, 3, 1]}


def test_shape_fallback_rule_fills_what_onnx_inference_misses(monkeypatch):
    """Disable onnx's inference for one tensor; the evaluation rule must produce the same shape."""
    from smartmem_sim.compiler.frontend import shapes

    real = shapes.infer

    def forgetful(model):
        known = real(model)
        known["h"] = (None, known["h"][1])
        return known

    monkeypatch.setattr(shapes, "infer", forgetful)
    cleaned = clean_model(matmul_model(), {"b": 5})
    vi = {v.name: v for v in cleaned.graph.value_info}
    assert [d.dim_value for d in vi["h"].type.tensor_type.shape.dim] == [5, 3]


def test_castlike_of_a_constant_folds_and_expand_after_it():
    """torch.zeros_like(ids) as the dynamo exporter writes it: Expand(CastLike(0, ids), Shape(ids))."""
    nodes = [helper.make_node("CastLike", ["zero_f", "ids"], ["z"]),
             helper.make_node("Shape", ["ids"], ["s"]),
             helper.make_node("Expand", ["z", "s"], ["zeros"]),
             helper.make_node("Add", ["ids", "zeros"], ["y"])]
    m = make(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", 5])],
             [helper.make_tensor_value_info("y", TensorProto.INT64, ["b", 5])],
             [numpy_helper.from_array(np.array(0.0, np.float32), "zero_f")])
    cleaned = clean_model(m, {"b": 2})
    assert [n.op_type for n in cleaned.graph.node] == ["Add"]
    ids = np.arange(10, dtype=np.int64).reshape(2, 5)
    np.testing.assert_array_equal(run_ort(cleaned, {"ids": ids})[0], run_ort(m, {"ids": ids})[0])
