"""smartmem_sim/compiler/costs/model.py: layouts applied per step, signatures that see layouts but not names, errors."""
from __future__ import annotations

from dataclasses import replace

import pytest

from smartmem_sim.compiler.costs.model import KernelCost, check_layouts
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.passes.layouts import reduction_layout
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.layout.image import BufferLayout
from smartmem_sim.layout.signature import step_signature, step_tensors
from tests.compiler.search.graphs import attention_graph


@pytest.fixture(scope="module")
def plan():
    return compile_model(attention_graph(), "smartmem")


def _matmuls(plan):
    return [s for s in plan.steps if s.op_type == "MatMul"]


def test_check_layouts_applies_overrides_and_keeps_the_rest(plan):
    step = _matmuls(plan)[0]
    out = step.outputs[0]
    new = BufferLayout(plan.tensors[out].shape)
    tensors = check_layouts(plan, step, {out: new})
    assert tensors[out].layout == new
    for name in step_tensors(step):
        if name != out:
            assert tensors[name] is plan.tensors[name]
    assert plan.tensors[out].layout != new  # the plan itself is untouched


def test_check_layouts_rejects_unknown_tensor_and_wrong_shape(plan):
    step = _matmuls(plan)[0]
    with pytest.raises(CompilerError, match="unknown tensor 'nope'"):
        check_layouts(plan, step, {"nope": BufferLayout((2,))})
    with pytest.raises(CompilerError, match="is for"):
        check_layouts(plan, step, {step.outputs[0]: BufferLayout((3, 3))})
    with pytest.raises(CompilerError, match="must be an ImageLayout or BufferLayout"):
        check_layouts(plan, step, {step.outputs[0]: "nc4hw4"})


def test_signature_ignores_names_but_sees_layouts(plan):
    q, k = _matmuls(plan)[:2]  # x @ wq and x @ wk: same shapes, different weights (stripped? no: by shape)
    tq, tk = check_layouts(plan, q, None), check_layouts(plan, k, None)
    renamed = replace(q, id="other")
    assert step_signature(plan, q, tq) == step_signature(plan, renamed, tq)
    out = q.outputs[0]
    other = reduction_layout(plan.tensors[out].shape, [1])
    assert other != plan.tensors[out].layout
    assert step_signature(plan, q, tq) != step_signature(plan, q, check_layouts(plan, q, {out: other}))
    # the two projections read different weight values (small enough to be part of the key)
    assert step_signature(plan, q, tq) != step_signature(plan, k, tk)


def test_kernel_cost_level_lookup_names_the_levels():
    k = KernelCost("s", "MatMul", 1e-6, 10.0)
    with pytest.raises(CompilerError, match="no cache level 'L9'"):
        k.level("L9")
    assert k.renamed("t", "Copy").is_transform


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "int32", "uint8", "bool"])
def test_weight_key_decides_size_from_the_header_as_decoding_would(dtype):
    # the key of a weight is its value hash up to SIGNATURE_VALUE_BYTES and "" above; the size is read from
    # the proto's dims and type without decoding, which must agree with the decoded array's nbytes
    import numpy as np
    from onnx import numpy_helper

    from smartmem_sim.layout import signature as cost
    from smartmem_sim.layout.plan import Plan

    rng = np.random.default_rng(0)
    itemsize = np.dtype(dtype).itemsize
    for elems in sorted({1, cost.SIGNATURE_VALUE_BYTES // itemsize, cost.SIGNATURE_VALUE_BYTES // itemsize + 1,
                         3 * cost.SIGNATURE_VALUE_BYTES}):
        value = rng.integers(0, 2, elems).astype(dtype)
        proto = numpy_helper.from_array(value, "w")
        p = Plan("m", "naive", "fp16", {}, [], [], [], weights={"w": proto})
        key = cost._weight_key(p, "w")
        if value.nbytes > cost.SIGNATURE_VALUE_BYTES:
            assert key == ""
        else:
            flipped = numpy_helper.from_array(np.logical_not(value).astype(dtype), "w")
            assert key and key != cost._weight_key(Plan("m", "naive", "fp16", {}, [], [], [], weights={"w": flipped}), "w")
