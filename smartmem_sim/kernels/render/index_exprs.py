"""Index expressions as OpenCL C: integer arithmetic, every compound operand parenthesised.

``/`` and ``%`` in C truncate toward zero while the expressions use floor semantics; the two agree
when the numerator is non-negative, so printing checks each numerator's range and prints one that may
be negative with explicit floor semantics (``((a % d) + d) % d``; a layout chosen by search can give
such numerators even where the value never is negative, as bounds are conservative). It refuses a value
that may not fit the chosen index type.
Lookups print as reads of ``__constant`` tables that ``opencl_tables`` declares.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.layout.expr import Expr, FloorDiv, Lookup, Mod, bounds, children, render

_LIMITS = {"int": 2**31 - 1, "long": 2**63 - 1}


def _walk(e: Expr) -> Iterable[Expr]:
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(children(node))


def _check(e: Expr, index_type: str) -> None:
    if index_type not in _LIMITS:
        raise KernelError(f"OpenCL index type {index_type!r} is not one of {sorted(_LIMITS)}")
    limit = _LIMITS[index_type]
    for node in _walk(e):
        lo, hi = bounds(node)
        if lo < -limit - 1 or hi > limit:
            raise KernelError(
                f"OpenCL index code: {node} ranges over {lo}..{hi}, beyond '{index_type}'; "
                "print with index_type='long'"
            )


def _may_be_negative(node: FloorDiv | Mod) -> bool:
    return bounds(node.num)[0] < 0


def to_opencl(e: Expr, *, index_type: str = "int") -> str:
    """OpenCL C source of ``e`` (e.g. ``i*8 + j/32``), checked for range; floor semantics kept where a
    numerator may be negative."""
    _check(e, index_type)
    return render(e, div="/", truncating=_may_be_negative)


def opencl_tables(exprs: Iterable[Expr], *, index_type: str = "int") -> str:
    """``__constant`` declarations of every table the expressions read, one per line, by name."""
    tables: dict[str, tuple[int, ...]] = {}
    for e in exprs:
        for node in _walk(e):
            if isinstance(node, Lookup):
                seen = tables.setdefault(node.name, node.table)
                if seen != node.table:
                    raise KernelError(f"OpenCL index code: two different tables are both named '{node.name}'")
    lines = []
    for name in sorted(tables):
        values = ", ".join(str(v) for v in tables[name])
        lines.append(f"__constant {index_type} {name}[{len(tables[name])}] = {{{values}}};")
    return "\n".join(lines)


def opencl_assignments(names: Sequence[str], exprs: Sequence[Expr], *, index_type: str = "int") -> str:
    """``const int name = expr;`` lines, e.g. the input coordinates an absorbing kernel reads."""
    if len(names) != len(exprs):
        raise KernelError(f"OpenCL index code: {len(names)} names for {len(exprs)} expressions")
    return "\n".join(f"const {index_type} {n} = {to_opencl(e, index_type=index_type)};" for n, e in zip(names, exprs, strict=True))
