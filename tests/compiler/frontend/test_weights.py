"""Stripped (structure-only) weights: import keeps shape and dtype, folding never needs the data, and
materialize_weights fills them deterministically so the model runs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from smartmem_sim.compiler.analysis import summarize
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import clean_model, export_model, load_model, materialize_weights
from smartmem_sim.compiler.frontend.weights import WEIGHT_STD
from tests.compiler.frontend.onnx_builders import matmul_model, run_ort


def test_stripped_model_imports_with_shapes_and_no_data():
    g = load_model(matmul_model(stripped=True), {"b": 2})
    assert g.is_stripped("w") and g.tensor("w").shape == (4, 3) and g.tensor("w").dtype == np.float32
    assert g.tensor("y").shape == (2, 3, 1)
    assert "Shape" not in g.op_types()  # the shape chain folded without weight data
    assert summarize(g)["parameters"] == 15 and summarize(g)["stripped_weights"]
    exported = export_model(g)
    assert any(p.key == "smartmem.weights" and p.value == "stripped" for p in exported.metadata_props)
    with pytest.raises(CompilerError, match="stripped"):
        g.constant_value("w")


def test_materialize_is_deterministic_and_runs():
    stripped = matmul_model(stripped=True)
    a = materialize_weights(stripped, seed=3)
    b = materialize_weights(stripped, seed=3)
    c = materialize_weights(stripped, seed=4)
    w = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    assert np.array_equal(w["w"], {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}["w"])
    assert not np.array_equal(w["w"], {t.name: numpy_helper.to_array(t) for t in c.graph.initializer}["w"])
    assert w["w"].dtype == np.float32 and w["w"].shape == (4, 3)
    assert 0 < np.std(w["w"]) < 5 * WEIGHT_STD
    assert np.array_equal(w["idx"], [2, 0, 1])  # unstripped tensors untouched
    assert [p.value for p in a.metadata_props if p.key == "smartmem.weights"] == ["materialized"]
    onnx.checker.check_model(a)
    x = np.ones((2, 4), np.float32)
    got = run_ort(export_model(load_model(a, {"b": 2})), {"x": x})[0]
    want = (x @ w["w"] + w["bias"])[:, [2, 0, 1]].reshape(2, 3, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # materializing after cleaning gives the same weights (seeded by name, not by position)
    cleaned = materialize_weights(clean_model(stripped, {"b": 2}), seed=3)
    assert np.array_equal({t.name: numpy_helper.to_array(t) for t in cleaned.graph.initializer}["w"], w["w"])


def test_batchnorm_variance_is_positive():
    from onnx import TensorProto, helper

    from tests.compiler.frontend.onnx_builders import make

    names = ["s", "bb", "mean", "var"]
    inits = []
    for n in names:
        t = TensorProto(name=n, data_type=TensorProto.FLOAT, dims=[4])
        inits.append(t)
    m = make([helper.make_node("BatchNormalization", ["x", *names], ["y"])],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 2, 2])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 2, 2])], inits,
             metadata={"smartmem.weights": "stripped"})
    filled = {t.name: numpy_helper.to_array(t) for t in materialize_weights(m, 0).graph.initializer}
    assert (filled["var"] >= 1).all()


def test_stripped_integer_tensor_is_an_error():
    with pytest.raises(CompilerError, match=r"initializer 'idx' \(int64\) is stripped"):
        materialize_weights(matmul_model(int_weight_stripped=True), seed=0)


def test_bad_seed():
    with pytest.raises(CompilerError, match="seed must be an int"):
        materialize_weights(matmul_model(stripped=True), seed="1")


def test_computation_on_stripped_weights_folds_to_stripped_placeholders():
    """Transpose(w) on a stripped weight cleans like on a full one: a (stripped) initializer, not a node."""
    from onnx import TensorProto, helper

    from tests.compiler.frontend.onnx_builders import make

    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 4])
    m = make([helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]), helper.make_node("MatMul", ["x", "wt"], ["y"])],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w],
             metadata={"smartmem.weights": "stripped"})
    g = load_model(m)
    assert g.op_types() == ["MatMul"] and g.is_stripped("wt") and g.tensor("wt").shape == (4, 3)
    full = materialize_weights(m, seed=0)
    assert load_model(full).op_types() == ["MatMul"]
    x = np.ones((2, 4), np.float32)
    assert run_ort(materialize_weights(export_model(g), seed=0), {"x": x})[0].shape == (2, 3)
