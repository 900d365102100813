"""Small hand-built ONNX models for front-end, analysis and CLI tests."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def make(nodes, inputs, outputs, inits=(), opset=OPSET, name="g", metadata=None) -> onnx.ModelProto:
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    for k, v in (metadata or {}).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    return m


def const(name, values, dtype=np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def shape_logic_model() -> onnx.ModelProto:
    """x[b, 3, 4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) -> [b, 12], plus
    ConstantOfShape(Shape(y)) + y, Range-driven Expand, Constant and Identity nodes: the torch idioms."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64)), name="c0"),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0, name="gather"),
        helper.make_node("Unsqueeze", ["b", "axes0"], ["b1"], name="unsq"),
        helper.make_node("Concat", ["b1", "minus1"], ["target"], axis=0, name="concat"),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
        helper.make_node("Identity", ["y"], ["y_id"], name="ident"),
        helper.make_node("Shape", ["y_id"], ["ys"], name="shape2"),
        helper.make_node("ConstantOfShape", ["ys"], ["ones"], value=numpy_helper.from_array(np.array([1.0], np.float32)),
                         name="cos"),
        helper.make_node("Add", ["y_id", "ones"], ["z"], name="add"),
        helper.make_node("Shape", ["z"], ["zs"], start=1, name="shape3"),
        helper.make_node("Squeeze", ["zs", "axes0"], ["n"], name="sq"),
        helper.make_node("Range", ["start0", "n", "step1"], ["r"], name="range"),
        helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Expand", ["rf", "zshape"], ["re"], name="expand"),
        helper.make_node("Shape", ["z"], ["zshape"], name="shape4"),
        helper.make_node("Mul", ["z", "re"], ["out"], name="mul"),
    ]
    # Expand reads zshape before its producer in list order: fix the order (ONNX needs topological order).
    nodes.insert(nodes.index(nodes[-3]), nodes.pop(-2))
    inits = [const("axes0", [0]), const("minus1", [-1]), const("start0", 0), const("step1", 1)]
    return make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 4])],
                [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", 12])], inits)


def matmul_model(stripped: bool = False, int_weight_stripped: bool = False) -> onnx.ModelProto:
    """x[b, 4] @ w[4, 3] + bias, then Reshape by a shape chain; weights optionally stripped."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "bias")
    idx = const("idx", [2, 0, 1])
    if stripped:
        for t in (w, bias):
            t.ClearField("raw_data")
            t.ClearField("float_data")
    if int_weight_stripped:
        idx.ClearField("raw_data")
        idx.ClearField("int64_data")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="mm"),
        helper.make_node("Add", ["xw", "bias"], ["h"], name="add_bias"),
        helper.make_node("Gather", ["h", "idx"], ["hg"], axis=1, name="perm"),
        helper.make_node("Shape", ["hg"], ["s"], name="shape"),
        helper.make_node("Slice", ["s", "zero", "one"], ["b"], name="slice"),
        helper.make_node("Concat", ["b", "shape_tail"], ["target"], axis=0, name="concat"),
        helper.make_node("Reshape", ["hg", "target"], ["y"], name="reshape"),
    ]
    inits = [w, bias, idx, const("zero", [0]), const("one", [1]), const("shape_tail", [3, 1])]
    meta = {"smartmem.weights": "stripped"} if (stripped or int_weight_stripped) else None
    return make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3, 1])], inits, metadata=meta)


def run_ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


SHAPE_LOGIC = {"Shape", "Size", "ConstantOfShape", "Constant", "Identity", "Range"}


def assert_no_shape_logic(model: onnx.ModelProto) -> None:
    """No shape-logic op left, and no node whose inputs are all constant (it would be foldable)."""
    ops = [n.op_type for n in model.graph.node]
    assert not SHAPE_LOGIC & set(ops), ops
    consts = {t.name for t in model.graph.initializer}
    for n in model.graph.node:
        assert not all(i in consts for i in n.input if i), n.name
