"""Output tiling of Conv kernels (smartmem_sim/kernels/ops/program.py: a work-item computes TX x TY output
texels, each read fetched once per read group): the instrumented kernel logs exactly the trace generator's
rows, outputs equal onnxruntime (padded, strided, dilated, grouped, depthwise; image and buffer outputs;
tiles that do not divide the output), and a tile shares the weight texel across the texels it computes."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.execute import execute
from smartmem_sim.kernels.library import step_kernels, tile_plan
from smartmem_sim.kernels.ops.builder import CONV_OPS
from smartmem_sim.kernels.trace.generate import item_accesses
from tests.kernels.cases import Case, rand
from tests.kernels.test_trace_matches_kernel import _check_kernel

R = np.random.default_rng(33)
# (case, input layouts, output layout)
CASES = {
    "conv3x3_padded": (Case("Conv", [rand(R, 1, 5, 6, 7), rand(R, 6, 5, 3, 3), rand(R, 6)], {"pads": [1, 1, 1, 1]},
                            weights=(1, 2)), ("nc4hw4", "lane_last", "lane_last"), "nc4hw4"),
    "conv_strided_dilated": (Case("Conv", [rand(R, 1, 3, 9, 8), rand(R, 4, 3, 3, 2)],
                                  {"strides": [2, 1], "dilations": [2, 1], "pads": [2, 0, 1, 1]}, weights=(1,)),
                             ("nc4hw4", "lane_last"), "nc4hw4"),
    "conv_grouped": (Case("Conv", [rand(R, 1, 8, 5, 5), rand(R, 4, 2, 1, 1)], {"group": 4}, weights=(1,)),
                     ("nc4hw4", "lane_last"), "nc4hw4"),
    "conv_depthwise": (Case("Conv", [rand(R, 2, 6, 5, 5), rand(R, 6, 1, 3, 3), rand(R, 6)],
                            {"group": 6, "auto_pad": "SAME_UPPER", "strides": [2, 2]}, weights=(1, 2)),
                       ("nc4hw4", "lane_last", "lane_last"), "nc4hw4"),
    "conv_1x1_lanes_w": (Case("Conv", [rand(R, 1, 8, 4, 9), rand(R, 12, 8, 1, 1)], weights=(1,)),
                         ("lane_last", "lane_last"), "lane_last"),
    "conv3x3_buffer": (Case("Conv", [rand(R, 1, 4, 6, 10), rand(R, 3, 4, 3, 3), rand(R, 3)], {"pads": [1, 1, 1, 1]},
                            weights=(1, 2)), ("buffer", "buffer", "buffer"), "buffer"),
}
TILES = [(2, 1), (1, 2), (2, 2), (4, 1), (3, 3)]


def _plan(key, tile=(1, 1)):
    case, ins, out = CASES[key]
    plan, inputs, weights = case.plan(ins, out)
    return case, tile_plan(plan, tile, op_types=CONV_OPS), inputs, weights


def test_a_tile_shares_weight_reads_across_its_texels():
    """nc4hw4 output, tile along y (output rows): the texels of a tile have the same output channels, so
    each weight texel is fetched once per tile and loop step instead of once per texel."""
    _, plan, _, weights = _plan("conv3x3_padded")
    _, tiled, _, _ = _plan("conv3x3_padded", (1, 2))
    (k0,), (k1,) = step_kernels(plan, plan.steps[0], weights), step_kernels(tiled, tiled.steps[0], weights)
    assert k1.program.tiled
    weight = [i for i, s in enumerate(k0.program.surfaces) if s.tensor == plan.steps[0].inputs[1].tensor][0]
    a0, a1 = (item_accesses(k.program, texel_reuse=False) for k in (k0, k1))
    w0 = int(((a0.surface == weight) & ~a0.write).sum())
    w1 = int(((a1.surface == weight) & ~a1.write).sum())
    assert w1 * 1.9 < w0  # 6 rows: 3 tiles of 2 rows, each weight texel once per tile
    # the written texels: each exactly once
    written = sorted(zip(a1.x[a1.write].tolist(), a1.y[a1.write].tolist(), strict=True))
    assert written == sorted(set(written)) and len(written) == int(a0.write.sum())


@pytest.mark.opencl
@pytest.mark.parametrize("tile", TILES, ids=[f"{t[0]}x{t[1]}" for t in TILES])
@pytest.mark.parametrize("key", sorted(CASES))
def test_tiled_conv_matches_onnxruntime(cl_device, key, tile):
    case, plan, inputs, weights = _plan(key, tile)
    want = case.reference()[0]
    for reuse in (True, False):
        got = execute(plan, cl_device, inputs, weights, texel_reuse=reuse).outputs["y0"]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{key} tile {tile} reuse {reuse}")


@pytest.mark.opencl
@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "no-reuse"])
@pytest.mark.parametrize("tile", [(2, 1), (2, 2), (3, 3)], ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("key", sorted(CASES))
def test_tiled_conv_trace_equals_instrumented_kernel(cl_device, key, tile, reuse):
    _, plan, inputs, weights = _plan(key, tile)
    _check_kernel(cl_device, plan, weights, inputs=inputs, texel_reuse=reuse)
