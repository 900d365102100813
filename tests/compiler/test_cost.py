"""compiler/cost.py: layouts applied per step, signatures that see layouts but not names, errors."""
from __future__ import annotations

from dataclasses import replace

import pytest

from compiler.cost import KernelCost, check_layouts, step_signature, step_tensors
from compiler.errors import CompilerError
from compiler.layout.image import BufferLayout
from compiler.passes.layouts import reduction_layout
from compiler.pipeline import compile_model
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
