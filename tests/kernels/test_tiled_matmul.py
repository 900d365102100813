"""Output tiling of MatMul/Gemm kernels (smartmem_sim/kernels/ops/program.py: a work-item computes TX x TY
output texels, reads shared per read group): tile (1, 1) is today's kernel byte for byte; legality; the
instrumented kernel on the device logs exactly the trace generator's rows (edges that do not divide,
batched, transposed Gemm, fp16, with and without texel registers); outputs equal onnxruntime; a compiled
attention model still matches onnxruntime with every MatMul tiled; oclgrind is clean; memsim prices tiled
plans with fewer L1 accesses."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest

from smartmem_sim.compiler.costs import SimulatedCost
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.execute import execute
from smartmem_sim.kernels.library import step_kernels, tile_plan
from smartmem_sim.kernels.ops.builder import build_program
from smartmem_sim.kernels.runtime.oclgrind import BufferArg, ImageArg, run_under_oclgrind
from smartmem_sim.kernels.trace.generate import item_accesses
from smartmem_sim.kernels.trace.sample import ProgramSampler
from smartmem_sim.layout.signature import step_signature
from tests.compiler.search.graphs import attention, attention_graph
from tests.kernels.cases import Case, rand
from tests.kernels.test_trace_matches_kernel import _check_kernel
from tests.kernels.zoo_runs import reference

TILES = [(2, 1), (4, 1), (2, 2), (4, 2), (3, 3)]
R = np.random.default_rng(21)
# (case, input layouts, output layout): edges that do not divide the tiles, lanes on either dim, batched
# with broadcasting, Gemm with transposes and a broadcast C, buffers
CASES = {
    "mm_lanesK": (Case("MatMul", [rand(R, 9, 13), rand(R, 13, 22)]), ("lane_last", "lane_rows"), "lane_last"),
    "mm_lanesN": (Case("MatMul", [rand(R, 7, 12), rand(R, 12, 18)]), ("lane_last", "lane_last"), "lane_last"),
    "mm_lanesM": (Case("MatMul", [rand(R, 10, 6), rand(R, 6, 5)]), ("lane_rows", "lane_last"), "lane_rows"),
    "mm_nolane": (Case("MatMul", [rand(R, 5, 8), rand(R, 8, 7)]), ("lane_last", "lane_rows"), "no_lane"),
    "mm_batched": (Case("MatMul", [rand(R, 2, 3, 5, 6), rand(R, 1, 3, 6, 9)]), ("nc4hw4", "buffer"), "lane_last"),
    "mm_buffer": (Case("MatMul", [rand(R, 6, 5), rand(R, 5, 16)]), ("buffer", "buffer_rev"), "buffer"),
    "gemm_tT": (Case("Gemm", [rand(R, 6, 5), rand(R, 7, 6), rand(R, 7)],
                     {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, weights=(1, 2)),
                ("lane_rows", "lane_last"), "lane_last"),
    "gemm_C2d": (Case("Gemm", [rand(R, 9, 6), rand(R, 6, 11), rand(R, 9, 11)]), ("lane_last", "lane_rows"),
                 "lane_rows"),
}


def _plan(key, tile=(1, 1), storage="fp32"):
    case, ins, out = CASES[key]
    plan, inputs, weights = case.plan(ins, out, storage=storage)
    return case, tile_plan(plan, tile), inputs, weights


# ---------------------------------------------------------------- no device


def test_tile_one_is_todays_kernel_byte_for_byte():
    for key in CASES:
        _, plan, _, weights = _plan(key)
        same = tile_plan(plan, (1, 1))
        for reuse in (True, False):
            (a,), (b,) = (step_kernels(p, p.steps[0], weights, texel_reuse=reuse) for p in (plan, same))
            assert a.source == b.source and a.entry == b.entry
        assert plan.digest() == same.digest()
        assert step_signature(plan, plan.steps[0], plan.tensors) == step_signature(same, same.steps[0], same.tensors)
    _, plan, _, weights = _plan("mm_lanesK")
    tiled = tile_plan(plan, (2, 2))
    assert plan.digest() != tiled.digest()  # a tiled kernel is another kernel for every cache keyed by them
    assert step_signature(plan, plan.steps[0], plan.tensors) != step_signature(tiled, tiled.steps[0], tiled.tensors)


def test_tile_legality():
    _, plan, _, weights = _plan("mm_lanesK")
    step = plan.steps[0]
    for bad in [(0, 1), (2,), (1.5, 1), (True, 1), (8, 4)]:
        with pytest.raises(KernelError, match="tile"):
            build_program(replace(plan, steps=[replace(step, tile=bad)]), replace(step, tile=bad), 0, weights)
    add_plan, _, _ = Case("Add", [rand(R, 3, 4), rand(R, 3, 4)]).plan(("lane_last",), "lane_last")
    step = replace(add_plan.steps[0], tile=(2, 1))
    with pytest.raises(KernelError, match="only MatMul, Gemm"):
        build_program(add_plan, step)
    with pytest.raises(KernelError, match="cannot be tiled"):
        tile_plan(add_plan, (2, 1), op_types=("Add",))
    assert tile_plan(add_plan, (2, 1)).steps[0].tile == (1, 1)  # only MatMul/Gemm steps get the tile
    # a buffer output's texels are one row: tile_plan keeps TY = 1 there, a step that asks more is refused
    _, buf, _, w = _plan("mm_buffer", (4, 2))
    assert buf.steps[0].tile == (4, 1)
    with pytest.raises(KernelError, match="TY must be 1"):
        build_program(buf, replace(buf.steps[0], tile=(2, 2)), 0, w)


@pytest.mark.parametrize("tile", TILES, ids=[f"{t[0]}x{t[1]}" for t in TILES])
def test_reads_drop_by_the_tile_and_edges_write_each_texel_once(tile):
    """MatMul with A's lanes along K and the output's along N (MNN's GEMM layout): per K step (4 values of
    K) a tile fetches TY texels of A and TX of B, against 1 + 1 per texel untiled (no registers: per value
    of K); every output texel is written exactly once, including past-the-edge tiles."""
    _, plan, _, weights = _plan("mm_lanesN")
    _, tiled, _, _ = _plan("mm_lanesN", tile)
    (k0,), (k1,) = step_kernels(plan, plan.steps[0], weights), step_kernels(tiled, tiled.steps[0], weights)
    (m, kk), (_, n) = (a.shape for a in CASES["mm_lanesN"][0].inputs)
    w_tex = -(-n // 4)
    tx, ty = tile
    assert k1.global_size == (-(-w_tex // tx), -(-m // ty))
    for reuse in (True, False):
        a0, a1 = (item_accesses(k.program, texel_reuse=reuse) for k in (k0, k1))
        per_k = kk // 4 if reuse else kk  # registers keep A's texel for its 4 values of K
        texels_b = k0.program.surfaces[2].layout
        assert texels_b.lane_dim == 1  # B's lanes along N: one B texel serves 4 output lanes
        want = 0
        for gy in range(k1.global_size[1]):
            rows_ = min(ty, m - gy * ty)
            for gx in range(k1.global_size[0]):
                cols = min(tx, w_tex - gx * tx)
                want += rows_ * per_k + cols * kk
        assert int((~a1.write & (a1.surface != 0)).sum()) == want
        assert int((~a0.write).sum()) > int((~a1.write).sum())
        # the written texels: each exactly once
        written = sorted(zip(a1.x[a1.write].tolist(), a1.y[a1.write].tolist(), strict=True))
        assert written == sorted((x, y) for x in range(w_tex) for y in range(m))


# ---------------------------------------------------------------- on the device


@pytest.mark.opencl
@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "no-reuse"])
@pytest.mark.parametrize("tile", [(2, 1), (2, 2), (4, 2), (3, 3)], ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("key", sorted(CASES))
def test_tiled_trace_equals_instrumented_kernel(cl_device, key, tile, reuse):
    _, plan, inputs, weights = _plan(key, tile)
    _check_kernel(cl_device, plan, weights, inputs=inputs, texel_reuse=reuse)


@pytest.mark.opencl
def test_tiled_trace_equals_instrumented_kernel_fp16(cl_device):
    for key in ("mm_lanesK", "gemm_tT", "mm_buffer"):
        _, plan, inputs, weights = _plan(key, (2, 2), storage="fp16")
        _check_kernel(cl_device, plan, weights, storage="fp16", inputs=inputs)


@pytest.mark.opencl
@pytest.mark.parametrize("tile", TILES, ids=[f"{t[0]}x{t[1]}" for t in TILES])
@pytest.mark.parametrize("key", sorted(CASES))
def test_tiled_numerics_match_onnxruntime(cl_device, key, tile):
    _check_numerics(cl_device, *_plan(key, tile))


def _check_numerics(cl_device, case, plan, inputs, weights):
    """The plan's output equals onnxruntime's, with and without texel registers."""
    want = case.reference()[0]
    for reuse in (True, False):
        got = execute(plan, cl_device, inputs, weights, texel_reuse=reuse).outputs["y0"]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.opencl
def test_tiled_numerics_fp16(cl_device):
    case, plan, inputs, weights = _plan("mm_lanesK", (4, 2), storage="fp16")
    got = execute(plan, cl_device, inputs, weights).outputs["y0"]
    np.testing.assert_allclose(got, case.reference()[0], rtol=2e-2, atol=3e-2)


@pytest.mark.opencl
@pytest.mark.parametrize("tile", [(2, 1), (2, 2), (4, 2)], ids=lambda t: f"{t[0]}x{t[1]}")
def test_attention_model_tiled_matches_onnxruntime(cl_device, tile):
    proto = attention(tokens=12, dim=32, heads=4)
    graph = attention_graph(tokens=12, dim=32, heads=4)
    plan = compile_model(graph, "smartmem", "fp32")
    tiled = tile_plan(plan, tile)
    matmuls = [s for s in tiled.steps if s.op_type in ("MatMul", "Gemm")]
    assert matmuls and all(s.tile != (1, 1) for s in matmuls)
    x = np.random.default_rng(0).standard_normal((1, 12, 32)).astype(np.float32)
    want = reference(proto, {"x": x})
    inputs = {plan.inputs[0]: x}
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for reuse in (True, False):
        got = execute(tiled, cl_device, inputs, weights, texel_reuse=reuse).outputs
        (name,) = plan.outputs
        np.testing.assert_allclose(got[name], want["y"], rtol=1e-4, atol=1e-4)


@pytest.mark.opencl
@pytest.mark.slow
@pytest.mark.parametrize("key,tile", [("mm_lanesK", (3, 3)), ("gemm_C2d", (2, 2)), ("mm_buffer", (4, 1))])
def test_tiled_kernel_is_clean_under_oclgrind(oclgrind_icd, key, tile):
    """Inputs as buffers (see tests/kernels/test_oclgrind_kernels.py: oclgrind does not track image
    contents), the output an image or a buffer that every tile texel must write exactly."""
    case, _, out = CASES[key]
    ins = ("buffer", "buffer_rev")
    plan, inputs, weights = case.plan(ins, out)
    plan = tile_plan(plan, tile)
    values = {**inputs, **weights}
    (k,) = step_kernels(plan, plan.steps[0], weights)
    assert k.program.tiled
    args = []
    for tensor in k.args:
        t = plan.tensors[tensor]
        if tensor == k.output:
            args.append(ImageArg(width=t.layout.width, height=t.layout.height) if t.on_image
                        else BufferArg(nbytes=4 * int(np.prod(t.shape))))
        else:
            args.append(BufferArg(data=np.ascontiguousarray(np.transpose(values[tensor], t.layout.order))
                                  .astype(np.float32).ravel()))
    report = run_under_oclgrind(k.source, k.entry, k.global_size, k.local_size, args, options=["-cl-opt-disable"])
    report.check()


# ---------------------------------------------------------------- memsim


@pytest.mark.parametrize("device", ["adreno740", "h100_opencl"])
def test_simulated_cost_prices_tiled_plans_with_fewer_l1_accesses(device):
    plan = compile_model(attention_graph(tokens=64, dim=64, heads=4), "smartmem", "fp16")
    steps = [s.id for s in plan.steps if s.op_type in ("MatMul", "Gemm")]
    assert steps
    costs = {}
    for tile in [(1, 1), (2, 2), (4, 1)]:
        p = tile_plan(plan, tile)
        cost = SimulatedCost(device, ProgramSampler(), row_budget=10**6)
        costs[tile] = [cost.evaluate(p, s) for s in p.steps if s.id in steps]
    for tile in [(2, 2), (4, 1)]:
        for c0, c1 in zip(costs[(1, 1)], costs[tile], strict=True):
            assert c1.seconds > 0 and c1.level("L1").accesses < c0.level("L1").accesses
        total0 = sum(c.level("L1").accesses for c in costs[(1, 1)])
        total1 = sum(c.level("L1").accesses for c in costs[tile])
        assert total1 < 0.75 * total0
