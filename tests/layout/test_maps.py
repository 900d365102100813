"""Index maps: reshape classification into identity / split / merge, composition, checks."""
import numpy as np
import pytest

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import Var
from smartmem_sim.layout.maps import IndexMap, delinearize, linearize, reshape_steps


@pytest.mark.parametrize(
    "src, dst, steps",
    [
        ((2, 256, 4), (16, 8, 4, 4), [("split-merge", (0, 1), (0, 1, 2)), ("identity", (2,), (3,))]),
        ((6, 4), (2, 3, 4), [("split", (0,), (0, 1)), ("identity", (1,), (2,))]),
        ((2, 3, 4), (6, 4), [("merge", (0, 1), (0,)), ("identity", (2,), (1,))]),
        ((6, 1), (6,), [("identity", (0,), (0,)), ("ones", (1,), ())]),
        ((6,), (1, 6), [("ones", (), (0,)), ("identity", (0,), (1,))]),
        ((2, 3), (3, 2), [("split-merge", (0, 1), (0, 1))]),
    ],
)
def test_reshape_steps(src, dst, steps):
    assert [(s.kind, s.src, s.dst) for s in reshape_steps(src, dst)] == steps


def test_reshape_steps_rejects_size_mismatch():
    with pytest.raises(LayoutError, match="cannot become"):
        reshape_steps((2, 3), (7,))


def test_linearize_and_delinearize_are_row_major():
    a, b, c = Var("a", 2), Var("b", 3), Var("c", 4)
    flat = linearize([a, b, c], [2, 3, 4])
    grid = np.indices((2, 3, 4))
    env = {"a": grid[0], "b": grid[1], "c": grid[2]}
    from smartmem_sim.layout.expr import evaluate

    assert np.array_equal(evaluate(flat, env), np.arange(24).reshape(2, 3, 4))
    parts = delinearize(Var("f", 24), [2, 3, 4])
    f = np.arange(24)
    assert all(np.array_equal(evaluate(p, {"f": f}), u) for p, u in zip(parts, np.unravel_index(f, (2, 3, 4)), strict=True))


def test_index_map_checks_its_parts():
    a = Var("a", 4)
    with pytest.raises(LayoutError, match="extent"):
        IndexMap((3,), (3,), (a,), (a,))
    with pytest.raises(LayoutError, match="unknown variables"):
        IndexMap((4,), (4,), (a,), (Var("z", 4),))
    with pytest.raises(LayoutError, match="cannot compose"):
        IndexMap.identity((4,)).then(IndexMap.identity((5,)))
    m = IndexMap.build((4, 6), (24,), lambda v: [v[0] * 6 + v[1]], ("r", "c"))
    assert str(m) == "(r, c) -> (c + r*6)"  # terms ordered by variable name
    assert str(m.rename(("y", "x"))) == "(y, x) -> (x + y*6)"
