"""Symbolic integer index expressions: the nodes, range analysis, evaluation and printing.

An index expression says which element a kernel touches, in terms of loop variables whose ranges
are known from static shapes: ``Var("j", 256)`` is an integer with ``0 <= j < 256``. The nodes are
``Const``, ``Var``, n-ary ``Add`` and ``Mul``, ``FloorDiv`` and ``Mod`` by a positive integer
constant, and ``Lookup`` (a constant integer table indexed by an expression: how a Gather on
constant indices becomes index arithmetic).

Division and modulo follow Python (floor) semantics; on the non-negative values that index code
computes they agree with C's truncating ``/`` and ``%`` (the OpenCL printer checks that the
numerator cannot be negative). Python operators on nodes build *raw* trees; ``simplify``
(smartmem_sim/layout/simplify.py) rewrites them with the paper's div/mod strength-reduction rules.

Nodes are immutable and hashable; equality is structural.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np

from smartmem_sim.layout.errors import LayoutError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Expr:
    """Base of all index-expression nodes. Use the operators to build raw trees."""

    __slots__ = ("_hash",)

    def _fields(self) -> tuple:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return self is other or (
            type(other) is type(self) and self._hash == other._hash and self._fields() == other._fields()
        )

    def __hash__(self) -> int:
        return self._hash

    def __add__(self, other: Expr | int) -> Expr:
        return Add((self, as_expr(other)))

    def __radd__(self, other: Expr | int) -> Expr:
        return Add((as_expr(other), self))

    def __sub__(self, other: Expr | int) -> Expr:
        return Add((self, Mul((as_expr(other), Const(-1)))))

    def __rsub__(self, other: Expr | int) -> Expr:
        return Add((as_expr(other), Mul((self, Const(-1)))))

    def __neg__(self) -> Expr:
        return Mul((self, Const(-1)))

    def __mul__(self, other: Expr | int) -> Expr:
        return Mul((self, as_expr(other)))

    def __rmul__(self, other: Expr | int) -> Expr:
        return Mul((as_expr(other), self))

    def __floordiv__(self, other: int) -> Expr:
        return FloorDiv(self, _divisor(other, "//"))

    def __mod__(self, other: int) -> Expr:
        return Mod(self, _divisor(other, "%"))

    def __repr__(self) -> str:
        return f"Expr({to_python(self)!r})"

    def __str__(self) -> str:
        return to_python(self)


def _divisor(value: object, op: str) -> int:
    if isinstance(value, Const):
        value = value.value
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise LayoutError(
            f"index expression: the divisor of '{op}' must be a positive integer constant (static shapes), "
            f"got {value!r}"
        )
    return int(value)


class Const(Expr):
    """An integer constant."""

    __slots__ = ("value",)

    def __init__(self, value: int):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise LayoutError(f"index expression: Const needs an integer, got {value!r}")
        self.value = int(value)
        self._hash = hash(("C", self.value))

    def _fields(self) -> tuple:
        return (self.value,)


class Var(Expr):
    """A loop / coordinate variable with ``0 <= name < extent``."""

    __slots__ = ("name", "extent")

    def __init__(self, name: str, extent: int):
        if not isinstance(name, str) or not _IDENT.match(name):
            raise LayoutError(f"index expression: variable name {name!r} is not a C identifier")
        if isinstance(extent, bool) or not isinstance(extent, int | np.integer) or extent < 1:
            raise LayoutError(f"index expression: variable '{name}' needs a positive integer extent, got {extent!r}")
        self.name = name
        self.extent = int(extent)
        self._hash = hash(("V", name, self.extent))

    def _fields(self) -> tuple:
        return (self.name, self.extent)


class Add(Expr):
    """Sum of two or more expressions."""

    __slots__ = ("args",)

    def __init__(self, args: Iterable[Expr]):
        self.args = tuple(as_expr(a) for a in args)
        if len(self.args) < 2:
            raise LayoutError("index expression: Add needs at least two operands")
        self._hash = hash(("A", self.args))

    def _fields(self) -> tuple:
        return self.args


class Mul(Expr):
    """Product of two or more expressions."""

    __slots__ = ("args",)

    def __init__(self, args: Iterable[Expr]):
        self.args = tuple(as_expr(a) for a in args)
        if len(self.args) < 2:
            raise LayoutError("index expression: Mul needs at least two operands")
        self._hash = hash(("M", self.args))

    def _fields(self) -> tuple:
        return self.args


class FloorDiv(Expr):
    """``num // den`` (floor division) by a positive integer constant ``den``."""

    __slots__ = ("num", "den")

    def __init__(self, num: Expr, den: int):
        den = _divisor(den, "//")
        if den < 1:
            raise LayoutError(f"index expression: division by {den}; divisors must be positive")
        self.num = as_expr(num)
        self.den = den
        self._hash = hash(("D", self.num, den))

    def _fields(self) -> tuple:
        return (self.num, self.den)


