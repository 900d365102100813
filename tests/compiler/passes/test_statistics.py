"""smartmem_sim/compiler/passes/statistics.py: which normalizations are split, and that the split graph computes what
the original model does (that part, on an OpenCL device: tests/kernels/test_split_statistics.py)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.frontend.clean import WEIGHTS_KEY
from smartmem_sim.compiler.passes.statistics import min_elements, split_statistics


def statistics_model(side: int, softmax_len: int, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    c = 4
    inits = [numpy_helper.from_array(rng.normal(size=c).astype(np.float32), "s"),
             numpy_helper.from_array(rng.normal(size=c).astype(np.float32), "b")]
    nodes = [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-5),
             helper.make_node("Softmax", ["z"], ["p"], axis=-1)]
    g = helper.make_graph(nodes, "stats", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, side, side]),
                                           helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3, softmax_len])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, side, side]),
                           helper.make_tensor_value_info("p", TensorProto.FLOAT, [2, 3, softmax_len])], inits)
    return onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_only_statistics_over_many_elements_are_split():
    n = min_elements()
    graph = load_model(statistics_model(side=32, softmax_len=n - 1))  # 1024-element instances, short softmax rows
    done = split_statistics(graph)
    ops = graph.op_types()
    assert len(done) == (1 if 32 * 32 >= n else 0)
    assert "Softmax" in ops
    graph = load_model(statistics_model(side=8, softmax_len=n))
    split_statistics(graph)
    ops = graph.op_types()
    assert "InstanceNormalization" in ops and "Softmax" not in ops
    assert ops.count("ReduceMax") == 1 and ops.count("ReduceSum") == 1 and "Exp" in ops
    graph.validate()


def test_split_keeps_graph_outputs_and_stripped_weights():
    model = statistics_model(side=32, softmax_len=16)
    for init in model.graph.initializer:  # structure only, as the zoo ships them
        init.ClearField("raw_data")
        del init.float_data[:]
    helper.set_model_props(model, {WEIGHTS_KEY: "stripped"})
    graph = load_model(model)
    split_statistics(graph, threshold=16)
    assert graph.outputs == ["y", "p"]
    assert "InstanceNormalization" not in graph.op_types() and "Softmax" not in graph.op_types()
    scales = [t for t in graph.initializers if t.endswith("/scale")]
    assert scales and graph.is_stripped(scales[0]) and graph.tensor(scales[0]).shape == (4, 1, 1)
    graph.validate()
