"""The numpy reference evaluator on hand-built plans (independent of the passes)."""
import numpy as np
import pytest
from onnx import numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.passes.classify import stripped_proto
from smartmem_sim.compiler.reference import check_layout, gather, run_plan, scatter
from smartmem_sim.layout.image import BufferLayout, image_layout
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.ops import Chain, Reshape, Transpose
from smartmem_sim.layout.plan import COPY, Epilogue, Operand, Plan, Step, StoredTensor, identity_operand


def _t(name, shape, kind="intermediate"):
    return StoredTensor(name, shape, image_layout(shape, width=(len(shape) - 1,), height=tuple(range(len(shape) - 1)),
                                                  lane=len(shape) - 1), kind)


def test_gather_and_scatter_follow_the_maps():
    a = np.arange(24).reshape(2, 3, 4)
    chain = Chain((2, 3, 4), [Reshape((6, 4)), Transpose((1, 0))])
    np.testing.assert_array_equal(gather(a, chain.inverse()), a.reshape(6, 4).T)
    np.testing.assert_array_equal(scatter(a, chain.forward(), (4, 6), "t"), a.reshape(6, 4).T)
    with pytest.raises(CompilerError, match="bijection"):
        scatter(np.ones((2, 3)), IndexMap.build((2, 3), (2, 3), lambda v: (v[0] * 0, v[1])), (2, 3), "step 's'")


def test_matmul_with_absorbed_transpose_and_epilogue():
    """y = relu(x^T @ W + b): the transpose is an operand map, relu and the bias add epilogues."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (4, 5), (5,)))
    xt = IndexMap.build((3, 4), (4, 3), lambda v: (v[1], v[0]))
    bias = IndexMap.build((3, 5), (5,), lambda v: (v[1],))
    plan = Plan("m", "smartmem", "fp32",
                {"x": _t("x", (4, 3), "input"), "W": _t("W", (4, 5), "weight"), "b": _t("b", (5,), "weight"),
                 "y": _t("y", (3, 5), "output")},
                [Step("mm", "MatMul", ("mm", "add", "relu"), (Operand("x", xt, ("tr",)), identity_operand("W", (4, 5))),
                      ("y",), epilogue=(Epilogue("add", "Add", {}, (Operand("b", bias),)), Epilogue("relu", "Relu")))],
                ["x"], ["y"], weights={"W": numpy_helper.from_array(w, "W"), "b": numpy_helper.from_array(b, "b")})
    plan.validate()
    (y,) = run_plan(plan, {"x": x}, check_layouts=True)
    np.testing.assert_allclose(y, np.maximum(x.T @ w + b, 0), rtol=1e-5, atol=1e-6)
    plan.storage = "fp16"
    (y16,) = run_plan(plan, [x])
    np.testing.assert_array_equal(y16, y16.astype(np.float16).astype(np.float32))


def test_copy_step_and_missing_weight_data():
    plan = Plan("m", "naive", "fp32", {"x": _t("x", (2, 3), "input"), "y": _t("y", (3, 2), "output")},
                [Step("tr", COPY, ("tr",), (Operand("x", IndexMap.build((3, 2), (2, 3), lambda v: (v[1], v[0]))),),
                      ("y",))], ["x"], ["y"])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_plan(plan, {"x": x})[0], x.T)
    plan.tensors["w"] = StoredTensor("w", (3,), BufferLayout((3,)), "weight")
    plan.weights["w"] = stripped_proto("w", (3,), np.dtype(np.float32))
    with pytest.raises(CompilerError, match="weight 'w'.*no data"):
        run_plan(plan, {"x": x})
    with pytest.raises(CompilerError, match="needs inputs"):
        run_plan(plan, {})


def test_check_layout_rejects_a_non_injective_layout():
    class Folded(BufferLayout):  # every element at offset 0
        def address_exprs(self, coords):
            return (coords[0] * 0,)

    with pytest.raises(CompilerError, match="two elements to one address"):
        check_layout(StoredTensor("t", (3,), Folded((3,)), "intermediate"), np.arange(3.0))