class Mod(Expr):
    """``num % den`` (floor modulo, result in [0, den)) by a positive integer constant ``den``."""

    __slots__ = ("num", "den")

    def __init__(self, num: Expr, den: int):
        den = _divisor(den, "%")
        if den < 1:
            raise LayoutError(f"index expression: modulo by {den}; divisors must be positive")
        self.num = as_expr(num)
        self.den = den
        self._hash = hash(("R", self.num, den))

    def _fields(self) -> tuple:
        return (self.num, self.den)


class Lookup(Expr):
    """``table[index]``: a constant integer table read at a computed position.

    This is how a Gather on a constant index tensor becomes index arithmetic: the absorbing kernel
    carries the (flattened) index tensor as a ``__constant int`` array named ``name`` and reads
    ``name[index]``. ``index`` must stay within ``[0, len(table))``; evaluation checks it.
    """

    __slots__ = ("table", "index", "name")

    def __init__(self, table: Iterable[int], index: Expr, name: str | None = None):
        values = tuple(int(v) for v in np.asarray(list(table) if not isinstance(table, np.ndarray) else table).ravel())
        if not values:
            raise LayoutError("index expression: Lookup needs a non-empty table")
        if name is None:
            name = f"lut{abs(hash(values)) % 16**8:08x}"
        if not _IDENT.match(name):
            raise LayoutError(f"index expression: table name {name!r} is not a C identifier")
        self.table = values
        self.index = as_expr(index)
        self.name = name
        self._hash = hash(("L", values, self.index, name))

    def _fields(self) -> tuple:
        return (self.table, self.index, self.name)


def as_expr(value: Expr | int) -> Expr:
    """An Expr as is, an integer as a Const; anything else is an error."""
    if isinstance(value, Expr):
        return value
    return Const(value)


# ---------------------------------------------------------------- structure


