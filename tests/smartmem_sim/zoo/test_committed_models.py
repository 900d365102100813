"""The committed structure-only files: present, valid, stripped, small, summarized; no torch needed."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import helper

from smartmem_sim.compiler.frontend.clean import check
from smartmem_sim.compiler.ir import is_stripped_initializer
from smartmem_sim.zoo import registry, store

FILES = [(n, tiny) for n in registry.names() for tiny in (True, False)]
IDS = [store.file_key(n, t) for n, t in FILES]
# Float inputs read as shapes keep their data (as smartmem_sim.zoo.torch_export.SHAPE_INPUTS; not
# imported from there, because that module is the torch path).
SHAPE_INPUTS = {"Resize": (1, 2), "Upsample": (1,)}
METADATA = ("smartmem.name", "smartmem.seed", "smartmem.source", "smartmem.weights")


@pytest.mark.parametrize("name, tiny", FILES, ids=IDS)
def test_committed_model_is_valid_marked_and_stripped(name, tiny):
    model = store.read_committed(name, tiny)
    check(model, store.file_key(name, tiny))  # onnx.checker, stripped weights as typed inputs
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(METADATA) <= set(meta)
    assert meta["smartmem.weights"] == "stripped"
    assert meta["smartmem.name"] == store.file_key(name, tiny)
    assert int(meta["smartmem.seed"]) >= 0
    assert model.graph.node, "empty graph"
    stripped = 0
    shape_args = {node.input[i] for node in model.graph.node for i in SHAPE_INPUTS.get(node.op_type, ())
                  if i < len(node.input)}
    for t in model.graph.initializer:
        dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        if np.issubdtype(dtype, np.floating) and math.prod(t.dims) > 1 and t.name not in shape_args:
            assert is_stripped_initializer(t), f"{t.name}: float weight still has data"
            stripped += 1
        else:
            assert not is_stripped_initializer(t), f"{t.name}: integer/scalar constants must keep their data"
    assert stripped > 0
    # cleaned: no shape logic or Constant/Identity left
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"Constant", "Identity", "Shape", "ConstantOfShape"}, ops


def test_committed_files_stay_small():
    total = sum(store.model_path(n, t).stat().st_size for n, t in FILES)
    assert total < 8 * 2**20, f"committed zoo is {total / 2**20:.1f} MiB"


def test_stats_toml_is_current_for_tiny_files():
    """stats.toml must describe the committed files; the full-size files are checked by hash here and
    recomputed in test_stats_toml_is_current_for_full_files."""
    stats = store.read_stats()
    assert set(stats) == set(IDS)
    for name, tiny in FILES:
        data = store.model_path(name, tiny).read_bytes()
        row = stats[store.file_key(name, tiny)]
        assert row["bytes"] == len(data)
        if tiny:
            assert row == store.compute_stats(onnx.load_from_string(data), data)


@pytest.mark.slow
def test_stats_toml_is_current_for_full_files():
    stats = store.read_stats()
    for name in registry.names():
        data = store.model_path(name, False).read_bytes()
        assert stats[name] == store.compute_stats(onnx.load_from_string(data), data), name


def test_render_and_read_stats_round_trip(tmp_path, monkeypatch):
    row = {"nodes": 3, "parameters": 10, "macs": 7, "layout_transforms": 1, "bytes": 99, "sha256": "ab",
           "top_ops": "Conv:2 Add:1"}
    monkeypatch.setattr(store, "STATS_PATH", tmp_path / "stats.toml")
    store.read_stats.cache_clear()
    try:
        store.write_stats({"m.tiny": row})
        assert store.read_stats() == {"m.tiny": row}
    finally:
        store.read_stats.cache_clear()
