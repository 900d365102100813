"""Layout operators as index maps, checked against onnx's reference evaluator (one op at a time) and
against numpy's own reshape/transpose/slicing (random chains, hypothesis)."""
from math import prod

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import evaluate
from smartmem_sim.layout.ops import (
    Chain,
    DepthToSpace,
    Expand,
    Flatten,
    Gather,
    Reshape,
    Slice,
    SpaceToDepth,
    Squeeze,
    Tile,
    Transpose,
    Unsqueeze,
)

LAYOUT = settings.get_profile("smartmem-layout")


# ---------------------------------------------------------------- the paper's worked example


def test_worked_example_forward_map_prints_the_papers_form():
    chain = Chain((2, 256, 4), [Reshape((16, 8, 4, 4)), Transpose((0, 2, 1, 3))])
    fwd = chain.forward(("i", "j", "k"))
    assert chain.out_shape == (16, 4, 8, 4)
    assert str(fwd) == "(i, j, k) -> (i*8 + j//32, j%4, (j%32)//4, k)"
    x = np.arange(2 * 256 * 4).reshape(2, 256, 4)
    ref = x.reshape(16, 8, 4, 4).transpose(0, 2, 1, 3)
    out = np.empty_like(ref)
    out[fwd.evaluate_grid()] = x
    assert np.array_equal(out, ref)


def test_worked_example_inverse_map_is_what_an_absorbing_kernel_reads():
    chain = Chain((2, 256, 4), [Reshape((16, 8, 4, 4)), Transpose((0, 2, 1, 3))])
    inv = chain.inverse(("a", "b", "c", "d"))
    assert str(inv) == "(a, b, c, d) -> (a//8, (a%8)*32 + b + c*4, d)"
    x = np.arange(2 * 256 * 4).reshape(2, 256, 4)
    assert np.array_equal(x[inv.evaluate_grid()], x.reshape(16, 8, 4, 4).transpose(0, 2, 1, 3))
    # the two directions are inverse to each other, symbolically
    assert str(chain.forward(("i", "j", "k")).then(inv)) == "(i, j, k) -> (i, j, k)"
    assert str(inv.then(chain.forward())) == "(a, b, c, d) -> (a, b, c, d)"


# ---------------------------------------------------------------- one op against onnx.reference


def _onnx_run(op_type, x, attrs=None, const_inputs=()):
    names = ["x"] + [f"c{n}" for n in range(len(const_inputs))]
    inits = [onnx.numpy_helper.from_array(np.asarray(v, dtype=np.int64), f"c{n}") for n, v in enumerate(const_inputs)]
    node = helper.make_node(op_type, names, ["y"], **(attrs or {}))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.INT64, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


ONNX_CASES = [
    ((2, 3, 4), Reshape((0, -1)), "Reshape", {}, [(0, -1)]),
    ((2, 3, 4), Reshape((4, 1, 6)), "Reshape", {}, [(4, 1, 6)]),
    ((2, 3, 4), Transpose((2, 0, 1)), "Transpose", {"perm": [2, 0, 1]}, []),
    ((2, 3, 4), Transpose(), "Transpose", {}, []),
    ((2, 3, 4), Flatten(2), "Flatten", {"axis": 2}, []),
    ((2, 3, 4), Flatten(0), "Flatten", {"axis": 0}, []),
    ((2, 3, 4), Flatten(-1), "Flatten", {"axis": -1}, []),
    ((2, 1, 4, 1), Squeeze((1, -1)), "Squeeze", {}, [(1, -1)]),
    ((2, 3), Unsqueeze((0, -1)), "Unsqueeze", {}, [(0, -1)]),
    ((1, 8, 2, 3), DepthToSpace(2, "DCR"), "DepthToSpace", {"blocksize": 2, "mode": "DCR"}, []),
    ((2, 8, 2, 3), DepthToSpace(2, "CRD"), "DepthToSpace", {"blocksize": 2, "mode": "CRD"}, []),
    ((1, 9, 1, 2), DepthToSpace(3), "DepthToSpace", {"blocksize": 3}, []),
    ((2, 3, 4, 6), SpaceToDepth(2), "SpaceToDepth", {"blocksize": 2}, []),
    ((5, 7), Slice((1, -2), (4, 100), (0, 1), (2, 1)), "Slice", {}, [(1, -2), (4, 100), (0, 1), (2, 1)]),
    ((5, 7), Slice((-1, 6), (-100, 0), (0, 1), (-2, -3)), "Slice", {}, [(-1, 6), (-100, 0), (0, 1), (-2, -3)]),
    ((5, 7), Slice((10,), (-9,), (1,), (-1,)), "Slice", {}, [(10,), (-9,), (1,), (-1,)]),
    ((4, 5), Expand((3, 1, 5)), "Expand", {}, [(3, 1, 5)]),
    ((4, 1), Expand((2, 4, 3)), "Expand", {}, [(2, 4, 3)]),
    ((2, 3), Tile((3, 2)), "Tile", {}, [(3, 2)]),
]


