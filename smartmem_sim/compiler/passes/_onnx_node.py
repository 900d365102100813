"""Run one ONNX node on numpy arrays with onnx's reference implementation (no onnxruntime).

Used to fold constant subgraphs at compile time and by the reference evaluator. Evaluators are
cached by (op, attributes, input types and ranks) because building one costs far more than running it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

import numpy as np
import onnx
from onnx import helper

from smartmem_sim.compiler.errors import CompilerError

OPSET = 18  # the reference implementation of every op the front end produces (it lifts models to >= 13)


def _freeze(value: Any) -> Any:
    if isinstance(value, onnx.TensorProto):
        return ("tensor", value.SerializeToString())
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return value


@lru_cache(maxsize=4096)
def _evaluator(op_type: str, domain: str, attrs_key: tuple, in_types: tuple, n_out: int, opset: int):
    from onnx.reference import ReferenceEvaluator

    attrs = {k: (onnx.TensorProto.FromString(v[1]) if isinstance(v, tuple) and v and v[0] == "tensor" else
                 list(v) if isinstance(v, tuple) else v) for k, v in attrs_key}
    names = [f"in{k}" if t is not None else "" for k, t in enumerate(in_types)]
    outs = [f"out{k}" for k in range(n_out)]
    node = helper.make_node(op_type, names, outs, domain=domain, **attrs)
    inputs = [helper.make_tensor_value_info(n, t[0], [None] * t[1]) for n, t in zip(names, in_types, strict=False) if t is not None]
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outs]
    graph = helper.make_graph([node], "one_node", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])
    return ReferenceEvaluator(model), [n for n in names if n], outs


@cache
def opset_for(op_type: str, domain: str, opset: int) -> int:
    """``opset``, or the first opset that defines ``op_type`` when it is newer (e.g. Gelu: 20)."""
    try:
        onnx.defs.get_schema(op_type, opset, domain)
        return opset
    except onnx.defs.SchemaError:
        try:
            return max(opset, onnx.defs.get_schema(op_type, domain).since_version)
        except onnx.defs.SchemaError:
            return opset


def _expand(inputs: list[np.ndarray]) -> list[np.ndarray]:
    data, shape = inputs[0], tuple(int(d) for d in inputs[1].ravel())
    return [np.array(np.broadcast_to(data, np.broadcast_shapes(data.shape, shape)))]


# ops whose reference implementation is slow on large constants (Expand multiplies by an array of ones: 2.5 s
# per compile of SD-UNet), computed with numpy's equivalent; tests/compiler/passes/test_onnx_node.py compares them
_NUMPY_PATHS = {("", "Expand"): _expand}


def run_node(op_type: str, attrs: Mapping[str, Any], inputs: Sequence[np.ndarray | None], n_outputs: int = 1,
             domain: str = "", opset: int = OPSET, where: str = "") -> list[np.ndarray]:
    """Outputs of ``op_type`` on ``inputs`` (None marks an omitted optional input)."""
    fast = _NUMPY_PATHS.get((domain, op_type))
    if fast is not None and all(a is not None for a in inputs):
        try:
            return fast([np.asarray(a) for a in inputs])
        except ValueError as exc:
            raise CompilerError(f"{where or op_type}: {op_type} failed: {exc}") from exc
    in_types = tuple(None if a is None else (helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype), np.ndim(a))
                     for a in inputs)
    key = tuple(sorted((k, _freeze(v)) for k, v in attrs.items()))
    try:
        ev, names, outs = _evaluator(op_type, domain, key, in_types, n_outputs, opset_for(op_type, domain, opset))
        feeds = {n: np.asarray(a) for n, a in zip(names, [a for a in inputs if a is not None], strict=False)}
        res = ev.run(outs, feeds)
    except CompilerError:
        raise
    except Exception as exc:  # the reference implementation raises many types; name the node
        raise CompilerError(f"{where or op_type}: onnx's reference implementation of {op_type} failed: {exc}") from exc
    return [np.asarray(r) for r in res]
