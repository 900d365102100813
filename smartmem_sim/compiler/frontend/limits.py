"""Size bounds at the model boundary: the numbers live in smartmem_sim/compiler/data/limits.toml (each with
its source); this module checks a model against them before any work, and every error names the model, the
tensor (and the node writing it) and the limit, and says what to do.

Sizes are computed with Python ints: a product of dims such as 2^40 x 2^40 must not wrap as an int64 would.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import onnx
from onnx import helper

from smartmem_sim.compiler.errors import CompilerError

LIMITS_PATH = Path(__file__).resolve().parents[1] / "data" / "limits.toml"


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    tensor_elements: int
    weight_bytes: int
    total_bytes: int
    nodes: int


@lru_cache(maxsize=1)
def limits() -> Limits:
    """The limits of limits.toml (a missing key or a value that is not a positive integer is an error naming it)."""
    from smartmem_sim.compiler.data_tables import read_toml

    data = read_toml(LIMITS_PATH, "size limits")

    def get(table: str, key: str) -> int:
        v = data.get(table, {}).get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise CompilerError(f"size limits {LIMITS_PATH}: [{table}] {key} must be a positive integer, got {v!r}")
        return v

    return Limits(file_bytes=get("file", "max_bytes"), tensor_elements=get("tensor", "max_elements"),
                  weight_bytes=get("model", "max_weight_bytes"), total_bytes=get("model", "max_total_bytes"),
                  nodes=get("model", "max_nodes"))


def numel(dims: Iterable[int]) -> int:
    return math.prod(int(d) for d in dims)


def elem_bytes(elem_type: int) -> int:
    """Bytes of one element (1 for types numpy has no size for, e.g. strings: a lower bound)."""
    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).itemsize or 1
    except (KeyError, TypeError, ValueError):
        return 1


def _fmt(n: int) -> str:
    return f"{n:,}"


def _shape(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def check_file_size(path: Path, size: int) -> None:
    lim = limits().file_bytes
    if size > lim:
        raise CompilerError(f"{path}: the file is {_fmt(size)} bytes; an .onnx file holds at most {_fmt(lim)} "
                            f"(protobuf's limit, smartmem_sim/compiler/data/limits.toml [file]); keep large weights "
                            "in external data files beside the model")


def check_initializers(model: onnx.ModelProto, name: str) -> None:
    """Every initializer's dims are >= 0 and its elements within the limit, its stored data matches its dims,
    and all weights together fit the model's byte limit."""
    lim = limits()
    total = 0
    for t in model.graph.initializer:
        where = f"{name}: initializer '{t.name}' {_shape(t.dims)}"
        if any(d < 0 for d in t.dims):
            raise CompilerError(f"{where} has a negative dim; the model is corrupt; re-export it")
        n = numel(t.dims)
        if n > lim.tensor_elements:
            raise CompilerError(f"{where} has {_fmt(n)} elements; a tensor may have at most "
                                f"{_fmt(lim.tensor_elements)} (smartmem_sim/compiler/data/limits.toml [tensor]); "
                                "export a smaller model")
        _check_data_length(t, n, where)
        total += n * elem_bytes(t.data_type)
    if total > lim.weight_bytes:
        raise CompilerError(f"{name}: its weights take {_fmt(total)} bytes; a model may have at most "
                            f"{_fmt(lim.weight_bytes)} (smartmem_sim/compiler/data/limits.toml [model] "
                            "max_weight_bytes); export a smaller model")


# TensorProto's typed field that holds each element type's values when raw_data is not used
_TYPED_FIELD = {
    onnx.TensorProto.FLOAT: "float_data", onnx.TensorProto.COMPLEX64: "float_data",
    onnx.TensorProto.DOUBLE: "double_data", onnx.TensorProto.COMPLEX128: "double_data",
    onnx.TensorProto.INT64: "int64_data", onnx.TensorProto.UINT32: "uint64_data",
    onnx.TensorProto.UINT64: "uint64_data", onnx.TensorProto.STRING: "string_data",
}
_COMPLEX = (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128)
# 4-bit types pack two elements a byte (raw_data) or a stored int32 (int32_data)
_PACKED4 = tuple(getattr(onnx.TensorProto, n) for n in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(onnx.TensorProto, n))


