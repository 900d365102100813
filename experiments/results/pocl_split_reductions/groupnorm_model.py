"""A GroupNorm as the SD VAE decoder exports it (Reshape to (N, G, -1), InstanceNormalization, Reshape back,
per-channel scale and shift), at a size PoCL on a 2-core VM runs in seconds; random weights, seed 0.
    python3 experiments/results/pocl_split_reductions/groupnorm_model.py OUT.onnx [C H W G]"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def groupnorm(c: int, h: int, w: int, groups: int) -> onnx.ModelProto:
    r = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array([1, groups, -1], np.int64), "grouped"),
             numpy_helper.from_array(np.array([1, c, h, w], np.int64), "back"),
             numpy_helper.from_array(np.ones(groups, np.float32), "ones"),
             numpy_helper.from_array(np.zeros(groups, np.float32), "zeros"),
             numpy_helper.from_array(r.normal(size=(c, 1, 1)).astype(np.float32), "gamma"),
             numpy_helper.from_array(r.normal(size=(c, 1, 1)).astype(np.float32), "beta")]
    nodes = [helper.make_node("Reshape", ["x", "grouped"], ["g"]),
             helper.make_node("InstanceNormalization", ["g", "ones", "zeros"], ["n"], epsilon=1e-6),
             helper.make_node("Reshape", ["n", "back"], ["b"]),
             helper.make_node("Mul", ["b", "gamma"], ["s"]),
             helper.make_node("Add", ["s", "beta"], ["y"])]
    graph = helper.make_graph(nodes, "groupnorm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, h, w])], inits)
    return onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


if __name__ == "__main__":
    c, h, w, g = (int(v) for v in sys.argv[2:6]) if len(sys.argv) > 2 else (128, 128, 128, 32)
    onnx.save(groupnorm(c, h, w, g), sys.argv[1])
