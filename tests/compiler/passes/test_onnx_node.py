"""smartmem_sim/compiler/passes/_onnx_node.py: run_node gives onnx's reference results, including where it takes a
numpy path instead of the reference implementation (Expand)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.passes import _onnx_node
from smartmem_sim.compiler.passes._onnx_node import run_node


@st.composite
def expand_cases(draw):
    """A data shape and a target shape that broadcast both ways (ONNX Expand: either may have the 1s)."""
    rank = draw(st.integers(1, 4))
    out = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    data = [draw(st.sampled_from([1, n])) for n in out]
    target = [n if d == 1 else draw(st.sampled_from([1, n])) for d, n in zip(data, out, strict=True)]
    extra = draw(st.lists(st.integers(1, 3), max_size=2))  # the target may have more dims than the data
    return tuple(data), tuple(extra + target)


@settings(max_examples=60, deadline=None)
@given(expand_cases(), st.sampled_from([np.float32, np.int64]))
def test_expand_equals_the_reference_implementation(case, dtype):
    data_shape, target = case
    data = np.arange(int(np.prod(data_shape)), dtype=dtype).reshape(data_shape)
    shape = np.array(target, np.int64)
    got = run_node("Expand", {}, [data, shape])[0]
    slow = dict(_onnx_node._NUMPY_PATHS)
    try:
        _onnx_node._NUMPY_PATHS.clear()
        want = run_node("Expand", {}, [data, shape])[0]
    finally:
        _onnx_node._NUMPY_PATHS.update(slow)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert got.flags.writeable  # a copy, not a read-only broadcast view


def test_a_failing_node_names_itself():
    with pytest.raises(CompilerError, match="node 'x'"):
        run_node("Reshape", {}, [np.zeros((2, 3), np.float32), np.array([7], np.int64)], where="node 'x'")


def test_an_expand_that_does_not_broadcast_names_the_node():
    with pytest.raises(CompilerError, match="node 'e'.*Expand"):
        run_node("Expand", {}, [np.zeros((2, 3), np.float32), np.array([4, 3], np.int64)], where="node 'e'")
