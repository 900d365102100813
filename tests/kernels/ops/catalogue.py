"""Operator cases for the kernel tests: tiny shapes, fixed seeds, onnxruntime as the reference."""
from __future__ import annotations

import numpy as np

from tests.kernels.cases import Case, rand


def _rng(seed: int):
    return np.random.default_rng(seed)


def cases() -> dict[str, Case]:
    r = _rng(7)
    x4 = rand(r, 1, 6, 3, 5)
    out = {
        "Add_bcast": Case("Add", [x4, rand(r, 6, 1, 1)]),
        "Mul_bcast_row": Case("Mul", [rand(r, 2, 3, 5), rand(r, 5)]),
        "Sub": Case("Sub", [rand(r, 2, 3, 5), rand(r, 2, 3, 5)]),
        "Div": Case("Div", [rand(r, 2, 6), rand(r, 2, 6, lo=0.5, hi=2.0)]),
        "Relu": Case("Relu", [x4]),
        "Sigmoid": Case("Sigmoid", [rand(r, 3, 7)]),
        "Gelu": Case("Gelu", [rand(r, 2, 9)], opset=20),
        "Erf": Case("Erf", [rand(r, 2, 9)]),
        "Tanh": Case("Tanh", [rand(r, 2, 9)]),
        "HardSwish": Case("HardSwish", [rand(r, 2, 9, lo=-4, hi=4)]),
        "Pow": Case("Pow", [rand(r, 2, 5, lo=0.5, hi=2.0), np.array([2.0], np.float32)], weights=(1,)),
        "Where": Case("Where", [(rand(r, 2, 5) > 0).astype(np.float32), rand(r, 2, 5), rand(r, 1, 5)], bools=(0,)),
        "Sqrt": Case("Sqrt", [rand(r, 3, 4, lo=0.1, hi=2.0)]),
        "Transpose": Case("Transpose", [rand(r, 2, 3, 5, 4)], {"perm": [0, 2, 3, 1]}),
        "Reshape": Case("Reshape", [rand(r, 2, 6, 5), np.array([2, 3, 10], np.int64)]),
        "Concat": Case("Concat", [rand(r, 2, 3, 5), rand(r, 2, 2, 5), rand(r, 2, 1, 5)], {"axis": 1}),
        "Split": Case("Split", [rand(r, 2, 7, 3), np.array([3, 4], np.int64)], {"axis": 1}, n_outputs=2),
        "Slice": Case("Slice", [rand(r, 3, 8, 5), np.array([1, 0], np.int64), np.array([7, 5], np.int64),
                                np.array([1, 2], np.int64), np.array([2, 2], np.int64)]),
        "Gather": Case("Gather", [rand(r, 5, 6), np.array([[4, 0], [2, 2]], np.int64)], {"axis": 0}),
        "Pad": Case("Pad", [rand(r, 1, 3, 4, 5), np.array([0, 0, 1, 2, 0, 1, 2, 0], np.int64)]),
        "Expand": Case("Expand", [rand(r, 3, 1), np.array([2, 3, 6], np.int64)]),
        "MatMul": Case("MatMul", [rand(r, 5, 7), rand(r, 7, 6)]),
        "MatMul_batched_bcast": Case("MatMul", [rand(r, 2, 3, 4, 6), rand(r, 1, 3, 6, 5)]),
        "Gemm": Case("Gemm", [rand(r, 4, 6), rand(r, 5, 6), rand(r, 5)], {"transB": 1, "alpha": 0.5, "beta": 2.0},
                     weights=(1, 2)),
        "Conv": Case("Conv", [rand(r, 1, 5, 6, 7), rand(r, 6, 5, 3, 3), rand(r, 6)], {"pads": [1, 1, 1, 1]},
                     weights=(1, 2)),
        "Conv_strided_dilated": Case("Conv", [rand(r, 1, 3, 9, 8), rand(r, 4, 3, 3, 2)],
                                     {"strides": [2, 1], "dilations": [2, 1], "pads": [2, 0, 1, 1]}, weights=(1,)),
        "Conv_grouped": Case("Conv", [rand(r, 1, 8, 5, 5), rand(r, 4, 2, 1, 1)], {"group": 4}, weights=(1,)),
        "Conv_depthwise": Case("Conv", [rand(r, 2, 6, 5, 5), rand(r, 6, 1, 3, 3), rand(r, 6)],
                               {"group": 6, "auto_pad": "SAME_UPPER", "strides": [2, 2]}, weights=(1, 2)),
        "Softmax": Case("Softmax", [rand(r, 2, 3, 7, lo=-3, hi=3)], {"axis": -1}),
        "Softmax_axis1": Case("Softmax", [rand(r, 2, 5, 3, lo=-3, hi=3)], {"axis": 1}),
        "LayerNormalization": Case("LayerNormalization", [rand(r, 2, 3, 8), rand(r, 8), rand(r, 8)],
                                   {"axis": -1, "epsilon": 1e-5}, weights=(1, 2), opset=17),
        "GroupNormalization": Case("GroupNormalization", [rand(r, 2, 6, 3, 2), rand(r, 6), rand(r, 6)],
                                   {"num_groups": 3, "epsilon": 1e-5}, weights=(1, 2), opset=21),
        "ReduceMean": Case("ReduceMean", [rand(r, 2, 5, 6), np.array([-1], np.int64)], {"keepdims": 1}),
        "ReduceSum_nokeep": Case("ReduceSum", [rand(r, 2, 5, 6), np.array([0, 2], np.int64)], {"keepdims": 0}),
        "ReduceMax": Case("ReduceMax", [rand(r, 3, 4, 5), np.array([1], np.int64)], {"keepdims": 1}),
        "MaxPool": Case("MaxPool", [rand(r, 1, 5, 7, 6)], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        "AveragePool": Case("AveragePool", [rand(r, 1, 5, 6, 6)], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
        "GlobalAveragePool": Case("GlobalAveragePool", [rand(r, 2, 6, 4, 3)]),
        "InstanceNormalization": Case("InstanceNormalization", [rand(r, 2, 5, 3, 4), rand(r, 5), rand(r, 5)],
                                      weights=(1, 2)),
        "BatchNormalization": Case("BatchNormalization", [rand(r, 2, 5, 3, 2), rand(r, 5), rand(r, 5), rand(r, 5),
                                                          rand(r, 5, lo=0.5, hi=1.5)], weights=(1, 2, 3, 4)),
        # data-dependent indexing (runtime indices read by the kernel) and the zoo's other needs
        "Gather_runtime": Case("Gather", [rand(r, 7, 6), np.array([[4, 0, -1], [2, 6, 2]], np.int64)], {"axis": 0},
                               runtime=(1,)),
        "Gather_runtime_axis1": Case("Gather", [rand(r, 2, 5, 3), np.array([3, 1, 4, 0], np.int64)], {"axis": 1},
                                     runtime=(1,)),
        "GatherElements_runtime": Case("GatherElements", [rand(r, 3, 5, 4), _ints(r, 5, (3, 2, 4))], {"axis": 1},
                                       runtime=(1,)),
        "GatherElements_const": Case("GatherElements", [rand(r, 3, 5, 4), _ints(r, 4, (3, 5, 2))], {"axis": -1}),
        "TopK": Case("TopK", [rand(r, 2, 3, 9), np.array([4], np.int64)], {"axis": -1}, n_outputs=2,
                     int_outputs=(1,), opset=11),
        "TopK_smallest_axis1": Case("TopK", [rand(r, 2, 6, 3), np.array([2], np.int64)], {"axis": 1, "largest": 0},
                                    n_outputs=2, int_outputs=(1,), opset=11),
        "Resize_nearest_asymmetric_floor": Case(
            "Resize", [rand(r, 1, 2, 3, 4), None, np.array([1, 1, 2, 2], np.float32)],
            {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, weights=(2,)),
        "Resize_nearest_half_pixel": Case(
            "Resize", [rand(r, 1, 2, 5, 4), None, None, np.array([1, 2, 3, 7], np.int64)],
            {"mode": "nearest"}),
        "Resize_nearest_align_corners_ceil": Case(
            "Resize", [rand(r, 1, 1, 4, 6), None, None, np.array([1, 1, 7, 4], np.int64)],
            {"mode": "nearest", "coordinate_transformation_mode": "align_corners", "nearest_mode": "ceil"}),
        "Resize_linear_half_pixel": Case(
            "Resize", [rand(r, 1, 2, 3, 5), None, None, np.array([1, 2, 5, 3], np.int64)], {"mode": "linear"}),
        "Resize_linear_pytorch_half_pixel": Case(
            "Resize", [rand(r, 1, 2, 4, 3), None, np.array([1, 1, 0.5, 2.5], np.float32)],
            {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, weights=(2,)),
        "Resize_linear_align_corners": Case(
            "Resize", [rand(r, 2, 3, 4), None, None, np.array([2, 3, 7], np.int64)],
            {"mode": "linear", "coordinate_transformation_mode": "align_corners"}),
    }
    return out


def _ints(rng, high: int, shape) -> np.ndarray:
    return rng.integers(0, high, size=shape).astype(np.int64)