def children(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node."""
    if isinstance(e, Add | Mul):
        return e.args
    if isinstance(e, FloorDiv | Mod):
        return (e.num,)
    if isinstance(e, Lookup):
        return (e.index,)
    return ()


@lru_cache(maxsize=65536)
def size(e: Expr) -> int:
    """Node count: a constant, variable or divisor counts 1; a Lookup counts its table entries too
    (the kernel carries them), so replacing a table by arithmetic is a simplification."""
    if isinstance(e, Const | Var):
        return 1
    if isinstance(e, FloorDiv | Mod):
        return 2 + size(e.num)
    if isinstance(e, Lookup):
        return 1 + len(e.table) + size(e.index)
    return 1 + sum(size(a) for a in children(e))


def free_vars(e: Expr) -> dict[str, Var]:
    """The variables an expression reads, by name."""
    out: dict[str, Var] = {}
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, Var):
            seen = out.setdefault(node.name, node)
            if seen.extent != node.extent:
                raise LayoutError(
                    f"index expression: variable '{node.name}' appears with extents {seen.extent} and {node.extent}"
                )
        stack.extend(children(node))
    return out


def substitute(e: Expr, values: Mapping[str, Expr | int]) -> Expr:
    """Replace variables by expressions (raw; call simplify afterwards)."""
    repl = {k: as_expr(v) for k, v in values.items()}

    def go(node: Expr) -> Expr:
        if isinstance(node, Var):
            return repl.get(node.name, node)
        if isinstance(node, Const):
            return node
        if isinstance(node, Add):
            return Add(go(a) for a in node.args)
        if isinstance(node, Mul):
            return Mul(go(a) for a in node.args)
        if isinstance(node, FloorDiv):
            return FloorDiv(go(node.num), node.den)
        if isinstance(node, Mod):
            return Mod(go(node.num), node.den)
        if isinstance(node, Lookup):
            return Lookup(node.table, go(node.index), node.name)
        raise LayoutError(f"index expression: unknown node {type(node).__name__}")

    return go(e)


# ---------------------------------------------------------------- range analysis


@lru_cache(maxsize=65536)
def bounds(e: Expr) -> tuple[int, int]:
    """Inclusive ``(lo, hi)`` that the expression's value always lies in (interval arithmetic)."""
    if isinstance(e, Const):
        return e.value, e.value
    if isinstance(e, Var):
        return 0, e.extent - 1
    if isinstance(e, Add):
        lo = hi = 0
        for a in e.args:
            alo, ahi = bounds(a)
            lo += alo
            hi += ahi
        return lo, hi
    if isinstance(e, Mul):
        lo, hi = bounds(e.args[0])
        for a in e.args[1:]:
            alo, ahi = bounds(a)
            corners = (lo * alo, lo * ahi, hi * alo, hi * ahi)
            lo, hi = min(corners), max(corners)
        return lo, hi
    if isinstance(e, FloorDiv):
        lo, hi = bounds(e.num)
        return lo // e.den, hi // e.den
    if isinstance(e, Mod):
        lo, hi = bounds(e.num)
        if lo // e.den == hi // e.den:  # no wrap-around inside the range
            return lo % e.den, hi % e.den
        return 0, e.den - 1
    if isinstance(e, Lookup):
        lo, hi = bounds(e.index)
        lo, hi = max(lo, 0), min(hi, len(e.table) - 1)
        part = e.table[lo : hi + 1] if lo <= hi else e.table
        return min(part), max(part)
    raise LayoutError(f"index expression: unknown node {type(e).__name__}")


# ---------------------------------------------------------------- evaluation


def evaluate(e: Expr, env: Mapping[str, int | np.ndarray]) -> np.ndarray:
    """Value of ``e`` with variables bound to integers or int arrays (broadcast together), as int64.

    A variable missing from ``env`` or a Lookup index outside its table is a LayoutError.
    """
    cache: dict[int, np.ndarray] = {}

    def go(node: Expr) -> np.ndarray:
        key = id(node)
        if key in cache:
            return cache[key]
        if isinstance(node, Const):
            out = np.int64(node.value)
        elif isinstance(node, Var):
            if node.name not in env:
                raise LayoutError(f"index expression: no value given for variable '{node.name}'")
            out = np.asarray(env[node.name], dtype=np.int64)
        elif isinstance(node, Add):
            out = go(node.args[0])
            for a in node.args[1:]:
                out = out + go(a)
        elif isinstance(node, Mul):
            out = go(node.args[0])
            for a in node.args[1:]:
                out = out * go(a)
        elif isinstance(node, FloorDiv):
            out = np.floor_divide(go(node.num), node.den)
        elif isinstance(node, Mod):
            out = np.mod(go(node.num), node.den)
        elif isinstance(node, Lookup):
            idx = go(node.index)
            if idx.size and (idx.min() < 0 or idx.max() >= len(node.table)):
                raise LayoutError(
                    f"index expression: {node.name}[...] read at {int(idx.min())}..{int(idx.max())}, "
                    f"outside its {len(node.table)} entries"
                )
            out = np.asarray(node.table, dtype=np.int64)[idx]
        else:
            raise LayoutError(f"index expression: unknown node {type(node).__name__}")
        cache[key] = out
        return out

    return np.asarray(go(e), dtype=np.int64)


# ---------------------------------------------------------------- printing


def _is_negative_term(e: Expr) -> bool:
    return (isinstance(e, Const) and e.value < 0) or (
        isinstance(e, Mul) and isinstance(e.args[-1], Const) and e.args[-1].value < 0
    )


def _negate_term(e: Expr) -> Expr:
    if isinstance(e, Const):
        return Const(-e.value)
    assert isinstance(e, Mul)  # only called after _is_negative_term
    last = -e.args[-1].value
    rest = e.args[:-1]
    if last == 1:
        return rest[0] if len(rest) == 1 else Mul(rest)
    return Mul((*rest, Const(last)))


def render(e: Expr, *, div: str, lookup: str = "{name}[{index}]", truncating=None) -> str:
    """Print with ``div`` as the floor-division operator; every compound operand of ``*``, a
    division or a modulo is parenthesised, sums print flat with ``+`` / ``-``.

    ``truncating(node)``: for a language whose ``div`` and ``%`` truncate toward zero (C), true for the
    FloorDiv/Mod nodes whose numerator may be negative; those print with explicit floor semantics
    (``((a % d) + d) % d`` and ``(a - that) / d``)."""

    def operand(node: Expr) -> str:
        text = go(node)
        if isinstance(node, Add | Mul | FloorDiv | Mod) or (isinstance(node, Const) and node.value < 0):
            return f"({text})"
        return text

    def go(node: Expr) -> str:
        if isinstance(node, Const):
            return str(node.value)
        if isinstance(node, Var):
            return node.name
        if isinstance(node, Add):
            parts: list[str] = []
            for k, a in enumerate(node.args):
                neg = _is_negative_term(a)
                body = go(_negate_term(a)) if neg else go(a)
                if neg:
                    body = _wrap_neg(_negate_term(a), body)
                if k == 0:
                    parts.append(f"-{body}" if neg else body)
                else:
                    parts.append(f" - {body}" if neg else f" + {body}")
            return "".join(parts)
        if isinstance(node, Mul):
            if _is_negative_term(node):  # "-x*2", not "x*(-2)"
                inner = _negate_term(node)
                return f"-{_wrap_neg(inner, operand(inner) if isinstance(inner, Mul) else go(inner))}"
            return "*".join(operand(a) for a in node.args)
        if isinstance(node, FloorDiv | Mod) and truncating is not None and truncating(node):
            num, d = operand(node.num), node.den
            floor_mod = f"(({num}%{d} + {d})%{d})"
            return floor_mod if isinstance(node, Mod) else f"({num} - {floor_mod}){div}{d}"
        if isinstance(node, FloorDiv):
            return f"{operand(node.num)}{div}{node.den}"
        if isinstance(node, Mod):
            return f"{operand(node.num)}%{node.den}"
        if isinstance(node, Lookup):
            return lookup.format(name=node.name, index=go(node.index))
        raise LayoutError(f"index expression: unknown node {type(node).__name__}")

    return go(e)


def _wrap_neg(node: Expr, text: str) -> str:
    # "-a*2" and "x - a*2" read right; a negated sum, division or modulo needs parentheses
    return f"({text})" if isinstance(node, Add | FloorDiv | Mod) else text


def to_python(e: Expr) -> str:
    """Python syntax (``//`` for floor division), e.g. ``i*8 + j//32``; ``eval``-able with the variables bound."""
    return render(e, div="//")
