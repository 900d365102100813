"""smartmem_sim/kernels/trace/generate.py, merge_reads: the reads a compiler makes once (a kernel without texel
registers), against a plain-Python replay of the work-item and against closed forms."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.render.opencl import lane_loops
from smartmem_sim.kernels.trace.generate import item_accesses
from tests.kernels.cases import Case, rand
from tests.kernels.ops.catalogue import cases
from tests.kernels.trace.test_generate import _model, _prog

CASES = cases()


def _merged_model(prog):
    """Every work-item without registers, each unrolled block (an iteration of a phase's loops with all its
    lanes, or four iterations where the renderer runs the innermost loop that runs more than once as quads)
    fetching each distinct texel once, at its first read (test_generate's plain-Python replay)."""
    def per_phase(phase, lanes):
        running = [v for v in phase.loops if v.extent > 1]  # a loop of one iteration unrolls to nothing
        quad = bool(running) and running[-1].name in lane_loops(phase, prog)
        seen = {}

        def fetches(n, k, ln, surface, key):
            block = seen.setdefault(n // 4 if quad else n, set())
            new = (surface, *key) not in block
            block.add((surface, *key))
            return new
        return fetches
    return _model(prog, fetch=per_phase)


@pytest.mark.parametrize("name,ins,out", [
    ("MatMul_batched_bcast", ("nc4hw4", "buffer"), "lane_last"),
    ("Conv_depthwise", ("nchw4c", "buffer"), "nc4hw4"),  # guarded (padded) reads
    ("Softmax_axis1", ("lane_rows",), "buffer"),  # several phases
    ("Gather_runtime", ("lane_last", "lane_rows"), "nc4hw4"),  # data-dependent reads (the stand-in)
    ("Add_bcast", ("phwc4", "no_lane"), "no_lane"),
])
def test_merged_reads_equal_a_plain_python_model(name, ins, out):
    prog = _prog(CASES[name], ins, out)
    acc = item_accesses(prog, texel_reuse=False, merge_reads=True)
    got = list(zip(acc.item.tolist(), acc.surface.tolist(), acc.x.tolist(), acc.y.tolist(),
                   acc.write.astype(int).tolist(), strict=True))
    assert got == _merged_model(prog)


@pytest.mark.parametrize("tile", [(1, 1), (2, 1), (2, 2)])
def test_a_matmul_fetches_each_texel_once_per_quad(tile):
    """MNN's MatMul layout: A's texel holds four values of K (one fetch per quad of K and row of the tile),
    B's texel four output columns (one fetch per value of K and column of the tile, shared by its rows)."""
    from benchmarks.bench_tiled_matmul import matmul_plan
    from smartmem_sim.kernels.library import plan_kernels, tile_plan

    M, K, N = 9, 32, 16
    plan = tile_plan(matmul_plan(M, K, N, "mnn", "fp32"), tile)
    prog = plan_kernels(plan)[0].program
    rect = (0, 0, 1, 1)  # one work-item inside the output (no edge)
    raw = item_accesses(prog, texel_reuse=False, rect=rect)
    merged = item_accesses(prog, texel_reuse=False, rect=rect, merge_reads=True)
    texels = tile[0] * tile[1]
    reads = K // 4 * tile[1] + K * tile[0]
    assert int((~merged.write).sum()) == reads
    assert int(merged.write.sum()) == int(raw.write.sum()) == texels
    assert int((~raw.write).sum()) > reads
    # the merged rows are the raw rows' first fetches, in the same order
    pos = np.searchsorted(raw.point, merged.point)
    assert np.array_equal(raw.point[pos], merged.point) and np.array_equal(raw.x[pos], merged.x)


def test_merging_models_a_kernel_without_registers():
    case = Case("MatMul", [rand(np.random.default_rng(0), 4, 8), rand(np.random.default_rng(1), 8, 4)])
    prog = _prog(case, ("lane_last", "lane_rows"), "lane_rows")
    with pytest.raises(KernelError, match="without texel registers"):
        item_accesses(prog, texel_reuse=True, merge_reads=True)


def test_a_pointwise_conv_merges_over_the_quad_of_input_channels():
    """A 1x1 Conv (its kernel-window loops run once): the quad over input channels is the block, so per
    quad the input texel is fetched once and each output lane's weight texel once (5 fetches, not 4 x 5)."""
    r = np.random.default_rng(3)
    case = Case("Conv", [rand(r, 1, 16, 3, 3), rand(r, 8, 16, 1, 1)], weights=(1,))
    prog = _prog(case, ("nc4hw4", "nc4hw4"), "nc4hw4")
    acc = item_accesses(prog, texel_reuse=False, merge_reads=True, rect=(0, 0, 1, 1))
    assert int((~acc.write).sum()) == 16 // 4 * 5
    got = item_accesses(prog, texel_reuse=False, merge_reads=True)
    rows = list(zip(got.item.tolist(), got.surface.tolist(), got.x.tolist(), got.y.tolist(),
                    got.write.astype(int).tolist(), strict=True))
    assert rows == _merged_model(prog)
