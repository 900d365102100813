import numpy as np
from onnx import helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.passes.classify import classify_graph
from smartmem_sim.compiler.passes.eliminate import is_free, plan_elimination
from smartmem_sim.layout import ops as lops
from tests.compiler.passes.builders import model


def test_free_reshapes_under_the_default_layout():
    # [N, C, H] -> [N, C, H, 1]: nc4hw4_r3 and nc4hw4 store it identically
    assert is_free(lops.Unsqueeze((3,)), (2, 8, 5), np.float32)
    # [N, C] -> [N, C, 1, 1]
    assert is_free(lops.Reshape((2, 8, 1, 1)), (2, 8), np.float32)
    # merging H into C moves elements between texels
    assert not is_free(lops.Reshape((2, 40)), (2, 8, 5), np.float32)
    assert not is_free(lops.Transpose((0, 2, 1)), (2, 8, 5), np.float32)


def _graph(extra_consumer: bool):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0], name="tr"),
             helper.make_node("Slice", ["t", "st", "en"], ["y"], name="sl")]
    outs = {"y": (2, 3)}
    if extra_consumer:
        nodes.append(helper.make_node("Neg", ["r"], ["z"], name="neg"))
        outs["z"] = (3, 4)
    m = model(nodes, {"x": (3, 4)}, outs, {"st": np.array([1, 0]), "en": np.array([3, 3])})
    g = load_model(m)
    return g, classify_graph(g)


def test_modes_per_policy():
    g, cls = _graph(extra_consumer=False)
    naive = plan_elimination(g, cls, "naive")
    # MNN composes the Transpose -> Slice chain into one Raster: the Transpose folds into the Slice's copy
    assert naive["tr"].mode == "inverse" and "one Raster" in naive["tr"].reason and naive["sl"].mode == "copy"
    assert {e.mode for e in plan_elimination(g, cls, "fusion").values()} == {"copy"}
    sm = plan_elimination(g, cls, "smartmem")
    assert sm["tr"].mode == "forward"
    assert sm["sl"].mode == "inverse" and "not a bijection" in sm["sl"].reason


def test_producer_with_other_consumers_folds_into_consumers():
    g, cls = _graph(extra_consumer=True)
    sm = plan_elimination(g, cls, "smartmem")
    assert sm["tr"].mode == "inverse" and "other consumers" in sm["tr"].reason


def test_a_forward_map_kernels_cannot_write_through_folds_into_consumers_instead():
    """Conv [1,3,2] -> Reshape [2,3]: the forward map mixes coordinates ((c*2 + w)//3), which no kernel can
    invert to write through, so smartmem folds the Reshape into its readers; the plan runs (reference
    evaluator against onnxruntime)."""
    from tests.compiler.passes.builders import check_policies

    w = np.ones((3, 1, 1), np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Reshape", ["c", "s"], ["y"], name="rs")]
    m = model(nodes, {"x": (1, 1, 2)}, {"y": (2, 3)}, {"w": w, "s": np.array([2, 3])})
    g = load_model(m)
    modes = plan_elimination(g, classify_graph(g), "smartmem")
    assert modes["rs"].mode == "inverse" and "cannot invert" in modes["rs"].reason
    check_policies(m, policies=("smartmem",))
