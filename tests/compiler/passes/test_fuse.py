import numpy as np
from onnx import helper

from smartmem_sim.compiler.frontend import load_model
from smartmem_sim.compiler.passes.classify import classify_graph
from smartmem_sim.compiler.passes.eliminate import plan_elimination
from smartmem_sim.compiler.passes.fuse import plan_fusion
from tests.compiler.passes.builders import check_policies, model


def _fusion(m, policy="smartmem"):
    g = load_model(m)
    cls = classify_graph(g)
    return plan_fusion(g, cls, plan_elimination(g, cls, policy), policy)


def conv_bias_relu():
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Add", ["c", "b"], ["cb"], name="bias"),
             helper.make_node("Relu", ["cb"], ["r"], name="relu"),
             helper.make_node("Mul", ["s", "r"], ["y"], name="scale")]
    return model(nodes, {"x": (1, 3, 5, 5), "s": (1, 4, 5, 5)}, {"y": (1, 4, 5, 5)},
                 {"W": np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32),
                  "b": np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)})


def test_elementwise_chain_becomes_epilogues():
    f = _fusion(conv_bias_relu())
    assert set(f.fused) == {"bias", "relu", "scale"}
    assert {x.kernel for x in f.fused.values()} == {"conv"}
    assert f.fused["scale"].result_first is False  # Mul(s, r): the fused result is the second input
    plans = check_policies(conv_bias_relu())
    assert plans["fusion"].count() == plans["smartmem"].count() == 1
    assert plans["naive"].count() == 4
    assert [e.node for e in plans["smartmem"].steps[0].epilogue] == ["bias", "relu", "scale"]


def test_not_fused_when_shared_or_broadcast():
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"], name="mm"),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Neg", ["a"], ["n"], name="neg"),
             helper.make_node("Add", ["r", "big"], ["y"], name="bcast")]
    m = model(nodes, {"x": (1, 4), "big": (3, 5)}, {"y": (3, 5), "n": (1, 5)},
              {"W": np.ones((4, 5), np.float32)})
    f = _fusion(m)
    assert "other consumers" in f.not_fused["relu"]
    assert "broadcast" in f.not_fused["bcast"]
    check_policies(m)


def test_naive_fuses_nothing():
    f = _fusion(conv_bias_relu(), "naive")
    assert not f.fused and set(f.not_fused) == {"bias", "relu", "scale"}
