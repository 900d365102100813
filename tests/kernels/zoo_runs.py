"""Shared by the tiny-twin tests: compile a committed tiny twin under a policy and run it on a device."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from smartmem_sim.compiler.pipeline import POLICIES  # noqa: F401 (every policy, `search` included; the tests import it here)

MODELS = Path(__file__).resolve().parents[2] / "smartmem_sim" / "zoo" / "models"


def tiny_twins() -> list[str]:
    return sorted(p.name.removesuffix(".tiny.onnx") for p in MODELS.glob("*.tiny.onnx"))


def load_twin(model: str):
    """(onnx model with weights from seed 0, IR graph, inputs from seed 0)."""
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.frontend.read import read_model
    from smartmem_sim.compiler.frontend.weights import materialize_weights
    from smartmem_sim.inputs import random_inputs

    path = MODELS / f"{model}.tiny.onnx"
    if not path.exists():
        pytest.skip(f"{path.name} not exported (smartmem zoo export)")
    proto = materialize_weights(read_model(path), 0)
    graph = load_model(proto, name=model)
    return proto, graph, random_inputs(graph, 0)


def reference(proto, feeds) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