@pytest.mark.parametrize("shape, op, op_type, attrs, consts", ONNX_CASES, ids=[c[2] for c in ONNX_CASES])
def test_inverse_map_matches_onnx_reference(shape, op, op_type, attrs, consts):
    x = np.arange(prod(shape), dtype=np.int64).reshape(shape)
    ref = _onnx_run(op_type, x, attrs, consts)
    inv = Chain(shape, [op]).inverse()
    assert inv.dst_shape == shape and inv.src_shape == ref.shape
    assert np.array_equal(x[inv.evaluate_grid()], ref)


@pytest.mark.parametrize(
    "shape, indices, axis",
    [((5, 6), np.array(3), 1), ((5, 6), np.array([4, 0, 0, -1]), 0), ((3, 4, 5), np.array([[1, 2], [3, 0], [2, 2]]), 2),
     ((3, 4), np.array([2, 0, 1]), 0)],
)
def test_gather_on_constant_indices_matches_onnx_reference(shape, indices, axis):
    x = np.arange(prod(shape), dtype=np.int64).reshape(shape)
    ref = _onnx_run("Gather", x, {"axis": axis}, [indices])
    inv = Chain(shape, [Gather(indices, axis)]).inverse()
    assert np.array_equal(x[inv.evaluate_grid()], ref)


def test_gather_with_a_permutation_has_a_forward_map_through_a_table():
    shape, perm = (3, 5), np.array([2, 4, 0, 1, 3])
    chain = Chain(shape, [Gather(perm, 1, table_name="perm")])
    fwd = chain.forward(("r", "c"))
    assert str(fwd) == "(r, c) -> (r, perm_inv[c])"
    x = np.arange(15).reshape(shape)
    out = np.empty_like(x)
    out[fwd.evaluate_grid()] = x
    assert np.array_equal(out, np.take(x, perm, axis=1))


@pytest.mark.parametrize(
    "shape, op",
    [((5, 6), Slice((1,), (4,), (0,))), ((5, 6), Gather(np.array([0, 0]), 0)), ((2, 3), Tile((2, 1))),
     ((1, 3), Expand((4, 3)))],
)
def test_forward_is_refused_when_elements_are_dropped_or_repeated(shape, op):
    with pytest.raises(LayoutError, match="not a bijection"):
        Chain(shape, [op]).forward()


@pytest.mark.parametrize(
    "shape, op, message",
    [
        ((2, 3), Reshape((4, -1)), "cannot infer"),
        ((2, 3), Reshape((-1, -1)), "more than one -1"),
        ((2, 3), Reshape((7,)), "cannot become"),
        ((2, 3), Transpose((0, 0)), "not a permutation"),
        ((2, 3), Squeeze((0,)), "not of size 1"),
        ((2, 3), Unsqueeze((5,)), "out of range"),
        ((1, 6, 2, 2), DepthToSpace(2), "not divisible"),
        ((1, 4, 3, 2), SpaceToDepth(2), "not divisible"),
        ((2, 3, 4), DepthToSpace(2), "rank-4"),
        ((5,), Slice((3,), (1,)), "empty"),
        ((5,), Slice((0,), (5,), None, (0,)), "step of 0"),
        ((5,), Gather(np.array([5]), 0), "out of range"),
        ((5, 3), Expand((2, 3)), "does not broadcast"),
        ((2, 3), Tile((2,)), "one per dim"),
        ((2, 0), Transpose(), "dim < 1"),
    ],
)
def test_bad_parameters_raise_compiler_error(shape, op, message):
    with pytest.raises(LayoutError, match=message):
        Chain(shape, [op]).inverse()


# ---------------------------------------------------------------- random chains against numpy


def _factor(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def _reshape(draw, shape):
    factors = draw(st.permutations(_factor(prod(shape))))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(factors) - 1)), max_size=3))) if len(factors) > 1 else []
    dims, start = [], 0
    for c in [*cuts, len(factors)]:
        dims.append(prod(factors[start:c]))
        start = c
    for _ in range(draw(st.integers(0, 2))):
        dims.insert(draw(st.integers(0, len(dims))), 1)
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return Reshape(tuple(dims))


@st.composite
def _slice(draw, shape):
    axes = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    starts, ends, steps = [], [], []
    for a in axes:
        n = shape[a]
        steps.append(draw(st.sampled_from([1, 1, 2, 3, -1, -2])))
        starts.append(draw(st.integers(-n - 2, n + 2)))
        ends.append(draw(st.integers(-n - 2, n + 2)))
    if any(len(range(*slice(s, e, st_).indices(shape[a]))) == 0 for s, e, st_, a in zip(starts, ends, steps, axes, strict=True)):
        return None
    signed = [a - len(shape) if draw(st.booleans()) else a for a in axes]
    return Slice(tuple(starts), tuple(ends), tuple(signed), tuple(steps))


