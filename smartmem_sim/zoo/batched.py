"""Zoo networks at batch size N > 1: re-exported from torch (the [zoo] extra) and cached on disk.

The committed files are batch 1 with static shapes, and their Reshape targets have the batch folded in, so a
batch-N graph cannot be derived from them: it is exported again from the torch definition with the example
inputs stacked N times (torch_export.batch_inputs). The export is cached under ``CACHE_DIR`` as
``NAME[.tiny].bN.onnx`` with the sha256 of the committed batch-1 file it was made beside; when that file
changes (the zoo was regenerated), the cached export is made again.

Which networks batch: all 18 tiny twins export at batch 2 (checked once by hand, torch 2.13.0; the test
exports ResNeXt's twin and checks each batch item against the batch-1 network). The full-size networks share
the definitions and were not all exported at batch > 1 (slow on a small machine).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import onnx

from smartmem_sim.errors import UserError
from smartmem_sim.zoo import registry, store

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "zoo"
MAX_BATCH = 64
_BASE_KEY = "smartmem.base_sha256"
_BATCH_KEY = "smartmem.batch"


def check_batch(batch: object) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise UserError(f"batch must be an integer from 1 to {MAX_BATCH}, got {batch!r}")
    return batch


def cache_path(name: str, tiny: bool, batch: int, cache_dir: Path | None = None) -> Path:
    return (cache_dir or CACHE_DIR) / f"{store.file_key(name, tiny)}.b{batch}.onnx"


def _base_sha(name: str, tiny: bool) -> str:
    path = store.model_path(name, tiny)
    if not path.is_file():
        raise UserError(f"{path}: the committed zoo model is missing; rebuild it with {store.REGENERATE}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _meta(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def read_batched(name: str, tiny: bool, batch: int, seed: int = 0, cache_dir: Path | None = None) -> onnx.ModelProto:
    """The structure-only model of ``name`` at ``batch`` (> 1): the cached export if it is current, else a new
    export from torch (needs the [zoo] extra), written to the cache atomically."""
    registry.entry(name)
    check_batch(batch)
    if batch == 1:
        raise UserError("read_batched is for batch > 1; batch 1 is the committed file (zoo.load)")
    base = _base_sha(name, tiny)
    path = cache_path(name, tiny, batch, cache_dir)
    if path.is_file():
        from smartmem_sim.compiler.frontend import read_model

        model = read_model(path)
        meta = _meta(model)
        if meta.get(_BASE_KEY) == base and meta.get(_BATCH_KEY) == str(batch):
            return model
    from smartmem_sim.atomic import write_bytes
    from smartmem_sim.zoo.torch_export import export_network, set_metadata

    try:
        model = export_network(name, tiny, seed, batch)
    except UserError:
        raise
    except Exception as exc:  # the torch definition could not be traced at this batch size
        raise UserError(f"zoo network '{name}' (tiny={tiny}) could not be exported at batch {batch}: "
                        f"{type(exc).__name__}: {str(exc)[:300]}") from None
    set_metadata(model, {_BASE_KEY: base, _BATCH_KEY: str(batch)})
    write_bytes(path, model.SerializeToString(deterministic=True))
    return model


def batch_of(model: onnx.ModelProto) -> int:
    """The batch size a zoo model was exported at (1 for the committed files)."""
    return int(_meta(model).get(_BATCH_KEY, "1"))
