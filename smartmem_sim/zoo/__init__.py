"""The model zoo: SmartMem's 18 evaluation networks, offline, at the paper's sizes and as tiny twins.

Committed as structure-only ONNX (weights stripped, see torch_export.py) under models/, so using the zoo needs
no torch::

    from smartmem_sim import zoo
    zoo.list_models()                          # the 18 names, in the paper's order
    zoo.load("swin")                           # cleaned ONNX, weights drawn from seed 0
    zoo.load("swin", tiny=True, weights=False) # structure only (stripped initializers have no data)
    zoo.export("swin", tiny=True, path="swin_tiny.onnx")
    zoo.load("swin", tiny=True, batch=4)      # batch 4: re-exported from torch once, then cached (batched.py)
    zoo.table()                                # rows for `smartmem zoo list`

Rebuilding the files from torch (timm, transformers, diffusers, our arch/ modules) is the optional [zoo]
extra: scripts/regenerate_zoo.py, or ``export(..., from_torch=True)``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx

from smartmem_sim.errors import UserError
from smartmem_sim.zoo import batched, registry, store

# Protobuf cannot serialize a message past 2 GiB: larger models are written with external data.
_EXTERNAL_DATA_ABOVE_BYTES = 1 << 30


def list_models() -> list[str]:
    """The 18 network names, in the paper's order (transformers, ConvNets, hybrids)."""
    return registry.names()


def load(name: str, tiny: bool = False, seed: int = 0, weights: bool = True, batch: int = 1) -> onnx.ModelProto:
    """The committed model ``name`` (its tiny twin if ``tiny``), cleaned, static shapes.

    ``batch`` > 1 gives the network exported from torch at that batch size (smartmem_sim.zoo.batched: needs
    the [zoo] extra the first time, cached after). With ``weights`` the stripped initializers are filled
    deterministically from ``seed`` (smartmem_sim.compiler.frontend.materialize_weights: the same seed gives the same
    bytes); without, the model is structure-only (metadata ``smartmem.weights`` = ``stripped``), enough for compiling and simulating.
    """
    registry.entry(name)
    _check_seed(seed)
    batched.check_batch(batch)
    model = store.read_committed(name, tiny) if batch == 1 else batched.read_batched(name, tiny, batch, seed)
    if not weights:
        return model
    from smartmem_sim.compiler.frontend import materialize_weights

    return materialize_weights(model, seed)


def export(name: str, tiny: bool = False, path: str | os.PathLike | None = None, seed: int = 0,
           weights: bool = True, from_torch: bool = False, batch: int = 1) -> Path:
    """Write network ``name`` as an ONNX file and return its path (default ``./NAME[.tiny].onnx``).

    ``weights`` as in ``load``; ``from_torch`` re-exports from the torch definition (needs the [zoo] extra)
    instead of reading the committed file (``batch`` > 1 always comes from torch, see ``load``). Models
    above 1 GiB of weights get their data in ``PATH.data``. The file (and its data file) are written atomically.
    """
    registry.entry(name)
    _check_seed(seed)
    batched.check_batch(batch)
    default = store.file_key(name, tiny) + (f".b{batch}" if batch > 1 else "")
    path = Path(path) if path is not None else Path(f"{default}.onnx")
    if path.suffix != ".onnx":
        raise UserError(f"{path}: the output file name must end in .onnx")
    if from_torch:
        from smartmem_sim.zoo.torch_export import export_network

        model = export_network(name, tiny, seed, batch)
        if weights:
            from smartmem_sim.compiler.frontend import materialize_weights

            model = materialize_weights(model, seed)
    else:
        model = load(name, tiny, seed, weights, batch)
    _save(model, path)
    return path


def table() -> list[dict[str, Any]]:
    """One row per network: registry facts, paper figures, and our stats for the full and tiny files."""
    stats = store.read_stats()
    rows = []
    for name, e in registry.entries().items():
        row: dict[str, Any] = {k: v for k, v in e.__dict__.items()}
        row["ours"] = stats.get(name)
        row["ours_tiny"] = stats.get(store.file_key(name, True))
        rows.append(row)
    return rows


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"seed must be a non-negative int, got {seed!r}")


def _save(model: onnx.ModelProto, path: Path) -> None:
    from smartmem_sim.atomic import atomic_path

    weight_bytes = sum(len(t.raw_data) for t in model.graph.initializer)
    if weight_bytes <= _EXTERNAL_DATA_ABOVE_BYTES:
        with atomic_path(path) as tmp:
            tmp.write_bytes(model.SerializeToString(deterministic=True))
        return
    from onnx import external_data_helper

    data_path = path.with_name(path.name + ".data")
    # The data file first, then the .onnx that refers to it: a reader never sees a model without its data.
    with atomic_path(data_path) as tmp_data:
        external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location=tmp_data.name, size_threshold=1024)
        external_data_helper.write_external_data_tensors(model, str(path.parent))
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = data_path.name
    with atomic_path(path) as tmp:
        tmp.write_bytes(model.SerializeToString(deterministic=True))