@st.composite
def _op(draw, shape):
    rank = len(shape)
    kinds = ["reshape", "transpose", "unsqueeze", "flatten", "slice"] if rank else ["reshape", "unsqueeze"]
    if 1 in shape:
        kinds.append("squeeze")
    if rank == 4 and shape[1] % 4 == 0:
        kinds.append("d2s")
    if rank == 4 and shape[2] % 2 == 0 and shape[3] % 2 == 0:
        kinds.append("s2d")
    kind = draw(st.sampled_from(kinds))
    if kind == "reshape":
        return draw(_reshape(shape))
    if kind == "transpose":
        return Transpose(tuple(draw(st.permutations(range(rank)))))
    if kind == "unsqueeze":
        out_rank = rank + draw(st.integers(1, 2))
        axes = draw(st.lists(st.integers(0, out_rank - 1), min_size=out_rank - rank, max_size=out_rank - rank,
                             unique=True))
        return Unsqueeze(tuple(a - out_rank if draw(st.booleans()) else a for a in axes))
    if kind == "flatten":
        return Flatten(draw(st.integers(-rank, rank)))
    if kind == "squeeze":
        ones = [d for d, n in enumerate(shape) if n == 1]
        return Squeeze(None if draw(st.booleans()) else tuple(draw(st.lists(st.sampled_from(ones), min_size=1,
                                                                                unique=True))))
    if kind == "d2s":
        return DepthToSpace(2, draw(st.sampled_from(["DCR", "CRD"])))
    if kind == "s2d":
        return SpaceToDepth(2)
    return draw(_slice(shape))


@st.composite
def chains(draw):
    if draw(st.integers(0, 3)) == 0:  # NCHW shapes so DepthToSpace / SpaceToDepth get their turn
        shape = (draw(st.integers(1, 2)), draw(st.sampled_from([4, 8])), draw(st.sampled_from([1, 2, 4])),
                 draw(st.sampled_from([2, 3])))
    else:
        shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    ops, cur = [], shape
    for _ in range(draw(st.integers(1, 5))):
        op = draw(_op(cur))
        if op is None or prod(op.output_shape(cur)) > 512 or len(op.output_shape(cur)) > 6:
            continue
        ops.append(op)
        cur = op.output_shape(cur)
    return shape, ops


def _numpy_apply(x, op):
    """The op by numpy alone (ONNX semantics), independent of smartmem_sim.layout."""
    if isinstance(op, Reshape):
        return x.reshape([x.shape[k] if d == 0 else d for k, d in enumerate(op.shape)])
    if isinstance(op, Transpose):
        return np.transpose(x, op.perm)
    if isinstance(op, Unsqueeze):
        return np.expand_dims(x, tuple(op.axes))
    if isinstance(op, Squeeze):
        return np.squeeze(x) if op.axes is None else np.squeeze(x, tuple(op.axes))
    if isinstance(op, Flatten):
        a = op.axis % x.ndim if op.axis < 0 else op.axis
        return x.reshape(prod(x.shape[:a]), -1)
    if isinstance(op, Slice):
        index = [slice(None)] * x.ndim
        for s, e, a, st_ in zip(op.starts, op.ends, op.axes, op.steps, strict=True):
            index[a] = slice(s, e, st_)  # numpy basic slicing clamps exactly as ONNX Slice does
        return x[tuple(index)]
    if isinstance(op, DepthToSpace):  # the formulas of the ONNX operator documentation
        n, c, h, w = x.shape
        b = op.blocksize
        if op.mode == "DCR":
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return t.reshape(n, c // (b * b), h * b, w * b)
    if isinstance(op, SpaceToDepth):
        n, c, h, w = x.shape
        b = op.blocksize
        t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        return t.reshape(n, c * b * b, h // b, w // b)
    raise AssertionError(op)


@settings(LAYOUT, max_examples=450)
@given(chains())
def test_random_chains_match_numpy_in_both_directions(case):
    shape, ops = case
    chain = Chain(shape, ops)
    x = np.arange(prod(shape)).reshape(shape)
    ref = x
    for op in ops:
        ref = _numpy_apply(ref, op)
    assert chain.out_shape == ref.shape

    inv = chain.inverse()
    coords = inv.evaluate_grid()
    assert np.array_equal(x[coords], ref)
    for e in inv.exprs:  # the printed form means the same (Python syntax, bound to numpy arrays)
        env = {v.name: c for v, c in zip(inv.variables, np.indices(inv.src_shape), strict=True)}
        assert np.array_equal(np.broadcast_to(eval(str(e), {}, env), ref.shape), np.broadcast_to(evaluate(e, env), ref.shape))

    if ref.size < x.size:
        with pytest.raises(LayoutError, match="not a bijection"):
            chain.forward()
        return
    fwd = chain.forward()
    out = np.full(ref.shape, -1)
    out[fwd.evaluate_grid()] = x.reshape(x.shape if ref.ndim else ())  # a scalar result holds x's one element
    assert np.array_equal(out, ref)
    # composing the two directions symbolically gives the identity (checked by value: the simplifier
    # prints it as "(i0, i1, ...)" for the worked example, not for every split-merge chain)
    round_trip = fwd.then(inv).evaluate_grid()
    assert all(np.array_equal(c, g) for c, g in zip(round_trip, np.indices(shape), strict=True))
