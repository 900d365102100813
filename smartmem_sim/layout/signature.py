"""A kernel's signature: equal for two plan steps whose kernels make the same accesses.

The compiler's cost models memoize prices by it, and kernels/'s trace sampler memoizes traces by it, so it
lives below both, beside the Plan.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout
from smartmem_sim.layout.plan import Plan, Step, StoredTensor, is_stripped_initializer

# Weights at most this many bytes are part of a kernel's signature by value (Slice starts, Gather
# indices, pads: the kernel's accesses depend on them); larger ones by shape only.
SIGNATURE_VALUE_BYTES = 4096


def step_tensors(step: Step) -> list[str]:
    """Stored tensors a step touches: inputs, epilogue operands, outputs (each once, in that order)."""
    names = [op.tensor for op in step.inputs if op is not None]
    names += [op.tensor for e in step.epilogue for op in e.operands]
    names += list(step.outputs)
    return list(dict.fromkeys(names))


def layout_key(layout: TensorLayout) -> tuple:
    """What of a layout changes a kernel's accesses (not its name)."""
    if isinstance(layout, ImageLayout):
        return ("image", tuple(layout.shape), tuple(layout.width_dims), tuple(layout.height_dims), layout.lane_dim)
    if isinstance(layout, BufferLayout):
        return ("buffer", tuple(layout.shape), tuple(layout.order))
    return (type(layout).__name__, tuple(layout.shape))


def _weight_key(plan: Plan, name: str) -> str:
    proto = plan.weights.get(name)
    if proto is None or is_stripped_initializer(proto):
        return ""
    if proto.data_type != onnx.TensorProto.STRING:
        # decided from the header: decoding a large weight only to learn its size cost a quarter of a
        # full-size network's compile and simulation time (sd_unet)
        itemsize = helper.tensor_dtype_to_np_dtype(proto.data_type).itemsize
        if int(np.prod(proto.dims, dtype=np.int64)) * itemsize > SIGNATURE_VALUE_BYTES:
            return ""
    value = numpy_helper.to_array(proto)
    if value.nbytes > SIGNATURE_VALUE_BYTES:
        return ""
    return hashlib.sha1(value.tobytes() + str(value.dtype).encode()).hexdigest()[:12]


def step_signature(plan: Plan, step: Step, tensors: Mapping[str, StoredTensor]) -> str:
    """A key that is equal for two steps whose kernels make the same accesses: operator, attributes,
    operand shapes and index maps, epilogue, output maps, storage, and the layouts (not names) of every tensor;
    small constant inputs by value. Tensor names are replaced by their position."""
    pos = {n: i for i, n in enumerate(step_tensors(step))}

    def operand(op) -> tuple:
        if op is None:
            return ("-",)
        t = tensors[op.tensor]
        return (pos[op.tensor], op.shape, str(op.index_map), layout_key(t.layout), t.kind,
                _weight_key(plan, op.tensor) if t.kind == "weight" else "")

    parts = (
        plan.storage, step.op_type, repr(sorted((k, repr(v)) for k, v in step.attrs.items())),
        tuple(operand(op) for op in step.inputs),
        tuple((e.op_type, repr(sorted((k, repr(v)) for k, v in e.attrs.items())), e.result_first,
               tuple(operand(op) for op in e.operands)) for e in step.epilogue),
        tuple(None if m is None else str(m) for m in step.output_maps),
        tuple((pos[o], layout_key(tensors[o].layout)) for o in step.outputs),
    )
    if tuple(step.tile) != (1, 1):  # a tiled kernel makes other accesses (untiled keys stay as they were)
        parts = (*parts, ("tile", tuple(step.tile)))
    return hashlib.sha1(repr(parts).encode()).hexdigest()
