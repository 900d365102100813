"""naive executes copies and batched MatMuls as MNN's OpenCL image backend does (smartmem_sim/compiler/passes/
mnn.py, docs/BASELINES.md): Rasters that cannot blit go image -> buffer -> gather -> image, chains of layout
operators are one Raster, batched MatMuls run over buffers. Every plan is checked against onnxruntime by the
reference evaluator (check_policies)."""
from __future__ import annotations

import numpy as np
from onnx import helper

from smartmem_sim.layout.plan import COPY
from tests.compiler.passes.builders import check_policies, model
from tests.compiler.search.graphs import attention

SLOW = ["image_to_nchw_buffer", "raster_buffer", "nchw_buffer_to_image"]


def _phases(plan, base):
    return [s.id.split("/")[1] for s in plan.steps if s.id.startswith(base + "/")]


def test_a_transpose_in_attention_takes_the_three_launch_slow_path():
    naive = check_policies(attention(), policies=("naive",))["naive"]
    copies = [s for s in naive.steps if s.op_type == COPY]
    bases = sorted({s.id.split("/")[0] for s in copies if "/" in s.id and s.id.split("/")[1] in SLOW})
    assert bases, "no slow-path Raster in the attention graph"
    for base in bases:
        assert _phases(naive, base) == SLOW
        first, gather, last = (next(s for s in naive.steps if s.id == f"{base}/{p}") for p in SLOW)
        # image -> buffer, buffer -> buffer through the operator's map, buffer -> image
        assert naive.tensors[first.inputs[0].tensor].on_image and not naive.tensors[first.outputs[0]].on_image
        assert not naive.tensors[gather.inputs[0].tensor].on_image and not naive.tensors[gather.outputs[0]].on_image
        assert not first.nodes and not last.nodes  # the operator's node belongs to the gather
        assert bool(gather.nodes) != base.startswith("copy_")  # implicit conversions have no node
        assert naive.tensors[last.outputs[0]].on_image
        assert "RasterExecution.cpp" in gather.reason


def test_a_chain_of_layout_operators_is_one_raster():
    """Reshape -> Transpose -> Reshape between two kernels: one Raster (3 launches), not three."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "s1"], ["a"], name="rs1"),
             helper.make_node("Transpose", ["a"], ["b"], perm=[0, 2, 1, 3], name="tr"),
             helper.make_node("Reshape", ["b", "s2"], ["c"], name="rs2"),
             helper.make_node("Relu", ["c"], ["y"], name="relu2")]
    m = model(nodes, {"x": (1, 8, 16)}, {"y": (1, 8, 16)},
              {"s1": np.array([1, 8, 4, 4]), "s2": np.array([1, 8, 16])})
    naive = check_policies(m, policies=("naive",))["naive"]
    copies = [s for s in naive.steps if s.op_type == COPY]
    assert len(copies) == 3 and _phases(naive, "rs2") == SLOW
    gather = next(s for s in copies if s.id == "rs2/raster_buffer")
    assert set(gather.inputs[0].absorbed) == {"rs1", "tr"}


def test_a_copy_that_keeps_channels_in_nc4hw4_is_one_blit():
    """MNN's fast path: both NC4HW4 and nothing moves across the channel axis (a Slice along H)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Slice", ["r", "st", "en", "ax"], ["s"], name="sl"),
             helper.make_node("Relu", ["s"], ["y"], name="relu2")]
    m = model(nodes, {"x": (1, 8, 6, 5)}, {"y": (1, 8, 3, 5)},
              {"st": np.array([0]), "en": np.array([3]), "ax": np.array([2])})
    naive = check_policies(m, policies=("naive",))["naive"]
    copies = [s for s in naive.steps if s.op_type == COPY]
    assert [s.id for s in copies] == ["sl"]
    assert all(naive.tensors[t].on_image for t in (copies[0].inputs[0].tensor, copies[0].outputs[0]))


def test_a_batched_matmul_runs_over_buffers_between_copies():
    naive = check_policies(attention(), policies=("naive",))["naive"]
    packs = [s for s in naive.steps if s.id.endswith("/pack")]
    assert packs
    for pack in packs:
        base = pack.id.rsplit("/", 1)[0]
        mm = next(s for s in naive.steps if s.id == base)
        assert mm.op_type == "MatMul" and mm.tile == (4, 1)
        assert all(not naive.tensors[o.tensor].on_image for o in mm.inputs)
        assert not naive.tensors[mm.outputs[0]].on_image and naive.tensors[pack.outputs[0]].on_image
        assert {s.id for s in naive.steps if s.id.startswith(base + "/tile")}
    # the 2-D projections with weights keep MNN's image MatMul (one texel per work-item)
    assert any(s.op_type == "MatMul" and s.tile == (1, 1) for s in naive.steps)
