"""Shared by the torch export tests: re-export a tiny twin and check it against torch and the committed file."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest


def check_tiny_twin(name: str) -> None:
    """onnxruntime on the cleaned export (with torch's weights) equals torch's output, and the re-exported
    structure-only graph equals the committed file's when the library versions match."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from smartmem_sim.zoo import store
    from smartmem_sim.zoo.torch_export import export_with_weights

    result = export_with_weights(name, tiny=True, seed=0)
    model = result.model_with_weights
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {vi.name: x for vi, x in zip(session.get_inputs(), result.inputs, strict=True)}
    outputs = session.run(None, feeds)
    assert len(outputs) == len(result.torch_outputs)
    for got, want in zip(outputs, result.torch_outputs, strict=True):
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    # A graph op that computes nothing would let the comparison pass trivially: the output must vary.
    assert float(np.std(result.torch_outputs[0])) > 0, name

    committed = store.read_committed(name, tiny=True)
    meta = {p.key: p.value for p in committed.metadata_props}
    fresh = {p.key: p.value for p in result.model.metadata_props}
    if meta.get("smartmem.source") == fresh.get("smartmem.source") and meta.get("smartmem.torch") == fresh.get(
            "smartmem.torch"):
        assert [n.op_type for n in committed.graph.node] == [n.op_type for n in result.model.graph.node], (
            f"{name}: the committed tiny twin differs from a fresh export; run scripts/regenerate_zoo.py")
