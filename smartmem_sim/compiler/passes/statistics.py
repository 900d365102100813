"""Normalizations whose statistics span many elements become reduction kernels plus element-wise
operators (why, and the threshold: smartmem_sim/compiler/data/statistics.toml). Runs first, for every policy alike.

- ``InstanceNormalization(x, scale, bias)`` over ``n = prod(spatial)`` elements per instance:
  ``m = ReduceMean(x)``, ``d = x - m``, ``v = ReduceMean(d*d)``, ``y = d / Sqrt(v + eps) * scale + bias``
  (reductions over the spatial axes with keepdims; scale and bias as (C, 1, ..., 1) constants).
- ``Softmax(x, axis)`` (opset 13 semantics: one axis) over ``n = shape[axis]`` elements:
  ``e = Exp(x - ReduceMax(x))``, ``y = e / ReduceSum(e)``.

The rewritten operators compute the same values as the fused kernels did (the same two-pass mean and
variance); the tests check them against onnxruntime on the original model.
"""
from __future__ import annotations

from functools import cache
from math import prod
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from smartmem_sim.compiler.data_tables import read_toml
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.ir import Graph

TABLE = Path(__file__).resolve().parents[1] / "data" / "statistics.toml"


@cache
def min_elements() -> int:
    table = read_toml(TABLE, "statistics table")
    unknown = set(table) - {"min_elements"}
    if unknown or not isinstance(table.get("min_elements"), int) or table["min_elements"] < 2:
        raise CompilerError(f"statistics table {TABLE}: needs exactly `min_elements`, an integer >= 2 "
                            f"(unknown keys: {sorted(unknown)})")
    return table["min_elements"]


def split_statistics(graph: Graph, threshold: int | None = None) -> list[str]:
    """Rewrite, in place, the InstanceNormalization and Softmax nodes of ``graph`` whose statistics span
    at least ``threshold`` elements (default: the table's); returns the ids of the nodes rewritten."""
    n_min = min_elements() if threshold is None else threshold
    done = []
    for nid in graph.topological_order():
        node = graph.node(nid)
        if node.op_type == "InstanceNormalization" and node.domain in ("", "ai.onnx"):
            shape = graph.tensor(node.inputs[0]).shape
            if len(shape) >= 3 and prod(shape[2:]) >= n_min and all(graph.is_constant(t) for t in node.inputs[1:3]):
                _instance_norm(graph, nid)
                done.append(nid)
        elif node.op_type == "Softmax" and node.domain in ("", "ai.onnx") and graph.opsets.get("", 13) >= 13:
            shape = graph.tensor(node.inputs[0]).shape
            axis = int(node.attr("axis", -1)) % len(shape)
            if shape[axis] >= n_min:
                _softmax(graph, nid, axis)
                done.append(nid)
    return done


class _Builder:
    """Adds the replacement nodes of one node, with tensor names derived from its id."""

    def __init__(self, graph: Graph, nid: str):
        self.g, self.nid = graph, nid
        self.dtype = graph.tensor(graph.node(nid).inputs[0]).dtype

    def name(self, what: str) -> str:
        base, k = f"{self.nid}/{what}", 1
        name = base
        while name in self.g.tensors:
            k += 1
            name = f"{base}__{k}"
        return name

    def op(self, op_type: str, inputs: list[str], shape, attrs=None) -> str:
        out = self.name(op_type.lower())
        self.g.add_tensor(out, shape, self.dtype)
        self.g.add_node(op_type, inputs, [out], attrs, name=f"{self.nid}/{op_type}")
        return out

    def const(self, what: str, value: np.ndarray) -> str:
        name = self.name(what)
        self.g.add_initializer(numpy_helper.from_array(value, name))
        return name

    def reduce(self, op_type: str, x: str, axes: list[int], shape) -> str:
        # axes moved from an attribute to an input in opset 18 (ReduceSum: 13)
        as_input = self.g.opsets.get("", 13) >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.op(op_type, [x, self.const("axes", np.array(axes, np.int64))], shape, {"keepdims": 1})
        return self.op(op_type, [x], shape, {"axes": axes, "keepdims": 1})

    def channel_const(self, name: str, rank: int, what: str) -> str:
        """A (C,) constant as (C, 1, ..., 1), to broadcast against (N, C, *spatial)."""
        proto = self.g.initializers[name]
        dims = [int(proto.dims[0]), *([1] * (rank - 2))]
        if self.g.is_stripped(name):  # structure-only model: the same, without data
            out = onnx.TensorProto(name=self.name(what), data_type=proto.data_type, dims=dims)
            self.g.add_initializer(out)
            return out.name
        return self.const(what, self.g.constant_value(name).reshape(dims))


def _instance_norm(g: Graph, nid: str) -> None:
    node = g.node(nid)
    x, scale, bias = node.inputs[:3]
    (y,) = node.outputs
    eps = float(node.attr("epsilon", 1e-5))
    shape = g.tensor(x).shape
    rank = len(shape)
    stat_shape = (*shape[:2], *([1] * (rank - 2)))
    b = _Builder(g, nid)
    axes = list(range(2, rank))
    mean = b.reduce("ReduceMean", x, axes, stat_shape)
    d = b.op("Sub", [x, mean], shape)
    var = b.reduce("ReduceMean", b.op("Mul", [d, d], shape), axes, stat_shape)
    std = b.op("Sqrt", [b.op("Add", [var, b.const("eps", np.array(eps, b.dtype))], stat_shape)], stat_shape)
    normed = b.op("Div", [d, std], shape)
    scaled = b.op("Mul", [normed, b.channel_const(scale, rank, "scale")], shape)
    out = b.op("Add", [scaled, b.channel_const(bias, rank, "bias")], shape)
    g.remove_node(nid, reconnect=(out, y))


def _softmax(g: Graph, nid: str, axis: int) -> None:
    node = g.node(nid)
    (x,), (y,) = node.inputs, node.outputs
    shape = g.tensor(x).shape
    stat_shape = tuple(1 if d == axis else n for d, n in enumerate(shape))
    b = _Builder(g, nid)
    e = b.op("Exp", [b.op("Sub", [x, b.reduce("ReduceMax", x, [axis], stat_shape)], shape)], shape)
    out = b.op("Div", [e, b.reduce("ReduceSum", e, [axis], stat_shape)], shape)
    g.remove_node(nid, reconnect=(out, y))
