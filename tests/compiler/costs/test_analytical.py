"""smartmem_sim/compiler/costs/analytical.py against the formula worked by hand on a MatMul."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.compiler.costs import AnalyticalCost
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from tests.compiler.search.graphs import attention_graph


@pytest.fixture(scope="module")
def plan():
    return compile_model(attention_graph(), "smartmem", "fp16")


def _step(plan, op_type):
    return next(s for s in plan.steps if s.op_type == op_type)


def test_matmul_l1_accesses_follow_the_lane_dim(plan):
    cost = AnalyticalCost("adreno740")
    step = _step(plan, "MatMul")  # q = x @ wq, x[1,16,32] read along its last dim (32)
    x = step.inputs[0].tensor
    shape = plan.tensors[x].shape
    along = ImageLayout(shape, (2,), (0, 1), 2, "lanes=K")
    across = ImageLayout(shape, (2,), (0, 1), 1, "lanes=M")
    a = cost.evaluate(plan, step, {x: along})
    b = cost.evaluate(plan, step, {x: across})
    out_elems, k = 16 * 32, 32
    # x: E*K element reads, 4 per texel along the lanes, 1 across; the weight's share is equal in both
    assert b.level("L1").accesses - a.level("L1").accesses == pytest.approx(out_elems * k * (1 - 1 / 4))
    assert a.seconds <= b.seconds


def test_unfriendly_walk_doubles_dram_share_of_that_operand(plan):
    cost = AnalyticalCost("adreno740")
    step = _step(plan, "Softmax")
    src = step.inputs[0].tensor
    shape = plan.tensors[src].shape  # [1, 4, 16, 16], softmax over the last dim
    friendly = ImageLayout(shape, (3,), (0, 1, 2), 3, "f")
    unfriendly = ImageLayout(shape, (3, 1), (0, 2), 2, "u")  # dim 3 in x but not innermost, not in the lanes
    buf_good, buf_bad = BufferLayout(shape, (0, 1, 2, 3)), BufferLayout(shape, (0, 1, 3, 2))
    g, b = cost.evaluate(plan, step, {src: buf_good}), cost.evaluate(plan, step, {src: buf_bad})
    assert b.dram_bytes - g.dram_bytes == pytest.approx(16 * 16 * 4 * 2)  # one more footprint (fp16 = 2 B)
    assert cost.evaluate(plan, step, {src: friendly}).dram_bytes <= cost.evaluate(plan, step, {src: unfriendly}).dram_bytes


def test_launch_overhead_and_unknown_device(plan):
    cost = AnalyticalCost("adreno740")
    k = cost.evaluate(plan, plan.steps[0])
    assert k.seconds >= cost.dev.execution.launch_overhead_s
    with pytest.raises(CompilerError, match="unknown device profile"):
        AnalyticalCost("adreno999")


def test_table_equals_one_evaluate_per_entry_bit_for_bit(plan):
    """The vectorised table against CostModel's generic one (a loop of evaluate), on every step with every
    searched tensor's candidates; also with a tensor read twice (a step reading and writing variables)."""
    from smartmem_sim.compiler.costs.model import CostModel
    from smartmem_sim.compiler.passes.layouts import _preferences, _ranked
    from smartmem_sim.compiler.search.candidates import candidate_layouts
    from smartmem_sim.layout.signature import step_tensors

    cost = AnalyticalCost("adreno740")
    prefs = _preferences(plan)
    checked = 0
    for step in plan.steps:
        options = {n: candidate_layouts(plan, n, _ranked(prefs.get(n, [])), 4) for n in step_tensors(step)
                   if plan.tensors[n].kind != "weight"}
        fast = cost.evaluate_table(plan, step, options)
        slow = CostModel.evaluate_table(cost, plan, step, options)
        assert fast.shape == slow.shape == tuple(len(v) for v in options.values())
        np.testing.assert_array_equal(fast, slow)
        checked += fast.size
    assert checked > 2 * len(plan.steps)  # several candidates per step, not one-entry tables


def test_table_rejects_a_layout_of_the_wrong_shape(plan):
    cost = AnalyticalCost("adreno740")
    step = _step(plan, "Softmax")
    src = step.inputs[0].tensor
    with pytest.raises(CompilerError, match="is for"):
        cost.evaluate_table(plan, step, {src: [plan.tensors[src].layout, BufferLayout((3, 3))]})
