"""Static shapes for every tensor: onnx.shape_inference first, our own rule where it stops.

Our rule is evaluation: a node whose input shapes are known but whose output shapes onnx could not
infer is run once by onnx's reference evaluator on zero-filled inputs (real values for constants),
and the shapes it produces are recorded. That is exact for every op whose output shape depends only on
input shapes and constant inputs, which is all of them once shape logic has been folded; an op whose
shape depends on activation values (NonZero, data-dependent Reshape) is reported as an error.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend.opset import default_opset
from smartmem_sim.compiler.frontend.skeleton import skeleton
from smartmem_sim.layout.plan import is_stripped_initializer

# Inputs larger than this (elements, summed) are not evaluated by the fallback rule (it would be slow).
_EVAL_MAX_ELEMENTS = 1 << 24

Shape = tuple[int, ...]


def infer(model: onnx.ModelProto) -> dict[str, tuple[Shape | None, int]]:
    """Tensor name -> (static shape or None, ONNX elem type) from onnx's shape inference."""
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton(model), check_type=False, strict_mode=False,
                                                     data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise CompilerError(f"model '{model.graph.name}': onnx shape inference failed: {exc}") from None
    out: dict[str, tuple[Shape | None, int]] = {}
    g = inferred.graph
    for t in g.initializer:
        out[t.name] = (tuple(int(d) for d in t.dims), t.data_type)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shape, elem = _static(vi)
        if vi.name not in out or out[vi.name][0] is None:
            out[vi.name] = (shape, elem)
    return out


def _static(vi: onnx.ValueInfoProto) -> tuple[Shape | None, int]:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        return None, 0
    if not tt.HasField("shape"):
        return None, tt.elem_type
    dims = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None, tt.elem_type
        dims.append(int(d.dim_value))
    return tuple(dims), tt.elem_type


def complete(model: onnx.ModelProto, known: dict[str, tuple[Shape | None, int]], name: str) -> None:
    """Fill the gaps in ``known`` by evaluating nodes (module docstring); raise naming the first tensor
    whose shape stays unknown."""
    from onnx.reference import ReferenceEvaluator


    inits = {t.name: t for t in model.graph.initializer}
    opset = default_opset(model)
    for node in model.graph.node:
        missing = [o for o in node.output if o and (known.get(o, (None, 0))[0] is None)]
        if not missing:
            continue
        feeds = {}
        ok = True
        for i in node.input:
            if not i:
                continue
            shape, elem = known.get(i, (None, 0))
            if shape is None:
                ok = False
                break
            init = inits.get(i)

            if init is not None and not is_stripped_initializer(init):
                feeds[i] = numpy_helper.to_array(init)
            else:
                feeds[i] = np.zeros(shape, dtype=helper.tensor_dtype_to_np_dtype(elem))
        if not ok or sum(a.size for a in feeds.values()) > _EVAL_MAX_ELEMENTS:
            continue
        try:
            results = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
        except Exception:  # an op the reference cannot run: leave it to the error below
            continue
        for out_name, value in zip(node.output, results, strict=False):
            if out_name and value is not None:
                arr = np.asarray(value)
                known[out_name] = (tuple(int(d) for d in arr.shape), helper.np_dtype_to_tensor_dtype(arr.dtype))
    producers = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        for o in node.output:
            if o and known.get(o, (None, 0))[0] is None:
                raise CompilerError(
                    f"{name}: cannot infer a static shape for tensor '{o}' written by node "
                    f"'{producers[o].name}' (op {producers[o].op_type}); its shape depends on data or on an "
                    "unsupported op; re-export with static shapes"
                )


def annotate(model: onnx.ModelProto, known: dict[str, tuple[Shape | None, int]]) -> None:
    """Write static shapes into graph outputs and value_info (replacing whatever was there)."""
    g = model.graph
    inputs = {vi.name for vi in g.input}
    inits = {t.name for t in g.initializer}
    outputs = {vi.name for vi in g.output}
    for vi in g.output:
        shape, elem = known[vi.name]
        vi.type.CopyFrom(helper.make_tensor_type_proto(elem or vi.type.tensor_type.elem_type, list(shape)))
    del g.value_info[:]
    for node in g.node:
        for o in node.output:
            if o and o not in outputs and o not in inputs and o not in inits:
                shape, elem = known[o]
                g.value_info.append(helper.make_tensor_value_info(o, elem, list(shape)))
