"""Size bounds at the model boundary (smartmem_sim/compiler/data/limits.toml, frontend/limits.py): refused at
load, in well under a second, naming the model, the tensor or node and the limit; every zoo network passes."""
import re
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import limits as limits_mod
from smartmem_sim.compiler.frontend import load_model, read_model

F = TensorProto.FLOAT
MAX = 2**31 - 1


def _relu(shape, name="x"):
    x = helper.make_tensor_value_info(name, F, shape)
    y = helper.make_tensor_value_info("y", F, None)
    g = helper.make_graph([helper.make_node("Relu", [name], ["y"], name="r")], "g", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _refused(model, pattern, dims=None):
    t0 = time.perf_counter()
    with pytest.raises(CompilerError, match=pattern) as err:
        load_model(model, dims, name="m.onnx")
    assert time.perf_counter() - t0 < 5, "a size check must come before any work"
    msg = str(err.value)
    assert msg.startswith("m.onnx: ") and "\n" not in msg
    return msg


def test_the_limits_are_the_documented_numbers():
    lim = limits_mod.limits()
    # independent of limits.py: the OpenCL C work-item ids are 32-bit int, protobuf's 2 GiB message limit
    assert lim.tensor_elements == MAX and lim.file_bytes == 2**31 - 1
    docs = (Path(__file__).parents[3] / "docs" / "ERRORS.md").read_text()
    for value in (lim.tensor_elements, lim.weight_bytes, lim.total_bytes, lim.nodes, lim.file_bytes):
        assert f"{value:,}" in docs, f"docs/ERRORS.md does not state the limit {value:,}"


def test_a_huge_input_dim_is_refused_naming_input_and_limit():
    msg = _refused(_relu([1, 2**40]), r"input 'x' \[1, 1099511627776\] has 1,099,511,627,776 elements")
    assert f"{MAX:,}" in msg and "limits.toml" in msg


def test_one_element_past_the_limit_is_refused_and_at_the_limit_loads():
    _refused(_relu([MAX + 1]), "input 'x'")
    # exactly at the limit (two tensors of 8 GiB: under the model's byte limit), and nothing is allocated
    assert load_model(_relu([MAX]), name="m.onnx").tensor("y").shape == (MAX,)


def test_a_huge_symbolic_dim_names_the_dim_flag():
    msg = _refused(_relu(["n", 2**20]), r"input 'x' \[4096, 1048576\].*--dim n", dims={"n": 4096})
    assert "give smaller sizes" in msg


@pytest.mark.parametrize("dim, what", [(0, r"size 0 \(an empty tensor"), (-3, "a negative size")])
def test_zero_and_negative_input_dims_are_refused(dim, what):
    _refused(_relu([2, dim]), rf"input 'x' \[2, {dim}\] has {what}.* at axis 1")


def _expand(target, opset=17):
    x = helper.make_tensor_value_info("x", F, [1, 1])
    y = helper.make_tensor_value_info("y", F, None)
    shape = numpy_helper.from_array(np.array(target, np.int64), "s")
    g = helper.make_graph([helper.make_node("Expand", ["x", "s"], ["y"], name="ex")], "g", [x], [y], [shape])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_a_huge_intermediate_names_the_node_that_writes_it():
    _refused(_expand([2**20, 2**20]), r"tensor 'y' \[1048576, 1048576\] written by node 'ex' \(op Expand\) has "
                                      r"1,099,511,627,776 elements")


def test_an_empty_intermediate_names_the_node():
    x = helper.make_tensor_value_info("x", F, [4, 3])
    y = helper.make_tensor_value_info("y", F, None)
    inits = [numpy_helper.from_array(np.array([3], np.int64), n) for n in ("st", "en")]
    g = helper.make_graph([helper.make_node("Slice", ["x", "st", "en"], ["y"], name="sl")], "g", [x], [y], inits)
    _refused(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
             r"tensor 'y' \[0, 3\] written by node 'sl' \(op Slice\) is empty")


def test_a_huge_stripped_weight_is_refused_before_it_is_filled():
    m = _relu([2, 3])
    m.graph.initializer.append(onnx.TensorProto(name="w", data_type=F, dims=[2**20, 2**20]))
    m.graph.node.append(helper.make_node("Add", ["y", "w"], ["z"], name="add"))
    m.graph.output[0].name = "z"
    helper.set_model_props(m, {"smartmem.weights": "stripped"})
    _refused(m, r"initializer 'w' \[1048576, 1048576\] has 1,099,511,627,776 elements")


def test_a_weight_whose_data_does_not_match_its_dims_is_refused():
    m = _relu([2, 3])
    w = numpy_helper.from_array(np.ones(6, np.float32), "w")
    w.dims[:] = [4, 3]
    m.graph.initializer.append(w)
    m.graph.node.append(helper.make_node("Add", ["y", "w"], ["z"], name="add"))
    m.graph.output[0].name = "z"
    _refused(m, r"initializer 'w' \[4, 3\] stores 24 bytes but its dims need 48")


def test_model_totals_are_bounded(monkeypatch):
    small = limits_mod.Limits(file_bytes=2**31 - 1, tensor_elements=MAX, weight_bytes=16, total_bytes=100, nodes=1)
    monkeypatch.setattr(limits_mod, "limits", lambda: small)
    m = _relu([2, 3])
    m.graph.initializer.append(numpy_helper.from_array(np.ones(6, np.float32), "w"))
    m.graph.node.append(helper.make_node("Add", ["y", "w"], ["z"], name="add"))
    m.graph.output[0].name = "z"
    _refused(m, r"its weights take 24 bytes; a model may have at most 16")
    small2 = limits_mod.Limits(file_bytes=2**31 - 1, tensor_elements=MAX, weight_bytes=16, total_bytes=40, nodes=9)
    monkeypatch.setattr(limits_mod, "limits", lambda: small2)
    _refused(_relu([2, 3]), r"its tensors take 48 bytes together; a model may take at most 40")


def test_an_oversized_file_is_refused_before_it_is_read(monkeypatch, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_relu([2, 3]), path)
    small = limits_mod.Limits(file_bytes=10, tensor_elements=MAX, weight_bytes=16, total_bytes=40, nodes=9)
    monkeypatch.setattr(limits_mod, "limits", lambda: small)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(CompilerError, match=r"m\.onnx: the file is \d+ bytes; an \.onnx file holds at most 10"):
        read_model(path)


def test_node_count_is_bounded(monkeypatch):
    small = limits_mod.Limits(file_bytes=2**31 - 1, tensor_elements=MAX, weight_bytes=16, total_bytes=2**40, nodes=1)
    monkeypatch.setattr(limits_mod, "limits", lambda: small)
    m = _relu([2, 3])
    m.graph.node.append(helper.make_node("Relu", ["y"], ["z"], name="r2"))
    m.graph.output[0].name = "z"
    _refused(m, r"2 operators after cleaning; at most 1")


def test_every_zoo_network_is_within_the_limits():
    from smartmem_sim import zoo
    from smartmem_sim.compiler.frontend import clean_model

    names = zoo.list_models()
    assert len(names) == 18
    for name in names:
        for tiny in (True, False):
            clean_model(zoo.load(name, tiny=tiny, weights=False), None, name)  # raises on a limit


def test_messages_name_the_limits_file():
    msg = _refused(_relu([1, 2**40]), "input 'x'")
    assert re.search(r"limits\.toml \[tensor\]", msg)
