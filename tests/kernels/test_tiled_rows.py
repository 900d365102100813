"""Tiled row reductions (Softmax, LayerNorm, ...; smartmem_sim/kernels/ops/program.py, shared phases): a
work-item computing a tile of output texels along the normalized row fetches the row's texels once per
statistic for the whole tile and computes the statistics once. The instrumented kernel on the device logs
exactly the trace generator's rows; outputs equal onnxruntime; the source holds one copy of a shared
phase; a phase that depends on the slot stays per slot."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.execute import execute
from smartmem_sim.kernels.library import step_kernels, tile_plan
from smartmem_sim.kernels.ops.builder import ROW_OPS
from smartmem_sim.kernels.ops.program import phase_classes, shared_phases
from smartmem_sim.kernels.trace.generate import item_accesses
from smartmem_sim.kernels.trace.sample import _inner_iterations
from tests.kernels.cases import Case, rand
from tests.kernels.test_tiled_matmul import _check_numerics
from tests.kernels.test_trace_matches_kernel import _check_kernel

R = np.random.default_rng(26)
# (case, input layouts, output layout): rows along the image's x axis with the lanes on the row (lane_last)
# or across rows (lane_rows), a lane-less image, a buffer, rows across y (axis 1), rows that do not fill
# the tile (edges), fused scale and bias
CASES = {
    "softmax_lanes_on_row": (Case("Softmax", [rand(R, 3, 5, 22, lo=-3, hi=3)], {"axis": -1}), ("lane_last",),
                             "lane_last"),
    "softmax_lanes_across": (Case("Softmax", [rand(R, 6, 13, lo=-3, hi=3)], {"axis": -1}), ("lane_rows",),
                             "lane_rows"),
    "logsoftmax_axis1": (Case("LogSoftmax", [rand(R, 2, 9, 6, lo=-3, hi=3)], {"axis": 1}), ("lane_last",),
                         "lane_rows"),
    "layernorm": (Case("LayerNormalization", [rand(R, 2, 5, 24), rand(R, 24), rand(R, 24)],
                       {"axis": -1, "epsilon": 1e-5}, weights=(1, 2), opset=17), ("lane_last", "buffer"), "lane_last"),
    "layernorm_no_lane": (Case("LayerNormalization", [rand(R, 4, 10), rand(R, 10), rand(R, 10)],
                               {"axis": -1, "epsilon": 1e-5}, weights=(1, 2), opset=17), ("no_lane", "buffer"),
                          "no_lane"),
    "layernorm_buffer": (Case("LayerNormalization", [rand(R, 3, 20), rand(R, 20), rand(R, 20)],
                              {"axis": -1, "epsilon": 1e-5}, weights=(1, 2), opset=17), ("buffer",), "buffer"),
    "groupnorm": (Case("GroupNormalization", [rand(R, 1, 8, 3, 6), rand(R, 8), rand(R, 8)],
                       {"num_groups": 2, "epsilon": 1e-5}, weights=(1, 2), opset=21), ("nc4hw4", "buffer"), "nc4hw4"),
    "instancenorm": (Case("InstanceNormalization", [rand(R, 1, 3, 4, 9), rand(R, 3), rand(R, 3)], weights=(1, 2)),
                     ("lane_last", "buffer"), "lane_last"),
}
TILES = [(2, 1), (4, 1), (6, 1), (1, 2), (3, 2)]


def _plan(key, tile=(1, 1), storage="fp32"):
    case, ins, out = CASES[key]
    plan, inputs, weights = case.plan(ins, out, storage=storage)
    return case, tile_plan(plan, tile, op_types=ROW_OPS), inputs, weights


def _fits(plan, tile):
    out = plan.tensors[plan.steps[0].outputs[0]]
    return out.on_image or tile[1] == 1


# ---------------------------------------------------------------- no device


def test_a_tile_along_the_row_reads_the_row_once_per_statistic():
    """Softmax over 22 elements with the lanes on the row: 6 texels a row. A 6x1 tile covers the row: per
    row it fetches 6 texels for the max, 6 for the sum and its own 6, with texel registers; untiled, each
    output texel's work-item fetches the row twice, 2 x 6 + 1."""
    _, plan, _, _ = _plan("softmax_lanes_on_row")
    _, tiled, _, _ = _plan("softmax_lanes_on_row", (6, 1))
    rows = 3 * 5
    (k0,), (k1,) = (step_kernels(p, p.steps[0]) for p in (plan, tiled))
    a0, a1 = (item_accesses(k.program) for k in (k0, k1))
    assert int((~a0.write).sum()) == rows * 6 * (2 * 6 + 1)
    assert int((~a1.write).sum()) == rows * 3 * 6
    assert shared_phases(k1.program) == (True, True, False)
    assert shared_phases(k0.program) == (False, False, False)  # untiled: nothing to share
    # the statistics run once per work-item: one max loop and one sum loop in the source, not one per slot
    # (and one exp per real output slot: 22, the last texel's two padding lanes write 0)
    assert k1.source.count("fmax(") == 1 and k1.source.count("exp(") == 1 + 22


