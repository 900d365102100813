import numpy as np
import pytest
from onnx import helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.ir import Graph, is_stripped_initializer
from smartmem_sim.compiler.passes.classify import classify_graph, constant_values, stripped_proto
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.layout import ops as lops
from tests.compiler.passes.builders import model


def _ir_graph() -> Graph:
    """Built directly on the IR (the front end would fold the weight's Transpose away)."""
    g = Graph("t")
    g.add_tensor("x", (2, 4), np.float32)
    g.inputs.append("x")
    g.add_initializer(stripped_proto("W", (6, 4), np.dtype(np.float32)))  # structure-only weight
    for name, value in (("sizes", np.array([4, 2])), ("idx", np.array([3, 0]))):
        g.add_initializer(numpy_helper.from_array(value, name))
    for name, shape in (("Wt", (4, 6)), ("a", (2, 6)), ("p", (2, 4)), ("q", (2, 2)), ("g", (2, 2)), ("y", (2, 2))):
        g.add_tensor(name, shape, np.float32)
    g.add_node("Transpose", ["W"], ["Wt"], {"perm": [1, 0]}, name="wt")
    g.add_node("MatMul", ["x", "Wt"], ["a"], name="mm")
    g.add_node("Split", ["a", "sizes"], ["p", "q"], {"axis": 1}, name="split")
    g.add_node("Gather", ["p", "idx"], ["g"], {"axis": 1}, name="gather")
    g.add_node("Add", ["g", "q"], ["y"], name="add")
    g.outputs.append("y")
    return g


def test_groups_constants_and_layout_ops():
    g = _ir_graph()
    cls = classify_graph(g)
    assert cls.constant_nodes == {"wt"} and "Wt" in cls.constant_tensors
    assert str(cls.nodes["mm"].group) == "ILD&Var"
    assert str(cls.nodes["split"].group) == "ILI&Fixed"
    assert str(cls.nodes["gather"].group) == "ILI&Fixed" and cls.nodes["add"].is_elementwise
    s0, s1 = cls.nodes["split"].layout_ops
    assert isinstance(s0, lops.Slice) and s1.output_shape((2, 6)) == (2, 2)
    assert cls.nodes["gather"].data_inputs == ("p",)  # constant indices are a parameter
    wt = constant_values(g, {"Wt"}, cls)["Wt"]
    assert tuple(wt.dims) == (4, 6) and is_stripped_initializer(wt)
    plan = compile_model(g, "smartmem")
    assert [s.op_type for s in plan.steps] == ["MatMul", "Add"] and plan.tensors["Wt"].kind == "weight"


def test_runtime_gather_indices_make_a_kernel():
    nodes = [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0, name="embed")]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("ids", 7, [3])],
                          [helper.make_tensor_value_info("y", 1, [3, 4])],
                          [helper.make_tensor("table", 1, [5, 4], np.zeros(20, np.float32))])
    cls = classify_graph(load_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])))
    assert str(cls.nodes["embed"].group) == "ILD&Var" and not cls.nodes["embed"].is_layout


def test_unknown_op_names_the_node():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r1"), helper.make_node("Det", ["r"], ["y"], name="det1")]
    m = model(nodes, {"x": (3, 3)}, {"y": ()})
    with pytest.raises(CompilerError, match="det1.*Det"):
        classify_graph(load_model(m))
