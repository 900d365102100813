"""A model's skeleton: large (or stripped) initializers declared as typed graph inputs instead.

Shape inference, the checker and the opset converter never need weight values; handing them the skeleton
keeps them from copying (or needing) the weights.
"""
from __future__ import annotations

import math

import onnx
from onnx import helper

from smartmem_sim.layout.plan import is_stripped_initializer

# Initializers larger than this (elements) are replaced by typed graph inputs while inferring shapes,
# so inference does not copy weights (and does not need the data of stripped ones).
_SKELETON_MAX_ELEMENTS = 4096


def numel(dims) -> int:
    # Python ints: an int64 product of huge dims would wrap and pass a size test it should fail
    return math.prod(int(d) for d in dims)


def skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose large (or stripped) initializers are declared inputs instead."""
    out = onnx.ModelProto()
    out.CopyFrom(_model_without_graph(model))
    g = out.graph
    src = model.graph
    g.name = src.name
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    for t in src.initializer:
        if numel(t.dims) > _SKELETON_MAX_ELEMENTS or is_stripped_initializer(t):
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            g.initializer.append(t)
    return out


def _model_without_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.ir_version = model.ir_version
    m.opset_import.extend(model.opset_import)
    m.producer_name = model.producer_name
    m.producer_version = model.producer_version
    m.metadata_props.extend(model.metadata_props)
    return m
