"""The front end refuses, with a named error, models it cannot compile correctly (before any work): no outputs,
an opset newer than the installed onnx, inputs of an element type the kernels do not take."""
import onnx
import pytest
from onnx import TensorProto, helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import load_model


def _model(outputs=True, opset=17, in_type=TensorProto.FLOAT):
    x = helper.make_tensor_value_info("x", in_type, [2, 3])
    y = helper.make_tensor_value_info("y", in_type, [2, 3])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"], name="id")], "g", [x], [y] if outputs else [])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_a_graph_without_outputs_is_refused():
    with pytest.raises(CompilerError, match="m: the graph has no outputs"):
        load_model(_model(outputs=False), name="m")


@pytest.mark.parametrize("opset", [onnx.defs.onnx_opset_version() + 1, 99])
def test_an_opset_newer_than_onnx_is_refused(opset):
    with pytest.raises(CompilerError, match=f"opset {opset} is newer than the installed onnx"):
        load_model(_model(opset=opset), name="m")


@pytest.mark.parametrize("elem", [TensorProto.STRING, TensorProto.UINT8, TensorProto.COMPLEX64])
def test_inputs_of_unsupported_types_are_refused(elem):
    with pytest.raises(CompilerError, match="input 'x' has element type"):
        load_model(_model(in_type=elem), name="m")


def test_a_supported_model_still_loads():
    assert load_model(_model(), name="m") is not None
