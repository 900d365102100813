"""Tiles (smartmem_sim/compiler/passes/tiles.py): tuned policies give each MatMul/Gemm the block the cost
model prices fastest among those the greedy order prices, never worse than one texel; naive and
smartmem-untuned keep one texel; every policy gives each row reduction the 1-D block with the fewest
fetches (brute force over every block), and tuned policies keep it or a cheaper smaller one; the tiled
plans compute what onnxruntime computes."""
from __future__ import annotations

from dataclasses import replace

import pytest

from smartmem_sim.compiler.frontend.load import load_model
from smartmem_sim.compiler.passes.tiles import CANDIDATES, ROW_OPS, texel_fetches, tune_tiles
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.simulation import cost_model
from tests.compiler.search.graphs import attention

TILED = ("MatMul", "Gemm")


@pytest.fixture(scope="module")
def cost():
    return cost_model("adreno740")


def _check_tuned_against_brute_force(graph, cost, op_types) -> bool:
    """Each tuned step of ``op_types`` is never slower than one texel and within 1.25x of the best of all six
    candidates (the greedy order prices 4 of the 6 MatMul blocks, a Conv 2: brute force may find a better one,
    by a little); returns whether any step got a block."""
    untuned = compile_model(graph, "smartmem-untuned", cost=cost)
    plan = compile_model(graph, "smartmem-untuned", cost=cost)
    tune_tiles(plan, cost)
    steps = {s.id: s for s in untuned.steps}
    tuned_any = False
    for step in plan.steps:
        if step.op_type not in op_types:
            continue
        base = steps[step.id]
        assert tuple(base.tile) == (1, 1)
        chosen = cost.evaluate(plan, step).seconds
        one = cost.evaluate(untuned, base).seconds
        every = {t: cost.evaluate(untuned, replace(base, tile=t)).seconds for t in CANDIDATES
                 if plan.tensors[step.outputs[0]].on_image or t[1] == 1}
        assert chosen <= one
        assert chosen <= min(every.values()) * 1.25
        tuned_any |= tuple(step.tile) != (1, 1)
    return tuned_any


def test_tuned_tiles_are_never_slower_than_one_texel_and_near_the_brute_force_best(cost):
    tuned_any = _check_tuned_against_brute_force(load_model(attention(tokens=64, dim=64)), cost, TILED)
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


def test_without_a_simulated_cost_only_row_blocks_are_tiled():
    """The analytical model does not see tiles: ties keep one texel for MatMuls and the row block for row
    reductions, so plans compiled without cost= differ from untuned ones only by the row blocks."""
    plan = compile_model(load_model(attention()), "smartmem")
    assert all(tuple(s.tile) == (1, 1) for s in plan.steps if s.op_type not in ROW_OPS)
    assert any(tuple(s.tile) != (1, 1) for s in plan.steps if s.op_type in ROW_OPS)


def _layernorm_model(tokens=10, dim=40):
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    r = np.random.default_rng(3)
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["h"], axis=-1, epsilon=1e-5),
             helper.make_node("Softmax", ["h"], ["y"], axis=-1)]
    inits = [numpy_helper.from_array(r.standard_normal(dim).astype(np.float32), n) for n in ("g", "b")]
    graph = helper.make_graph(nodes, "ln_softmax", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                                   (1, tokens, dim))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, (1, tokens, dim))], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("policy", ["naive", "fusion", "smartmem-untuned"])
@pytest.mark.parametrize("model", ["attention", "layernorm"])
def test_row_blocks_fetch_the_least_of_every_1d_block(policy, model):
    """Brute force over every 1-D block (k x 1 and 1 x k, k <= 16): the chosen block's fetch count is the
    least, or within 5% of it (the rule counts only the block lengths that cut the row evenly or keep whole
    texels), and lower than one texel's wherever some block is."""
    proto = attention(tokens=24, dim=32) if model == "attention" else _layernorm_model()
    plan = compile_model(load_model(proto), policy)
    rows = [s for s in plan.steps if s.op_type in ROW_OPS]
    assert rows
    for step in rows:
        on_image = plan.tensors[step.outputs[0]].on_image
        every = {(k, 1): texel_fetches(plan, step, (k, 1)) for k in range(1, 17)}
        if on_image:
            every.update({(1, k): texel_fetches(plan, step, (1, k)) for k in range(2, 17)})
        got = texel_fetches(plan, step, tuple(step.tile))
        assert got <= 1.05 * min(every.values()), (step.id, step.tile, sorted(every.items(), key=lambda kv: kv[1])[:3])
        if min(every.values()) < every[(1, 1)]:
            assert got < every[(1, 1)]


