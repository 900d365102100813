"""Index-expression nodes: construction checks, printing, range analysis, evaluation."""
import itertools

import numpy as np
import pytest

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import (
    Add,
    Const,
    FloorDiv,
    Lookup,
    Mod,
    Mul,
    Var,
    bounds,
    evaluate,
    free_vars,
    size,
    substitute,
    to_python,
)

i, j, k = Var("i", 2), Var("j", 256), Var("k", 4)


def test_operators_build_raw_trees_and_print_python():
    e = (i * 1024 + j * 4 + k) // 128
    assert isinstance(e, FloorDiv) and e.den == 128
    assert str(e) == "(i*1024 + j*4 + k)//128"
    assert str((j // 4) % 8) == "(j//4)%8"
    assert str(j - k * 2) == "j - k*2"
    assert str(-j) == "-j"
    assert str(3 - (j + k)) == "3 - (j + k)"
    assert str(Lookup([3, 1, 2], k % 3, "t")) == "t[k%3]"


def test_structural_equality_and_hash():
    assert (j * 4 + k) == (j * 4 + k)
    assert hash(j * 4 + k) == hash(j * 4 + k)
    assert (j * 4 + k) != (k + j * 4)
    assert Var("j", 256) != Var("j", 255)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Var("2x", 3), "C identifier"),
        (lambda: Var("x", 0), "positive integer extent"),
        (lambda: j // 0, "positive"),
        (lambda: j % -3, "positive"),
        (lambda: j // k, "positive integer constant"),
        (lambda: j // 2.5, "positive integer constant"),
        (lambda: Const(1.5), "integer"),
        (lambda: Lookup([], j), "non-empty"),
    ],
)
def test_bad_nodes_raise_compiler_error(make, message):
    with pytest.raises(LayoutError, match=message):
        make()


def test_bounds_match_brute_force_on_small_expressions():
    a, b = Var("a", 5), Var("b", 7)
    exprs = [a * 3 - b, (a * 7 + b) // 4, (a - b) % 6, a * b - 10, Lookup([4, 9, 1, 7], (a + b) % 4), (a * 5 + b) % 40]
    for e in exprs:
        lo, hi = bounds(e)
        values = [int(evaluate(e, {"a": x, "b": y})) for x, y in itertools.product(range(5), range(7))]
        assert lo <= min(values) and max(values) <= hi, to_python(e)


def test_bounds_exact_for_linear_and_non_wrapping_mod():
    assert bounds(i * 1024 + j * 4 + k) == (0, 2047)
    assert bounds((j * 4 + k) % 2048) == (0, 1023)
    assert bounds(j % 100) == (0, 99)


def test_evaluate_vectorised_and_python_printing_agree():
    e = (i * 8 + j // 32) * 3 + (j % 32) // 4 - k
    grid = np.indices((2, 256, 4))
    got = evaluate(e, {"i": grid[0], "j": grid[1], "k": grid[2]})
    ref = eval(to_python(e), {}, {"i": grid[0], "j": grid[1], "k": grid[2]})
    assert np.array_equal(got, ref)


def test_evaluate_errors_name_the_problem():
    with pytest.raises(LayoutError, match="no value given for variable 'k'"):
        evaluate(j + k, {"j": 1})
    with pytest.raises(LayoutError, match="outside its 3 entries"):
        evaluate(Lookup([1, 2, 3], j, "t"), {"j": np.arange(5)})


def test_size_counts_nodes_and_table_entries():
    assert size(j) == 1
    assert size(j * 4 + k) == 5
    assert size((j // 4) % 8) == 5
    assert size(Lookup([1, 2, 3], j)) == 5


def test_substitute_and_free_vars():
    a = Var("a", 16)
    e = substitute(j * 4 + k, {"j": a * 16})
    assert set(free_vars(e)) == {"a", "k"}
    assert int(evaluate(e, {"a": 2, "k": 1})) == 2 * 16 * 4 + 1
    with pytest.raises(LayoutError, match="extents"):
        free_vars(Var("a", 3) + Var("a", 4))


def test_raw_nodes_need_two_operands():
    with pytest.raises(LayoutError):
        Add([j])
    with pytest.raises(LayoutError):
        Mul([j])
    assert Mod(j, 4).den == 4
