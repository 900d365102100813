"""Bad input: each case raises CompilerError with one message naming the file / node / dim and what to do."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import clean_model, load_model, read_model
from tests.compiler.frontend.onnx_builders import make, matmul_model, shape_logic_model


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, path)
    return str(path)


def test_missing_file(tmp_path):
    with pytest.raises(CompilerError, match=r"nope\.onnx: no such file"):
        load_model(tmp_path / "nope.onnx")


def test_truncated_file(tmp_path):
    data = matmul_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CompilerError, match=r"cut\.onnx: not (a readable )?(an )?ONNX model.*truncated"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", bytes(range(256)) * 4])
def test_non_onnx_file(tmp_path, content):
    path = tmp_path / "notes.onnx"
    path.write_bytes(content)
    with pytest.raises(CompilerError, match=r"notes\.onnx: .*(empty|not (a readable )?(an )?ONNX model)"):
        load_model(path)


def test_custom_domain_op_names_node_and_domain():
    m = make([helper.make_node("FusedGelu", ["x"], ["y"], domain="com.microsoft", name="gelu_7")],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(CompilerError, match=r"node 'gelu_7' \(op FusedGelu\) is in custom domain 'com\.microsoft'"):
        clean_model(m, name="m.onnx")


def test_unknown_standard_op_names_node_and_opset():
    m = make([helper.make_node("Frobnicate", ["x"], ["y"], name="f1")],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    with pytest.raises(CompilerError, match=r"node 'f1' \(op Frobnicate\) is not a standard ONNX operator at opset 17"):
        clean_model(m)


def test_op_newer_than_the_models_opset_is_unknown():
    # Gelu exists from opset 20 only
    m = make([helper.make_node("Gelu", ["x"], ["y"], name="g")], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], opset=17)
    with pytest.raises(CompilerError, match=r"'g' \(op Gelu\) is not a standard ONNX operator at opset 17"):
        clean_model(m)


def test_unbound_dims_are_each_named_with_their_input(tmp_path):
    nodes = [helper.make_node("Add", ["a", "b"], ["y"])]
    m = make(nodes, [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "seq"]),
                     helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", None])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"])])
    with pytest.raises(CompilerError) as err:
        load_model(save(m, tmp_path / "two.onnx"))
    msg = str(err.value)
    assert "two.onnx" in msg and "--dim NAME=VALUE" in msg and "\n" not in msg
    assert "'batch' (input 'a' axis 0, input 'b' axis 0)" in msg
    assert "'seq' (input 'a' axis 1)" in msg
    assert "'b:1' (input 'b' axis 1)" in msg
    # partly bound: only the rest is named
    with pytest.raises(CompilerError) as err:
        load_model(m, {"batch": 2, "b:1": 3})
    assert "'seq'" in str(err.value) and "'batch'" not in str(err.value)
    assert load_model(m, {"batch": 2, "seq": 3, "b:1": 3}).tensor("y").shape == (2, 3)


def test_unknown_and_bad_dim_values():
    with pytest.raises(CompilerError, match=r"'batch' is not a symbolic dim of this model \(its symbolic dims: b\)"):
        clean_model(shape_logic_model(), {"b": 1, "batch": 1})
    with pytest.raises(CompilerError, match=r"dim 'b' = 0; give a positive integer"):
        clean_model(shape_logic_model(), {"b": 0})


def test_stripped_initializer_without_marker():
    m = matmul_model(stripped=True)
    del m.metadata_props[:]
    with pytest.raises(CompilerError, match=r"initializer 'w' has no data.*smartmem.weights"):
        clean_model(m)


def _external_model(tmp_path):
    m = matmul_model()
    w = next(t for t in m.graph.initializer if t.name == "w")
    w.CopyFrom(numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w"))
    path = tmp_path / "ext.onnx"
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="ext.weights",
              size_threshold=0)
    return path


def test_external_data_loads(tmp_path):
    path = _external_model(tmp_path)
    g = load_model(path, {"b": 2})
    np.testing.assert_array_equal(g.constant_value("w"), np.arange(12, dtype=np.float32).reshape(4, 3))


def test_missing_external_data_file(tmp_path):
    path = _external_model(tmp_path)
    (tmp_path / "ext.weights").unlink()
    with pytest.raises(CompilerError, match=r"ext\.onnx: initializer '\w+' keeps its data in external file "
                                            r"'ext\.weights', which does not exist"):
        read_model(path)


def test_truncated_external_data_file(tmp_path):
    path = _external_model(tmp_path)
    data = (tmp_path / "ext.weights").read_bytes()
    (tmp_path / "ext.weights").write_bytes(data[:10])
    with pytest.raises(CompilerError, match=r"external data file 'ext\.weights' is 10 bytes.*truncated"):
        read_model(path)


def test_wrong_argument_types():
    with pytest.raises(CompilerError, match="path or an onnx.ModelProto"):
        load_model(42)
    with pytest.raises(CompilerError, match="needs an onnx.ModelProto"):
        clean_model(b"bytes")