def test_compute_count_counts_a_shared_phase_once_per_work_item():
    _, plan, _, _ = _plan("softmax_lanes_on_row")
    _, tiled, _, _ = _plan("softmax_lanes_on_row", (6, 1))
    (k0,), (k1,) = (step_kernels(p, p.steps[0]) for p in (plan, tiled))
    rows, n = 3 * 5, 22
    texels = rows * 6
    assert _inner_iterations(k0.program) == texels * 4 * (2 * n + 1)
    assert _inner_iterations(k1.program) == rows * 2 * n + texels * 4


def test_a_program_with_its_loops_cut_has_the_same_classes():
    """The sampler counts compute with the classes of the cut program it traces (sample._inner_iterations)."""
    from smartmem_sim.kernels.trace.sample import cut_program

    for key, tile in [("softmax_lanes_on_row", (6, 1)), ("softmax_lanes_across", (4, 1)), ("layernorm", (3, 2))]:
        _, plan, _, weights = _plan(key, tile)
        (k,) = step_kernels(plan, plan.steps[0], weights)
        cut, share = cut_program(k.program, 8)
        assert share < 1 and phase_classes(cut) == phase_classes(k.program)
        assert _inner_iterations(k.program, cut) == _inner_iterations(k.program)


def test_lanes_across_rows_share_per_lane_and_rows_across_texels_do_not():
    """Lanes across rows (4 lanes = 4 rows, the row along x): a 4x1 tile along the row shares each lane's
    statistics among its 4 texels (4 classes of 4 slots, one copy of the loop per class); a 1x2 tile stacks
    texels of different rows, so every slot's statistics are its own."""
    _, along, _, _ = _plan("softmax_lanes_across", (4, 1))
    (k,) = step_kernels(along, along.steps[0])
    classes = phase_classes(k.program)
    lanes = tuple(tuple(t * 4 + lane for t in range(4)) for lane in range(4))
    assert classes[0] == classes[1] == lanes and classes[2] is None
    assert k.source.count("fmax(") == 4
    _, across, _, _ = _plan("softmax_lanes_across", (1, 2))
    (k,) = step_kernels(across, across.steps[0])
    assert shared_phases(k.program) == (False, False, False)


def test_layernorm_shares_mean_and_variance_but_not_scale():
    _, tiled, _, weights = _plan("layernorm", (6, 1))
    (k,) = step_kernels(tiled, tiled.steps[0], weights)
    phases = shared_phases(k.program)
    assert phases[:2] == (True, True) and not any(phases[2:])  # mean, variance; then own, scale, bias


# ---------------------------------------------------------------- on the device


@pytest.mark.opencl
@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "no-reuse"])
@pytest.mark.parametrize("tile", TILES, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("key", sorted(CASES))
def test_tiled_row_trace_equals_instrumented_kernel(cl_device, key, tile, reuse):
    _, plan, inputs, weights = _plan(key, tile)
    if not _fits(plan, tile):
        pytest.skip("a buffer output's tile has TY = 1")
    _check_kernel(cl_device, plan, weights, inputs=inputs, texel_reuse=reuse)


@pytest.mark.opencl
@pytest.mark.parametrize("tile", TILES, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("key", sorted(CASES))
def test_tiled_row_numerics_match_onnxruntime(cl_device, key, tile):
    case, plan, inputs, weights = _plan(key, tile)
    if not _fits(plan, tile):
        pytest.skip("a buffer output's tile has TY = 1")
    _check_numerics(cl_device, case, plan, inputs, weights)


@pytest.mark.opencl
def test_tiled_rows_fp16(cl_device):
    for key in ("softmax_lanes_on_row", "layernorm"):
        case, plan, inputs, weights = _plan(key, (4, 1), storage="fp16")
        _check_kernel(cl_device, plan, weights, storage="fp16", inputs=inputs)
        got = execute(plan, cl_device, inputs, weights).outputs["y0"]
        np.testing.assert_allclose(got, case.reference()[0], rtol=2e-2, atol=3e-2)
