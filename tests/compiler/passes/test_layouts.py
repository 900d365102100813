import numpy as np
from onnx import helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.passes.layouts import default_layout, reduction_layout
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.layout.image import BufferLayout
from smartmem_sim.layout.plan import COPY
from tests.compiler.passes.builders import check_policies, model


def test_default_layouts_are_mnn_like():
    assert default_layout((1, 8, 5, 6), np.float32).name == "nc4hw4"
    l3 = default_layout((2, 6, 16), np.float32)
    assert (l3.lane_dim, l3.width, l3.height) == (1, 2, 32)  # [N, C, H] as [N, C, H, 1]
    assert isinstance(default_layout((3,), np.int64), BufferLayout)
    assert isinstance(default_layout((), np.float32), BufferLayout)


def test_reduction_layout_two_dims():
    lay = reduction_layout((2, 6, 16), [2, 1])
    assert lay.lane_dim == 2 and lay.width_dims == (2,) and lay.height_dims == (0, 1)
    assert reduction_layout((1, 8, 4, 4), [1]).name == "nc4hw4"
    tall = reduction_layout((64, 512, 8), [2])  # height 32768 > 16384: outer dim moves to x
    assert tall.height <= 16384 and tall.lane_dim == 2


def _layernorm_matmul():
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"], axis=-1, name="ln"),
             helper.make_node("MatMul", ["n", "W"], ["y"], name="mm")]
    rng = np.random.default_rng(0)
    return model(nodes, {"x": (1, 6, 8)}, {"y": (1, 6, 5)},
                 {"g": np.ones(8, np.float32), "b": np.zeros(8, np.float32),
                  "W": rng.standard_normal((8, 5)).astype(np.float32)})


def test_naive_converts_where_the_reduction_dim_is_not_in_the_lanes():
    plans = check_policies(_layernorm_matmul())
    naive = plans["naive"]
    conv = [s for s in naive.steps if s.op_type == COPY]
    # each conversion moves data across the lanes, so MNN's Raster takes its slow path: image -> buffer ->
    # gather -> image (smartmem_sim/compiler/passes/mnn.py)
    assert [s.outputs[0] for s in conv if naive.tensors[s.outputs[0]].on_image] == ["x@red2", "n@red2"]
    assert [s.id.split("/")[1] for s in conv[:3]] == ["image_to_nchw_buffer", "raster_buffer", "nchw_buffer_to_image"]
    assert "implicit conversion" in conv[0].reason and "slow path" in conv[0].reason
    assert any(d.action == "convert" for d in naive.decisions)
    # smartmem: the producers write the layout the readers' reduction dim (C, last) prefers
    sm = plans["smartmem"]
    assert sm.count(COPY) == 0 and sm.tensors["n"].layout.lane_dim == 2 and sm.tensors["x"].layout.lane_dim == 2
    assert plans["fusion"].count(COPY) == 0 and plans["fusion"].tensors["n"].layout.lane_dim == 1


def test_two_reduction_dims_share_a_layout_and_a_third_gets_a_copy():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Softmax", ["r"], ["s"], axis=2, name="sm"),
             helper.make_node("ReduceMean", ["r"], ["m"], axes=[1], keepdims=1, name="mean"),
             helper.make_node("ArgMax", ["r"], ["a"], axis=0, keepdims=1, name="amax"),
             helper.make_node("Cast", ["a"], ["af"], to=1, name="cast"),
             helper.make_node("Add", ["m", "af"], ["ma"], name="add"),
             helper.make_node("Add", ["s", "ma"], ["y"], name="add2")]
    m = model(nodes, {"x": (3, 4, 5)}, {"y": (3, 4, 5)}, opset=17)
    plan = check_policies(m)["smartmem"]
    r = plan.tensors["r"].layout
    # two of the three reduction dims share r's layout: one in the lanes (innermost x), one innermost along y
    served = {r.lane_dim, r.height_dims[-1]}
    assert len(served) == 2 and r.width_dims[-1] == r.lane_dim
    (extra,) = {0, 1, 2} - served
    copies = [s for s in plan.steps if s.op_type == COPY]
    assert [s.outputs[0] for s in copies] == [f"r@red{extra}"] and "extra copy" in copies[0].reason
    assert plan.tensors[f"r@red{extra}"].layout.lane_dim == extra
    reader = {0: "ArgMax", 1: "ReduceMean", 2: "Softmax"}[extra]
    assert next(s for s in plan.steps if s.op_type == reader).inputs[0].tensor == f"r@red{extra}"


def test_add_of_differently_laid_out_inputs_changes_group():
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"], name="mm"),  # a is read by a Softmax over dim 2
             helper.make_node("Softmax", ["a"], ["s"], axis=2, name="soft"),
             helper.make_node("Relu", ["x2"], ["r"], name="relu"),  # r keeps the default layout
             helper.make_node("Add", ["a", "r"], ["y"], name="add")]
    m = model(nodes, {"x": (2, 3, 4), "x2": (2, 3, 5)}, {"y": (2, 3, 5), "s": (2, 3, 5)},
              {"W": np.ones((4, 5), np.float32)})
    plan = compile_model(load_model(m), "smartmem")
    d = next(d for d in plan.decisions if d.consumer == "add" and d.producer == "relu")
    assert d.consumer_group == "ILD&Var" and "different layouts" in d.reason
    check_policies(m)


def test_images_past_the_limit_become_buffers_under_every_policy():
    from smartmem_sim.compiler.passes.layouts import IMAGE_MAX
    from smartmem_sim.layout.image import ImageLayout

    n = IMAGE_MAX + 16  # a rank-3 tensor whose default image is n texels high
    m = model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])],
              {"x": (1, 2, n)}, {"y": (1, 2, n)})
    plans = check_policies(m, ("naive", "fusion", "smartmem", "search"))
    for policy, plan in plans.items():
        images = [t.layout for t in plan.tensors.values() if isinstance(t.layout, ImageLayout)]
        assert all(lay.width <= IMAGE_MAX and lay.height <= IMAGE_MAX for lay in images), policy
        assert any(isinstance(t.layout, BufferLayout) for t in plan.tensors.values()), policy
