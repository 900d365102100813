"""Bind the symbolic dims of a model's inputs to the sizes the user gives.

A dim is bound by its name (``{"batch": 1}``, CLI ``--dim batch=1``); a dim without a name is bound by
``INPUT:AXIS`` (``{"x:0": 1}``). Every input dim must end up static: the compiler plans memory for
fixed shapes.
"""
from __future__ import annotations

from collections.abc import Mapping

import onnx

from smartmem_sim.compiler.errors import CompilerError


def symbolic_dims(model: onnx.ModelProto) -> dict[str, list[tuple[str, int]]]:
    """Dim name -> [(input name, axis), ...] for every non-static dim of a runtime input
    (an anonymous dim is keyed ``INPUT:AXIS``)."""
    inits = {t.name for t in model.graph.initializer}
    found: dict[str, list[tuple[str, int]]] = {}
    for vi in model.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        if not vi.type.tensor_type.HasField("shape"):
            found.setdefault(f"{vi.name}:*", []).append((vi.name, -1))
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                continue
            key = d.dim_param if d.HasField("dim_param") and d.dim_param else f"{vi.name}:{axis}"
            found.setdefault(key, []).append((vi.name, axis))
    return found


def bind_dims(model: onnx.ModelProto, dims: Mapping[str, int] | None, name: str = "model") -> None:
    """Replace symbolic input dims in place. Raises CompilerError naming every dim left unbound, every
    given dim the model does not have, and every size that is not a positive integer."""
    dims = dict(dims or {})
    for key, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CompilerError(f"{name}: dim '{key}' = {value!r}; give a positive integer (--dim {key}=N)")
    found = symbolic_dims(model)
    for key, where in found.items():
        if key.endswith(":*"):
            raise CompilerError(f"{name}: input '{where[0][0]}' declares no shape; re-export the model with "
                                "input shapes (torch.onnx.export does this by default)")
    unknown = sorted(set(dims) - set(found))
    if unknown:
        have = ", ".join(sorted(found)) or "none"
        raise CompilerError(
            f"{name}: {', '.join(repr(u) for u in unknown)} is not a symbolic dim of this model "
            f"(its symbolic dims: {have})"
        )
    unbound = [(k, where) for k, where in found.items() if k not in dims]
    if unbound:
        parts = []
        for key, where in unbound:
            locs = ", ".join(f"input '{i}'" + (f" axis {a}" if a >= 0 else " (no shape)") for i, a in where)
            parts.append(f"'{key}' ({locs})")
        example = " ".join(f"--dim {k}=N" for k, _ in unbound)
        raise CompilerError(
            f"{name}: unbound symbolic dims: {'; '.join(parts)}; bind each with --dim NAME=VALUE, "
            f"e.g. {example} (Python: dims={{'NAME': VALUE}})"
        )
    for vi in model.graph.input:
        for key, where in found.items():
            for input_name, axis in where:
                if input_name != vi.name or axis < 0:
                    continue
                d = vi.type.tensor_type.shape.dim[axis]
                d.Clear()
                d.dim_value = dims[key]
