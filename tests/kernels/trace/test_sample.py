"""smartmem_sim/kernels/trace/sample.py: the static access bound that decides whether loops are cut, and cuts
that keep a quad loop whole, against the generator's own counts."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.render.opencl import lane_loops
from smartmem_sim.kernels.trace.generate import item_accesses
from smartmem_sim.kernels.trace.sample import _points, cut_program
from tests.kernels.test_tiled_rows import _plan


@pytest.mark.parametrize("key", ["layernorm", "softmax_lanes_on_row", "groupnorm"])
@pytest.mark.parametrize("tile", [(1, 1), (4, 1), (6, 1)])
def test_static_bound_holds_and_counts_a_shared_phase_once_per_class(key, tile):
    """_points bounds every work-item's accesses (no registers, nothing merged) and, for a row block, is
    within 2x of the busiest one: the statistics run once per class, not once per slot."""
    _, plan, _, weights = _plan(key, tile)
    prog = step_kernels(plan, plan.steps[0], weights)[0].program
    acc = item_accesses(prog, texel_reuse=False)
    busiest = int(np.bincount(acc.item).max())
    assert busiest <= _points(prog) <= 2 * busiest + prog.slots + prog.tile[0] * prog.tile[1]


def test_a_cut_quad_loop_stays_quads_and_merges_like_the_whole_loop():
    """A MatMul whose K is in the lanes: cutting K keeps a multiple of four iterations (at least eight), so
    the cut kernel still runs quads and fetches A once per quad, as the whole one does."""
    from benchmarks.bench_tiled_matmul import matmul_plan
    from smartmem_sim.kernels.library import plan_kernels

    prog = plan_kernels(matmul_plan(4, 96, 8, "mnn", "fp32"))[0].program
    phase = prog.lanes.phases[0]
    (name,) = lane_loops(phase, prog)
    for budget in (60, 150, 300, 500):
        cut, _ = cut_program(prog, budget)
        (v,) = [u for u in cut.lanes.phases[0].loops if u.name == name]
        assert v.extent % 4 == 0 and v.extent >= 8
        assert lane_loops(cut.lanes.phases[0], cut) == {name}
        rect = (0, 0, 1, 1)
        whole = item_accesses(prog, texel_reuse=False, rect=rect, merge_reads=True)
        part = item_accesses(cut, texel_reuse=False, rect=rect, merge_reads=True)
        # reads per iteration of K: the same in the cut and the whole kernel
        per_k = [int((~a.write).sum()) / k for a, k in ((whole, 96), (part, v.extent))]
        assert per_k[0] == pytest.approx(per_k[1])

