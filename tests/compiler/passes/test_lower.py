"""Before graph -> expected plan, for small cases (lowering with each policy's decisions)."""
import numpy as np
from onnx import helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.layout.plan import COPY
from tests.compiler.passes.builders import check_policies, model

RNG = np.random.default_rng(0)


def _w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def mm_reshape_transpose_mm(first_is_output=False):
    """x[2,6,16] @ W1 -> a[2,6,32] -Reshape-> [2,6,4,8] -Transpose(0,2,1,3)-> [2,4,6,8] @ W2 -> y[2,4,6,5]."""
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["a"], name="mm1"),
             helper.make_node("Reshape", ["a", "shp"], ["b"], name="rs"),
             helper.make_node("Transpose", ["b"], ["c"], perm=[0, 2, 1, 3], name="tr"),
             helper.make_node("MatMul", ["c", "W2"], ["y"], name="mm2")]
    outs = {"y": (2, 4, 6, 5)}
    if first_is_output:
        outs["a"] = (2, 6, 32)
    return model(nodes, {"x": (2, 6, 16)}, outs,
                 {"W1": _w(16, 32), "W2": _w(8, 5), "shp": np.array([2, 6, 4, 8])})


def test_matmul_reshape_transpose_matmul_forward_fold():
    plans = check_policies(mm_reshape_transpose_mm())
    plan = plans["smartmem"]
    assert plan.count(COPY) == 0
    assert [s.op_type for s in plan.steps] == ["MatMul", "MatMul"]
    first = plan.steps[0]
    # mm1 writes c = Transpose(Reshape(a)) directly: (m, n) of a land at (b, n//8, m, n%8) of c
    assert str(first.output_map(0)) == "(i0, i1, i2) -> (i0, i2//8, i1, i2%8)"
    assert first.absorbed_output == ("rs", "tr")
    assert first.outputs == ("c",) and plan.tensors["c"].shape == (2, 4, 6, 8)
    # naive: both layout operators are copies (plus implicit conversions); fusion: Transpose stays a copy
    assert plans["naive"].count(COPY) >= 2
    assert {s.id for s in plans["fusion"].steps if s.op_type == COPY} == {"rs", "tr"}


def test_chain_folds_into_consumer_when_producer_result_is_also_an_output():
    plan = check_policies(mm_reshape_transpose_mm(first_is_output=True))["smartmem"]
    assert plan.count(COPY) == 0
    second = plan.steps[1]
    (a_op, w_op) = second.inputs
    assert a_op.tensor == "a" and a_op.absorbed == ("rs", "tr")
    # operand coords (b, h, m, d) of c read a at (b, m, h*8 + d)
    assert str(a_op.index_map.rename(["b", "h", "m", "d"])) == "(b, h, m, d) -> (b, m, d + h*8)"


def test_paper_example_as_forward_output_map():
    """[2,256,4] -Reshape-> [16,8,4,4] -Transpose(0,2,1,3)-> [16,4,8,4]: the producer writes element
    (i, j, k) at (i*8 + j//32, j%4, (j%32)//4, k)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shp"], ["s"], name="rs"),
             helper.make_node("Transpose", ["s"], ["t"], perm=[0, 2, 1, 3], name="tr"),
             helper.make_node("MatMul", ["t", "W"], ["y"], name="mm")]
    m = model(nodes, {"x": (2, 256, 4)}, {"y": (16, 4, 8, 3)}, {"shp": np.array([16, 8, 4, 4]), "W": _w(4, 3)})
    plan = check_policies(m, check_layouts=False)["smartmem"]
    relu = plan.steps[0]
    assert relu.op_type == "Relu" and plan.count(COPY) == 0
    assert str(relu.output_map(0).rename(["i", "j", "k"])) == "(i, j, k) -> (i*8 + j//32, j%4, (j%32)//4, k)"


def test_output_that_is_a_view_is_materialized_with_a_reason():
    nodes = [helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0], name="tr")]
    m = model(nodes, {"x": (3, 5)}, {"y": (5, 3)})
    plan = check_policies(m)["smartmem"]
    (step,) = plan.steps
    assert step.op_type == COPY and step.outputs == ("y",)
    assert "graph output 'y'" in step.reason and "materialized" in step.reason


def test_split_and_slice_become_views_under_smartmem():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Split", ["r", "sizes"], ["p", "q"], axis=1, name="split"),
             helper.make_node("Slice", ["q", "st", "en", "ax"], ["qs"], name="slice"),
             helper.make_node("Add", ["p", "qs"], ["y"], name="add")]
    m = model(nodes, {"x": (2, 8)}, {"y": (2, 3)},
              {"sizes": np.array([3, 5]), "st": np.array([1]), "en": np.array([4]), "ax": np.array([1])})
    plans = check_policies(m)
    sm = plans["smartmem"]
    assert [s.op_type for s in sm.steps] == ["Relu", "Add"]
    assert sm.steps[1].inputs[1].absorbed == ("split", "slice")
    assert str(sm.steps[1].inputs[1].index_map.rename(["i", "j"])) == "(i, j) -> (i, j + 4)"
    assert {s.id.split("/")[0] for s in plans["naive"].steps if s.op_type == COPY} >= {"split#0", "split#1", "slice"}


def test_epilogue_operand_maps_through_the_forward_chain():
    """MatMul -> Reshape (forward) -> Add(residual): the Add is an epilogue in the MatMul's coordinates."""
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"], name="mm"),
             helper.make_node("Reshape", ["a", "shp"], ["b"], name="rs"),
             helper.make_node("Add", ["b", "z"], ["y"], name="add")]
    m = model(nodes, {"x": (6, 4), "z": (2, 3, 8)}, {"y": (2, 3, 8)}, {"W": _w(4, 8), "shp": np.array([2, 3, 8])})
    plan = check_policies(m)["smartmem"]
    (step,) = plan.steps
    assert step.nodes == ("mm", "add") and step.epilogue[0].op_type == "Add"
    assert str(step.epilogue[0].operands[0].index_map.rename(["m", "n"])) == "(m, n) -> (m//3, m%3, n)"


def test_omitted_optional_input_is_none():
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", name="up")]
    m = model(nodes, {"x": (1, 2, 3, 3)}, {"y": (1, 2, 6, 6)}, {"scales": np.array([1, 1, 2, 2], np.float32)})
    plan = check_policies(m)["smartmem"]
    assert plan.steps[0].inputs[1] is None


def test_constant_subgraph_is_a_weight_not_a_kernel():
    """Transpose of a weight (what a structure-only export leaves behind) is computed at compile time."""
    nodes = [helper.make_node("Transpose", ["W"], ["Wt"], perm=[1, 0], name="wt"),
             helper.make_node("MatMul", ["x", "Wt"], ["y"], name="mm")]
    m = model(nodes, {"x": (2, 4)}, {"y": (2, 3)}, {"W": _w(3, 4)})
    graph = load_model(m)
    for policy in ("naive", "fusion", "smartmem"):
        plan = compile_model(graph, policy)
        assert [s.op_type for s in plan.steps] == ["MatMul"]
        assert plan.tensors[plan.steps[0].inputs[1].tensor].kind == "weight"
    check_policies(m)