def test_tuned_row_blocks_are_the_block_half_of_it_or_one_texel(cost):
    graph = load_model(_layernorm_model(tokens=24, dim=64))
    untuned = compile_model(graph, "smartmem-untuned", cost=cost)
    tuned = compile_model(graph, "smartmem", cost=cost)
    blocks = {s.id: tuple(s.tile) for s in untuned.steps if s.op_type in ROW_OPS}
    assert any(b != (1, 1) for b in blocks.values())
    for step in tuned.steps:
        if step.id not in blocks:
            continue
        block = blocks[step.id]
        options = {block, tuple(max(1, t // 2) for t in block), (1, 1)}
        assert tuple(step.tile) in options
        base = next(s for s in untuned.steps if s.id == step.id)
        assert cost.evaluate(tuned, step).seconds <= cost.evaluate(untuned, base).seconds


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


def test_the_row_block_memo_is_bounded_and_gives_the_same_blocks(monkeypatch):
    """A memo that forgets (kept to 1 entry) chooses the same blocks as a fresh one, and never holds more."""
    from smartmem_sim.compiler.passes import tiles

    protos = [attention(tokens=24, dim=32), _layernorm_model(), attention(tokens=24, dim=32)]

    def blocks():
        return [[s.tile for s in compile_model(load_model(p), "naive").steps] for p in protos]

    monkeypatch.setattr(tiles, "_ROW_TILES", {})
    want = blocks()
    assert len(tiles._ROW_TILES) >= 2  # two distinct row steps, so a memo of one must forget
    monkeypatch.setattr(tiles, "_ROW_TILES", {})
    monkeypatch.setattr(tiles, "ROW_TILES_KEPT", 1)
    assert blocks() == want and len(tiles._ROW_TILES) == 1


# ---------------------------------------------------------------- convolutions


@pytest.fixture(scope="module")
def cnn():
    from smartmem_sim.simulation import load_graph

    return load_graph("resnext", tiny=True)


def test_naive_convs_get_the_mnn_block_that_fetches_less(cnn):
    """naive rule 7 (docs/BASELINES.md): 4 output texels per work-item along w or h, whichever fetches fewer
    texels; along w for a depthwise Conv or a buffer output."""
    from smartmem_sim.compiler.passes.tiles import MNN_CONV_BLOCKS

    plan = compile_model(cnn, "naive")
    convs = [s for s in plan.steps if s.op_type == "Conv"]
    assert convs
    compared = 0
    for step in convs:
        assert tuple(step.tile) in MNN_CONV_BLOCKS
        on_image = plan.tensors[step.outputs[0]].on_image
        w = plan.tensors[step.inputs[1].tensor].shape
        if not on_image or (w[1] == 1 and int(step.attrs.get("group", 1)) > 1):
            assert tuple(step.tile) == (4, 1)
            continue
        other = [t for t in MNN_CONV_BLOCKS if t != tuple(step.tile)][0]
        assert texel_fetches(plan, step, tuple(step.tile)) <= texel_fetches(plan, step, other)
        compared += 1
    assert compared, "no image Conv compared the two blocks: the test would not see the choice"


def test_tuned_conv_tiles_are_never_slower_than_one_texel_and_near_the_brute_force_best(cost, cnn):
    assert _check_tuned_against_brute_force(cnn, cost, ("Conv",)), "no Conv got a block"


def test_naive_convs_take_the_mnn_block_the_cost_model_prices_faster(cost, cnn):
    """With a cost model naive times MNN's two blocks, as MNN's tuner does, and keeps the faster."""
    from smartmem_sim.compiler.passes.tiles import MNN_CONV_BLOCKS

    plan = compile_model(cnn, "naive", cost=cost)
    compared = 0
    for step in plan.steps:
        if step.op_type != "Conv" or not plan.tensors[step.outputs[0]].on_image:
            continue
        w = plan.tensors[step.inputs[1].tensor].shape
        if w[1] == 1 and int(step.attrs.get("group", 1)) > 1:
            continue
        prices = {t: cost.evaluate(plan, replace(step, tile=t)).seconds for t in MNN_CONV_BLOCKS}
        assert prices[tuple(step.tile)] == min(prices.values())
        compared += 1
    assert compared
