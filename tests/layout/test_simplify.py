"""Simplification: the paper's div/mod rules on exact examples, and properties on random expressions
(values never change, size never grows) checked by brute-force evaluation over every variable value."""
import ast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.kernels.render.index_exprs import to_opencl
from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import (
    Add,
    Const,
    FloorDiv,
    Lookup,
    Mod,
    Mul,
    Var,
    children,
    evaluate,
    free_vars,
    size,
    to_python,
)
from smartmem_sim.layout.simplify import simplify

LAYOUT = settings.get_profile("smartmem-layout")

i, j, k = Var("i", 2), Var("j", 256), Var("k", 4)
x = Var("x", 1000)


@pytest.mark.parametrize(
    "expr, expected",
    [
        ((x % 12) % 4, "x%4"),  # (i % a) % b -> i % b when a % b == 0
        ((x % 12) % 5, "(x%12)%5"),  # not when a % b != 0
        ((x // 3) // 5, "x//15"),  # (i // a) // b -> i // (a*b)
        ((j * 4 + k) // 4, "j"),  # (i*a + j) // a -> i when 0 <= j < a
        ((j * 4 + k) % 4, "k"),  # (i*a + j) % a -> j
        ((j * 4 + Var("m", 5)) // 4, "j + m//4"),  # multiples of d leave the division; m < 4 does not hold
        (k % 4, "k"),  # x % n -> x when 0 <= x < n
        (k // 4, "0"),  # x // n -> 0 when 0 <= x < n
        ((k + 4) // 4, "1"),
        ((k + 8) % 4, "k"),
        (Const(6) * 7 + 3 - 5, "40"),  # constant folding
        (k * 2 + j - k * 2, "j"),
        (k + j, "j + k"),  # canonical order
        (Var("i10", 3) + Var("i2", 3), "i2 + i10"),  # natural order of names
        ((j * 8) // 4, "j*2"),
        ((j * 6 + 4) // 2, "j*3 + 2"),
        ((j * 6 + 3) % 6, "3"),
        ((j * 4 + k) // 128, "j//32"),
        ((j // 4) % 8, "(j%32)//4"),  # bit-field form
        ((j // 32) * 32 + j % 32, "j"),  # a split undone by a merge
        (((j % 64) // 8) * 8 + j % 8, "j%64"),
        (Var("u", 1) * 7 + j, "j"),  # extent-1 variables are 0
        ((j * 4 + k) * 2 % 16, "(j%2)*8 + k*2"),
        (Lookup([5, 6, 7, 8], k), "k + 5"),  # a run of consecutive indices is arithmetic
        (Lookup([9, 7, 5, 3], k), "-k*2 + 9"),
        (Lookup([3, 1, 4, 1], Const(2)), "4"),
        (Lookup([3, 1, 4, 1], k, "t"), "t[k]"),
        (x - x, "0"),
        ((x + 1) * 3 - x * 3, "3"),
    ],
)
def test_rules_give_the_documented_form(expr, expected):
    got = simplify(expr)
    assert str(got) == expected
    _assert_same_values(expr, got)


def test_paper_worked_example_forward_expressions():
    flat = i * 1024 + j * 4 + k  # [2,256,4] row-major
    got = [simplify(e) for e in (flat // 128, (flat // 4) % 4, (flat // 16) % 8, flat % 4)]
    assert [str(e) for e in got] == ["i*8 + j//32", "j%4", "(j%32)//4", "k"]


def test_simplify_rejects_non_expressions():
    with pytest.raises(LayoutError, match="expected an index expression"):
        simplify(3)


# ---------------------------------------------------------------- properties

VARS = (Var("a", 7), Var("b", 12), Var("c", 5), Var("u", 1))
GRID = np.indices((7, 12, 5, 1)).reshape(4, -1)
ENV = {v.name: GRID[n] for n, v in enumerate(VARS)}
DIVISORS = st.sampled_from([1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 60])

leaves = st.one_of(st.sampled_from(VARS), st.integers(-9, 40).map(Const))


def _extend(children):
    return st.one_of(
        st.tuples(children, children).map(Add),
        st.tuples(children, children, children).map(Add),
        st.tuples(children, st.integers(-6, 16).map(Const)).map(Mul),
        st.tuples(children, children).map(Mul),
        st.tuples(children, DIVISORS).map(lambda t: FloorDiv(*t)),
        st.tuples(children, DIVISORS).map(lambda t: Mod(*t)),
        st.tuples(children, st.lists(st.integers(-3, 30), min_size=1, max_size=6)).map(
            lambda t: Lookup(t[1], Mod(t[0], len(t[1])))
        ),
    )


exprs = st.recursive(leaves, _extend, max_leaves=14)


def _assert_same_values(before, after):
    """Equal on every assignment of ``before``'s variables (``after`` reads a subset of them)."""
    variables = free_vars(before)
    names = sorted(variables)
    if not names:
        assert int(evaluate(before, {})) == int(evaluate(after, {}))
        return
    grid = np.indices([variables[n].extent for n in names]).reshape(len(names), -1)
    env = {n: grid[d] for d, n in enumerate(names)}
    shape = grid[0].shape if names else ()
    assert np.array_equal(np.broadcast_to(evaluate(before, env), shape), np.broadcast_to(evaluate(after, env), shape))


@settings(LAYOUT, max_examples=450)
@given(exprs)
def test_simplify_keeps_values_and_never_grows(e):
    s = simplify(e)
    assert size(s) <= size(e), f"{to_python(e)} -> {to_python(s)}"
    assert np.array_equal(np.broadcast_to(evaluate(e, ENV), GRID[0].shape),
                          np.broadcast_to(evaluate(s, ENV), GRID[0].shape)), f"{to_python(e)} -> {to_python(s)}"
    assert simplify(simplify(s)) == simplify(s)  # a fixed point after at most one more pass


class _CSemantics(ast.NodeVisitor):
    """Evaluates printed OpenCL C integer code with C's truncating / and %, independent of the printer."""

    def __init__(self, env, tables):
        self.env, self.tables = env, tables

    def visit_Expression(self, node):
        return self.visit(node.body)

    def visit_BinOp(self, node):
        a, b = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        q = np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))  # truncation toward zero
        if isinstance(node.op, ast.Div):
            return q
        if isinstance(node.op, ast.Mod):
            return a - b * q
        raise AssertionError(ast.dump(node))

    def visit_UnaryOp(self, node):
        assert isinstance(node.op, ast.USub)
        return -self.visit(node.operand)

    def visit_Constant(self, node):
        return np.int64(node.value)

    def visit_Name(self, node):
        return self.env[node.id]

    def visit_Subscript(self, node):
        return np.asarray(self.tables[node.value.id])[self.visit(node.slice)]


def _tables(e, out):
    if isinstance(e, Lookup):
        out[e.name] = e.table
    for c in children(e):
        _tables(c, out)
    return out


@settings(LAYOUT, max_examples=150)
@given(exprs)
def test_opencl_printing_has_c_semantics(e):
    s = simplify(e)
    code = to_opencl(s)  # numerators that may be negative print with explicit floor semantics
    got = _CSemantics(ENV, _tables(s, {})).visit(ast.parse(code, mode="eval"))
    assert np.array_equal(np.broadcast_to(got, GRID[0].shape), np.broadcast_to(evaluate(s, ENV), GRID[0].shape)), code
