"""The trace generator without a device: counts against closed forms, ranges, and the schedule."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.library import step_kernels
from kernels.trace.generate import item_accesses, schedule
from tests.kernels.cases import Case, rand
from tests.kernels.ops.catalogue import cases

CASES = cases()


def _prog(case, ins, out, storage="fp32"):
    plan, _, weights = case.plan(ins, out, storage=storage, out_shapes=[r.shape for r in case.reference()])
    return step_kernels(plan, plan.steps[0], weights)[0].program


def test_matmul_reads_two_values_per_multiply_add_and_writes_each_texel_once():
    M, K, N = 5, 7, 6
    prog = _prog(Case("MatMul", [rand(np.random.default_rng(0), M, K), rand(np.random.default_rng(1), K, N)]),
                 ("lane_last", "lane_rows"), "lane_last")
    acc = item_accesses(prog)
    texels = prog.global_size[0] * prog.global_size[1]
    assert int((~acc.write).sum()) == 2 * M * N * K  # padding lanes (N=6 -> 8) read nothing
    assert int(acc.write.sum()) == texels
    assert set(np.unique(acc.nbytes[~acc.write])) == {16}


def test_buffer_output_writes_every_element_once_at_its_byte_offset():
    prog = _prog(CASES["Sub"], ("lane_last",), "buffer_rev", storage="fp16")
    acc = item_accesses(prog, "fp16")
    w = acc.write
    assert sorted(acc.x[w].tolist()) == list(range(0, 2 * 30, 2))  # 2*3*5 halves
    assert set(acc.nbytes[w].tolist()) == {2}


def test_padded_conv_reads_only_inside_the_input():
    case = CASES["Conv"]
    prog = _prog(case, ("nc4hw4", "buffer"), "nc4hw4")
    acc = item_accesses(prog)
    x_surface = next(i for i, s in enumerate(prog.surfaces) if s.tensor == "in0")
    lay = prog.surfaces[x_surface].layout
    rows = acc.surface == x_surface
    assert acc.x[rows].max() < lay.width and acc.y[rows].max() < lay.height
    # a 3x3 window with pad 1 over 6x7: inside reads = sum over output positions of valid taps
    taps_h = sum(min(h + 1, 5) - max(h - 1, 0) + 1 for h in range(6))
    taps_w = sum(min(w + 1, 6) - max(w - 1, 0) + 1 for w in range(7))
    assert int(rows.sum()) == 6 * 5 * taps_h * taps_w  # M=6 outputs x C=5 channels


@settings(max_examples=25, deadline=None)
@given(cores=st.integers(1, 5), wave=st.integers(1, 40))
def test_schedule_keeps_each_work_items_order_and_every_row(cores, wave):
    prog = _prog(CASES["Softmax_axis1"], ("lane_rows",), "lane_last")
    acc = item_accesses(prog)
    trace = schedule(acc, prog, cores, wave)
    assert len(trace) == len(acc)
    # rows of one work-item keep their program order: recover by matching (x, y, surface, write) sequences
    lx, ly = prog.local_size
    width = prog.global_size[0]
    gx, gy = acc.item % width, acc.item // width
    group = (gy // ly) * (width // lx) + gx // lx
    assert np.array_equal(np.sort(trace.core), np.sort((group % cores).astype(np.int32)))
    order = np.lexsort(((gy % ly) * lx + gx % lx, acc.point, group % cores,
                        (group // cores) * -(-(lx * ly) // wave) + ((gy % ly) * lx + gx % lx) // wave))
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    for item in np.unique(acc.item)[:20]:
        p = pos[acc.item == item]
        assert np.all(np.diff(p) > 0)
