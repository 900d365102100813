"""zoo.load(..., batch=N): the network re-exported from torch at batch N, cached, and the same function of
each batch item as the committed batch-1 network (onnxruntime on both)."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim import zoo
from smartmem_sim.errors import UserError
from smartmem_sim.zoo import batched


@pytest.mark.parametrize("bad", [0, -1, 65, True, 2.0, "2"])
def test_bad_batch_is_an_error(bad):
    with pytest.raises(UserError, match="batch must be an integer"):
        zoo.load("resnext", tiny=True, batch=bad)


def test_batch_one_is_the_committed_file():
    assert zoo.load("resnext", tiny=True, weights=False, batch=1) == zoo.load("resnext", tiny=True, weights=False)


def _run(m, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {m.graph.input[0].name: x})[0]


@pytest.mark.zoo_export
def test_batched_export_is_cached_and_computes_each_item_like_batch_one(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(batched, "CACHE_DIR", tmp_path)
    m2 = zoo.load("resnext", tiny=True, batch=2, seed=0)
    assert [d.dim_value for d in m2.graph.input[0].type.tensor_type.shape.dim][0] == 2
    assert batched.batch_of(m2) == 2 and batched.cache_path("resnext", True, 2).is_file()
    m1 = zoo.load("resnext", tiny=True, seed=0)
    shape = [d.dim_value for d in m1.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(shape).astype(np.float32) for _ in range(2)]
    want = np.concatenate([_run(m1, x) for x in xs])
    np.testing.assert_allclose(_run(m2, np.concatenate(xs)), want, rtol=1e-4, atol=1e-5)

    # a second load reads the cache (no export), a changed committed file makes it export again
    def no_export(*a, **k):
        raise AssertionError("exported again although the cache is current")

    monkeypatch.setattr("smartmem_sim.zoo.torch_export.export_network", no_export)
    assert zoo.load("resnext", tiny=True, batch=2, weights=False) == batched.read_batched("resnext", True, 2)
    monkeypatch.setattr(batched, "_base_sha", lambda name, tiny: "0" * 64)
    with pytest.raises(UserError, match="could not be exported at batch 2: AssertionError: exported again"):
        batched.read_batched("resnext", True, 2)
