"""Tile tuning (smartmem_sim/compiler/passes/tiles.py): tuned policies give each MatMul/Gemm the block the cost
model prices fastest among those the greedy order prices, never worse than one texel; naive and
smartmem-untuned keep one texel; the tuned plans compute what onnxruntime computes."""
from __future__ import annotations

from dataclasses import replace

import pytest

from smartmem_sim.compiler.frontend.load import load_model
from smartmem_sim.compiler.passes.tiles import CANDIDATES, tune_tiles
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.simulation import cost_model
from tests.compiler.search.graphs import attention

TILED = ("MatMul", "Gemm")


@pytest.fixture(scope="module")
def cost():
    return cost_model("adreno740")


def test_tuned_tiles_are_never_slower_than_one_texel_and_near_the_brute_force_best(cost):
    graph = load_model(attention(tokens=64, dim=64))
    untuned = compile_model(graph, "smartmem-untuned", cost=cost)
    plan = compile_model(graph, "smartmem-untuned", cost=cost)
    tune_tiles(plan, cost)
    steps = {s.id: s for s in untuned.steps}
    tuned_any = False
    for step in plan.steps:
        if step.op_type not in TILED:
            continue
        base = steps[step.id]
        assert tuple(base.tile) == (1, 1)
        chosen = cost.evaluate(plan, step).seconds
        one = cost.evaluate(untuned, base).seconds
        every = {t: cost.evaluate(untuned, replace(base, tile=t)).seconds for t in CANDIDATES
                 if plan.tensors[step.outputs[0]].on_image or t[1] == 1}
        assert chosen <= one
        # the greedy order prices 4 of the 6 blocks: brute force over all 6 may find a better one, by a little
        assert chosen <= min(every.values()) * 1.25
        tuned_any |= tuple(step.tile) != (1, 1)
    assert tuned_any, "no MatMul of the attention graph got a block: the test would not see tuning"


def test_which_policies_are_tuned(cost):
    graph = load_model(attention(tokens=64, dim=64))
    tiles = {p: {s.id: tuple(s.tile) for s in compile_model(graph, p, cost=cost).steps if s.op_type in TILED}
             for p in ("naive", "smartmem-untuned", "smartmem", "fusion")}
    assert all(t == (1, 1) for t in tiles["smartmem-untuned"].values())
    # naive: MNN's image MatMul is one texel; its batched MatMul runs over buffers with a fixed 4-texel block
    assert set(tiles["naive"].values()) <= {(1, 1), (4, 1)}
    assert any(t != (1, 1) for t in tiles["smartmem"].values())
    assert any(t != (1, 1) for t in tiles["fusion"].values())


def test_without_a_simulated_cost_nothing_is_tiled():
    """The analytical model does not see tiles: ties keep one texel, so plans compiled without cost= are as before."""
    plan = compile_model(load_model(attention()), "smartmem")
    assert all(tuple(s.tile) == (1, 1) for s in plan.steps)


@pytest.mark.opencl
def test_tuned_kernels_compute_what_onnxruntime_computes(cost):
    """The reference evaluator ignores tiles, so the tuned kernels themselves run on the CPU OpenCL device."""
    pytest.importorskip("pyopencl")
    import numpy as np

    from smartmem_sim.kernels.errors import KernelError
    from smartmem_sim.kernels.execute import execute
    from smartmem_sim.kernels.runtime.device import select_device
    from tests.compiler.passes.builders import feeds_for, ort_outputs

    try:
        handle = select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")
    m = attention(tokens=64, dim=64)
    feeds = feeds_for(m)
    (want,) = ort_outputs(m, feeds)
    for policy in ("fusion", "smartmem"):
        plan = compile_model(load_model(m), policy, cost=cost)
        assert any(tuple(s.tile) != (1, 1) for s in plan.steps)
        got = execute(plan, handle, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs})
        np.testing.assert_allclose(got.outputs[plan.outputs[0]], want, rtol=1e-4, atol=1e-4)
