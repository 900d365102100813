"""The Python API on the committed files: load with generated weights, run tiny twins, export."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from smartmem_sim import zoo
from smartmem_sim.compiler.ir import is_stripped_initializer
from smartmem_sim.errors import UserError


def _run(model: onnx.ModelProto, seed: int = 0) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in session.get_inputs():
        shape = [int(d) for d in vi.shape]
        if vi.type == "tensor(int64)":  # token ids: stay inside the smallest vocabulary of a tiny twin
            feeds[vi.name] = rng.integers(0, 16, size=shape, dtype=np.int64)
        else:
            feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return session.run(None, feeds)


def test_list_models_is_the_18_in_paper_order():
    names = zoo.list_models()
    assert len(names) == 18 and names[:4] == ["autoformer", "crossformer", "swin", "vit"]


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_tiny_twin_runs_in_onnxruntime_after_materializing(name):
    model = zoo.load(name, tiny=True, seed=0)
    assert not any(is_stripped_initializer(t) for t in model.graph.initializer)
    outputs = _run(model)
    declared = {o.name: o for o in model.graph.output}
    for out, vi in zip(outputs, model.graph.output, strict=True):
        assert np.all(np.isfinite(out)), name
        assert list(out.shape) == [d.dim_value for d in declared[vi.name].type.tensor_type.shape.dim]


def test_weights_are_deterministic_in_the_seed():
    a = zoo.load("vit", tiny=True, seed=3).SerializeToString(deterministic=True)
    b = zoo.load("vit", tiny=True, seed=3).SerializeToString(deterministic=True)
    c = zoo.load("vit", tiny=True, seed=4).SerializeToString(deterministic=True)
    assert a == b and a != c


def test_structure_only_load_keeps_weights_stripped():
    model = zoo.load("resnext", tiny=False, weights=False)
    stripped = [t for t in model.graph.initializer if is_stripped_initializer(t)]
    assert stripped and all(helper.tensor_dtype_to_np_dtype(t.data_type) == np.float32 for t in stripped)


def test_export_writes_a_runnable_file(tmp_path):
    path = zoo.export("convnext", tiny=True, path=tmp_path / "c.onnx", seed=1)
    assert path == tmp_path / "c.onnx"
    model = onnx.load(path)
    onnx.checker.check_model(model)
    np.testing.assert_array_equal(_run(model)[0], _run(zoo.load("convnext", tiny=True, seed=1))[0])
    assert [p.name for p in tmp_path.iterdir()] == ["c.onnx"]  # no temporary file left behind


def test_export_with_external_data_above_the_threshold(tmp_path, monkeypatch):
    import smartmem_sim.zoo as zoo_module

    monkeypatch.setattr(zoo_module, "_EXTERNAL_DATA_ABOVE_BYTES", 1000)
    path = zoo.export("vit", tiny=True, path=tmp_path / "v.onnx", seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.onnx", "v.onnx.data"]
    np.testing.assert_array_equal(_run(onnx.load(path))[0], _run(zoo.load("vit", tiny=True))[0])


@pytest.mark.parametrize("call, message", [
    (lambda: zoo.load("nosuch"), "unknown zoo model 'nosuch'"),
    (lambda: zoo.load("vit", seed=-1), "seed must be a non-negative int"),
    (lambda: zoo.load("vit", seed=1.5), "seed must be a non-negative int"),
    (lambda: zoo.export("vit", tiny=True, path="x.txt"), "must end in .onnx"),
])
def test_bad_arguments_raise_user_errors(call, message):
    with pytest.raises(UserError, match=message):
        call()


def test_missing_committed_file_says_how_to_rebuild(tmp_path, monkeypatch):
    from smartmem_sim.zoo import store

    monkeypatch.setattr(store, "MODELS_DIR", tmp_path)
    with pytest.raises(UserError, match="regenerate_zoo.py"):
        zoo.load("vit", tiny=True)
