"""Round trip on every model of the onnx wheel's backend test data (light/): import -> export ->
onnxruntime equals the original in onnxruntime, on random inputs from a fixed seed.

Those models (opset 9, converted from Caffe2) generate every weight with ConstantOfShape and a fill
value, which makes the outputs constant; the test first turns each generated weight into a random
initializer, so a wrong edge or attribute in the round trip shows up in the numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from smartmem_sim.compiler.frontend import export_model, load_model
from tests.compiler.frontend.onnx_builders import run_ort

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = sorted(LIGHT.glob("*.onnx"))


# Larger generated weights (the fully connected layers of VGG/AlexNet, up to 100M elements) stay
# constant fills, which keeps the test fast; their inputs are compared as extra outputs instead.
RANDOMIZE_MAX_ELEMENTS = 4_000_000


def randomize_generated_weights(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """Replace ConstantOfShape(constant shape) weights by random initializers of the same shape, and
    make every Gemm's activation input an extra graph output."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = {t.name: t for t in out.graph.initializer}
    rng = np.random.default_rng(seed)
    keep = []
    for node in out.graph.node:
        if node.op_type == "Gemm":
            out.graph.output.append(onnx.helper.make_empty_tensor_value_info(node.input[0]))
        shape = (numpy_helper.to_array(inits[node.input[0]]).tolist()
                 if node.op_type == "ConstantOfShape" and node.input[0] in inits else None)
        if shape is not None and int(np.prod(shape)) <= RANDOMIZE_MAX_ELEMENTS:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            if len(shape) > 1:
                values = rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
            else:  # biases, BN scale/shift/mean/var: positive and near 1 keeps variances valid
                values = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            out.graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
        else:
            keep.append(node)
    del out.graph.node[:]
    out.graph.node.extend(keep)
    return out


def test_light_models_are_present():
    assert len(MODELS) >= 9, f"expected onnx's light test models in {LIGHT}"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_roundtrip_matches_original(path):
    original = randomize_generated_weights(onnx.load(path), seed=0)
    graph = load_model(original)
    exported = export_model(graph)
    onnx.checker.check_model(exported)
    assert exported.opset_import[0].version >= 13
    assert not any(n.op_type in ("Constant", "Identity", "Shape") for n in exported.graph.node)
    rng = np.random.default_rng(42)
    feeds = {name: rng.standard_normal(graph.tensor(name).shape).astype(np.float32) for name in graph.inputs}
    want = run_ort(original, feeds)
    got = run_ort(exported, feeds)
    # the reference output file fixes the output shape independently of our shape inference
    ref = onnx.TensorProto()
    ref.ParseFromString(path.with_name(path.stem + "_output_0.pb").read_bytes())
    assert got[0].shape == tuple(ref.dims)
    assert len(got) == len(want)
    for w, g in zip(want, got, strict=True):
        assert np.std(w) > 0  # the random weights make outputs depend on the input
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
