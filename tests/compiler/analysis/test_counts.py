"""smartmem_sim.compiler.analysis: op histogram, layout-transform rule, parameters, MACs, tensor sizes.

MACs are checked against an independent count: the number of multiply-adds a plain-Python direct
convolution / matrix product performs, tallied by brute force on small shapes."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.analysis import constant_tensors, is_layout_transform, summarize
from smartmem_sim.compiler.frontend import load_model
from tests.compiler.frontend.onnx_builders import const, make


def brute_conv_macs(n, cin, h, w, cout, kh, kw, stride, pad, group):
    """Count multiply-adds of a direct convolution loop (padded taps included, as a conv kernel runs them)."""
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (w + 2 * pad - kw) // stride + 1
    count = 0
    for _b, _co, _y, _x in itertools.product(range(n), range(cout), range(ho), range(wo)):
        for _ci in range(cin // group):
            count += kh * kw
    return count


@pytest.mark.parametrize("cin,cout,k,stride,pad,group", [(4, 6, 3, 1, 1, 1), (4, 8, 3, 2, 0, 2), (6, 6, 1, 1, 0, 6)])
def test_conv_macs_match_brute_force(cin, cout, k, stride, pad, group):
    w = numpy_helper.from_array(np.zeros((cout, cin // group, k, k), np.float32), "w")
    m = make([helper.make_node("Conv", ["x", "w"], ["y"], strides=[stride] * 2, pads=[pad] * 4, group=group)],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, cin, 7, 5])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [w])  # a wrong declared shape
    s = summarize(load_model(m))
    assert s["macs"]["conv"] == s["macs"]["total"] == brute_conv_macs(2, cin, 7, 5, cout, k, k, stride, pad, group)
    assert s["parameters"] == cout * (cin // group) * k * k


def test_matmul_gemm_and_attention_macs():
    rng = np.random.default_rng(0)
    wq = numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "wq")
    wg = numpy_helper.from_array(rng.standard_normal((5, 8)).astype(np.float32), "wg")
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]),                         # [2,3,4,8] @ [8,8]
             helper.make_node("Transpose", ["q"], ["kt"], perm=[0, 1, 3, 2]),        # [2,3,8,4]
             helper.make_node("MatMul", ["q", "kt"], ["att"]),                        # [2,3,4,4], K = 8
             helper.make_node("Reshape", ["q", "flat"], ["q2"]),                      # [24, 8]
             helper.make_node("Gemm", ["q2", "wg"], ["y"], transB=1)]                 # [24, 5], K = 8
    m = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 8])],
             [helper.make_tensor_value_info("att", TensorProto.FLOAT, [2, 3, 4, 4]),
              helper.make_tensor_value_info("y", TensorProto.FLOAT, [24, 5])], [wq, wg, const("flat", [24, 8])])
    s = summarize(load_model(m))
    # brute force: one multiply-add per (output element, reduction index)
    assert s["macs"]["matmul_weight"] == 2 * 3 * 4 * 8 * 8
    assert s["macs"]["matmul_activation"] == 2 * 3 * 4 * 4 * 8
    assert s["macs"]["gemm"] == 24 * 5 * 8
    assert s["macs"]["total"] == sum(v for k, v in s["macs"].items() if k != "total")
    assert s["parameters"] == 64 + 40 and s["constant_int_elements"] == 2
    assert s["layout_transforms"] == {"total": 2, "by_op": {"Reshape": 1, "Transpose": 1},
                                      "nodes": ["Transpose_1", "Reshape_3"]}
    assert s["tensors"]["largest"]["bytes"] == 2 * 3 * 4 * 8 * 4
    # activations: x, q, kt, att, q2, y
    assert s["tensors"]["activation_bytes"] == 4 * (192 * 4 + 96 + 120)


def test_layout_rule_for_gather_slice_concat():
    table = numpy_helper.from_array(np.zeros((10, 4), np.float32), "table")
    nodes = [helper.make_node("Gather", ["table", "ids"], ["emb"], name="embedding"),       # lookup: not layout
             helper.make_node("Gather", ["emb", "zero"], ["first"], axis=1, name="select"),  # static select: layout
             helper.make_node("Slice", ["emb", "s0", "s1", "ax"], ["sl"], name="slice"),     # layout
             helper.make_node("Concat", ["first", "first"], ["cat"], axis=1, name="concat"),  # layout
             helper.make_node("Gather", ["emb", "ids"], ["dyn"], axis=1, name="dyn_gather"),  # data-dependent: not
             helper.make_node("Relu", ["sl"], ["r"], name="relu")]
    m = make(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 3])],
             [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("cat", "dyn", "r")],
             [table, const("zero", 0), const("s0", [1]), const("s1", [3]), const("ax", [1])])
    for o in m.graph.output:
        o.type.tensor_type.shape.SetInParent()
    g = load_model(m)
    const_set = constant_tensors(g)
    flags = {n.id: is_layout_transform(g, n, const_set) for n in g.nodes()}
    assert flags == {"embedding": False, "select": True, "slice": True, "concat": True, "dyn_gather": False,
                     "relu": False}


LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def test_resnet50_matches_published_counts():
    """torchvision's ResNet-50 has 25,557,032 parameters (its BN running mean/var are buffers, not counted
    there); ONNX's BN carries them as inputs, 2 x 26,560 channels. Its cost is about 4.1 GMACs."""
    g = load_model(LIGHT / "light_resnet50.onnx")
    s = summarize(g)
    bn_channels = sum(g.tensor(n.inputs[1]).size for n in g.nodes() if n.op_type == "BatchNormalization")
    assert bn_channels == 26_560
    assert s["parameters"] == 25_557_032 + 2 * bn_channels
    assert 4.05e9 < s["macs"]["total"] < 4.15e9
    assert s["op_histogram"]["Conv"] == 53 and s["layout_transforms"]["total"] == 1
    assert s["tensors"]["largest"]["shape"] == [1, 256, 56, 56]