def _check_data_length(t: onnx.TensorProto, n: int, where: str) -> None:
    """Stored values must number exactly the dims' product (a stripped or external tensor has none here)."""
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return
    if t.data_type == onnx.TensorProto.STRING:
        return  # strings have no fixed size in raw_data; the kernels refuse them anyway
    if t.HasField("raw_data"):
        need = (n + 1) // 2 if t.data_type in _PACKED4 else n * elem_bytes(t.data_type)
        have, unit = len(t.raw_data), "bytes"
    else:
        field = _TYPED_FIELD.get(t.data_type, "int32_data")
        have = len(getattr(t, field))
        if have == 0:
            return  # no data: a stripped weight (clean_model's _check_stripped decides whether that is allowed)
        need = (n + 1) // 2 if t.data_type in _PACKED4 else n * (2 if t.data_type in _COMPLEX else 1)
        unit = f"values in {field}"
    if have != need:
        raise CompilerError(f"{where} stores {_fmt(have)} {unit} but its dims need {_fmt(need)}; the model is "
                            "corrupt or was edited by hand; re-export it")


def check_inputs(model: onnx.ModelProto, name: str, dim_names: Mapping[tuple[str, int], str] | None = None) -> None:
    """Every graph input's dims (after --dim binding) are >= 1 and its elements within the limit.

    ``dim_names``: (input, axis) -> the symbolic dim name bound there, so an error can say which --dim to change.
    """
    lim = limits()
    inits = {t.name for t in model.graph.initializer}
    dim_names = dim_names or {}
    for vi in model.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
        for axis, d in enumerate(dims):
            if d is not None and d <= 0:
                what = "a negative size" if d < 0 else "size 0 (an empty tensor, nothing to compute)"
                raise CompilerError(f"{name}: input '{vi.name}' {_shape(dims)} has {what} at axis {axis}; "
                                    "every dim must be >= 1; re-export the model with positive input sizes")
        if any(d is None for d in dims):
            continue  # unbound: bind_dims names it
        n = numel(dims)
        if n > lim.tensor_elements:
            flags = sorted({f"--dim {dim_names[(vi.name, a)]}" for a in range(len(dims)) if (vi.name, a) in dim_names})
            hint = (f"give smaller sizes ({', '.join(flags)})" if flags else
                    "re-export the model with smaller input sizes")
            raise CompilerError(f"{name}: input '{vi.name}' {_shape(dims)} has {_fmt(n)} elements; a tensor may "
                                f"have at most {_fmt(lim.tensor_elements)} (smartmem_sim/compiler/data/limits.toml "
                                f"[tensor]); {hint}")


def check_inferred(model: onnx.ModelProto, known: Mapping[str, tuple[tuple[int, ...] | None, int]], name: str,
                   hint: str = "") -> None:
    """Every node output holds 1..max elements; every tensor together fits the model's byte limit; the node
    count is within its limit. ``hint`` says how the user can make the model smaller (e.g. which --dim)."""
    lim = limits()
    g = model.graph
    if len(g.node) > lim.nodes:
        raise CompilerError(f"{name}: {_fmt(len(g.node))} operators after cleaning; at most {_fmt(lim.nodes)} are "
                            "supported (smartmem_sim/compiler/data/limits.toml [model] max_nodes)")
    total = 0
    seen: set[str] = set()
    for vi in g.input:
        shape, elem = known.get(vi.name, (None, 0))
        if shape is not None and vi.name not in seen:
            seen.add(vi.name)
            total += numel(shape) * elem_bytes(elem)
    for t in g.initializer:
        if t.name not in seen:
            seen.add(t.name)
            total += numel(t.dims) * elem_bytes(t.data_type)
    todo = hint or "export a smaller model"
    for node in g.node:
        for o in node.output:
            if not o or o in seen:
                continue
            seen.add(o)
            shape, elem = known.get(o, (None, 0))
            if shape is None:
                continue
            n = numel(shape)
            where = f"{name}: tensor '{o}' {_shape(shape)} written by node '{node.name}' (op {node.op_type})"
            if n == 0:
                raise CompilerError(f"{where} is empty (a dim is 0); the kernels need at least one element; "
                                    "check the node's attributes and input sizes")
            if n > lim.tensor_elements:
                raise CompilerError(f"{where} has {_fmt(n)} elements; a tensor may have at most "
                                    f"{_fmt(lim.tensor_elements)} (smartmem_sim/compiler/data/limits.toml "
                                    f"[tensor]); {todo}")
            total += n * elem_bytes(elem)
    if total > lim.total_bytes:
        raise CompilerError(f"{name}: its tensors take {_fmt(total)} bytes together; a model may take at most "
                            f"{_fmt(lim.total_bytes)} (smartmem_sim/compiler/data/limits.toml [model] "
                            f"max_total_bytes); {todo}")
