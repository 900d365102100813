"""Torch exports (legacy TorchScript exporter and dynamo exporter) of a small CNN, a Swin-like and a
BERT-like model with dynamic axes: cleaning leaves no shape logic, and import -> export -> onnxruntime
equals the original export in onnxruntime and the torch module itself."""
from __future__ import annotations

import io
import warnings
from collections import Counter

import numpy as np
import onnx
import pytest

from smartmem_sim.compiler.analysis import summarize
from smartmem_sim.compiler.frontend import export_model, load_model, symbolic_dims
from tests.compiler.frontend.onnx_builders import assert_no_shape_logic, run_ort

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.zoo_export

from tests import torch_models  # noqa: E402  (needs torch)

EXPORTERS = ["legacy", "dynamo"]


def export(model, args, names, dynamic_axes, exporter: str) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            pytest.importorskip("onnxscript")
            shapes = {n: {a: torch.export.Dim.DYNAMIC for a in ax} for n, ax in dynamic_axes.items()}
            # optimize=False: the raw export, with all its shape logic (the exporter's own optimizer would
            # fold most of it before the front end sees it)
            program = torch.onnx.export(model, args, dynamo=True, input_names=names, dynamic_shapes=shapes,
                                        verbose=False, optimize=False)
            return program.model_proto
        buf = io.BytesIO()
        torch.onnx.export(model, args, buf, dynamo=False, input_names=names, dynamic_axes=dynamic_axes,
                          opset_version=17)
        return onnx.load_from_string(buf.getvalue())


@pytest.fixture(scope="module", params=[(k, e) for k in torch_models.BUILDERS for e in EXPORTERS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def exported(request):
    key, exporter = request.param
    model, args, names, dynamic_axes = torch_models.BUILDERS[key](seed=0)
    proto = export(model, args, names, dynamic_axes, exporter)
    # bind every symbolic dim to the example input's size (dynamo names dims s0, s1, ...)
    dims = {}
    for dim, where in symbolic_dims(proto).items():
        input_name, axis = where[0]
        dims[dim] = int(args[names.index(input_name)].shape[axis])
    with torch.no_grad():
        ref = model(*args)
    ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
    feeds = {n: a.numpy() for n, a in zip(names, args, strict=True)}
    return key, exporter, proto, dims, feeds, ref


def test_export_has_dynamic_dims(exported):
    key, exporter, proto, dims, _, _ = exported
    assert dims, f"{key}/{exporter}: the export should carry symbolic dims for the front end to bind"


def test_roundtrip_matches_original_and_torch(exported):
    key, exporter, proto, dims, feeds, ref = exported
    graph = load_model(proto, dims, name=f"{key}-{exporter}")
    out = export_model(graph)
    onnx.checker.check_model(out)
    assert_no_shape_logic(out)
    before = Counter(n.op_type for n in proto.graph.node)
    after = Counter(graph.op_types())
    print(f"\n{key}/{exporter}: {len(proto.graph.node)} -> {len(graph)} nodes; before {dict(before)}; after {dict(after)}")
    want = run_ort(proto, feeds)
    got = run_ort(out, feeds)
    assert len(got) == len(want) == len(ref)
    for g, w, r in zip(got, want, ref, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    if key == "swin":
        # folding removes shape logic only: the window partition's Reshape/Transpose stay (the compiler's job)
        s = summarize(graph)
        by_op = s["layout_transforms"]["by_op"]
        assert by_op.get("Transpose", 0) >= 10 and by_op.get("Reshape", 0) >= 20, by_op
        assert s["macs"]["matmul_activation"] > 0  # window attention Q@K^T and P@V


def test_stripped_export_cleans_to_the_same_graph_and_runs_after_materialize(exported):
    """The zoo ships structure-only models: stripping float weights must not change the cleaned graph."""
    from smartmem_sim.compiler.frontend import WEIGHTS_KEY, materialize_weights

    key, exporter, proto, dims, feeds, _ = exported
    stripped = onnx.ModelProto()
    stripped.CopyFrom(proto)
    for t in stripped.graph.initializer:
        if onnx.helper.tensor_dtype_to_np_dtype(t.data_type).kind == "f" and len(t.dims):
            t.ClearField("raw_data")
            t.ClearField("float_data")
    for node in stripped.graph.node:  # float Constant nodes are weights too (the legacy exporter's style)
        for a in node.attribute:
            if node.op_type == "Constant" and a.name == "value" and a.t.data_type == onnx.TensorProto.FLOAT and len(a.t.dims):
                a.t.ClearField("raw_data")
                a.t.ClearField("float_data")
    prop = stripped.metadata_props.add()
    prop.key, prop.value = WEIGHTS_KEY, "stripped"
    full = load_model(proto, dims)
    lean = load_model(stripped, dims)
    assert lean.op_types() == full.op_types()
    assert {n: lean.tensor(n).shape for n in lean.tensors} == {n: full.tensor(n).shape for n in full.tensors}
    runnable = materialize_weights(export_model(lean), seed=0)
    for out in run_ort(runnable, feeds):
        assert np.isfinite(out).all()
