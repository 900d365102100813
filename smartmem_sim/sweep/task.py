"""One point of a sweep (:class:`Task`) and its content hash (:func:`task_key`).

The key hashes what decides a result, not the names it was asked by:
- the model: the bytes of the .onnx file (plus ``FILE.data`` when the weights live beside it), or for a zoo
  network its committed file's bytes with ``tiny`` and ``batch``;
- the device profile's numbers after the task's overrides (source strings and the description are left out:
  they document numbers, they do not change them);
- policy and storage;
- the code version: a hash of every .py and .toml file under compiler/, kernels/, memsim/ and smartmem_sim/
  as they are on disk, so any code or data change invalidates cached results.

So two paths to the same file share a key, and an override that sets a field to the value it already has
does not change the key.
"""
from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from smartmem_sim.errors import UserError
from smartmem_sim.sources import source_hash

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_PACKAGES = ("compiler", "kernels", "memsim", "smartmem_sim")
STORAGE_TYPES = ("fp16", "fp32")
OverrideValue = int | float | str | bool


@dataclass(frozen=True)
class Task:
    """A model compiled under a policy and simulated on a device profile.

    ``overrides`` change profile fields, named as DeviceProfile.sources keys ("cores", "levels.L1.size",
    "image_layout.kind", "dram.latency_cycles", "execution.launch_overhead_s"); they are kept sorted by field, so the order they are given
    in does not matter.
    """

    model: str                 # zoo network name or .onnx path
    device: str = "adreno740"  # shipped profile name or a .toml path
    policy: str = "smartmem"   # any policy compile_model accepts
    tiny: bool = False         # the zoo's tiny twin instead of the full-size network
    batch: int = 1             # batch size (zoo networks only)
    storage: str = "fp16"
    overrides: tuple[tuple[str, OverrideValue], ...] = ()

    def __post_init__(self):
        for name in ("model", "device", "policy"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise UserError(f"Task.{name} must be a non-empty string, got {v!r}")
        if not isinstance(self.tiny, bool):
            raise UserError(f"Task.tiny must be true or false, got {self.tiny!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise UserError(f"Task.batch must be a positive integer, got {self.batch!r}")
        if self.storage not in STORAGE_TYPES:
            raise UserError(f"Task.storage must be one of {', '.join(STORAGE_TYPES)}, got {self.storage!r}")
        pairs = []
        for item in self.overrides:
            if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], OverrideValue)):
                raise UserError(f"Task.overrides must be (field, value) pairs with a number or string value, "
                                f"got {item!r}")
            pairs.append((item[0], item[1]))
        fields = [k for k, _ in pairs]
        dup = sorted({k for k in fields if fields.count(k) > 1})
        if dup:
            raise UserError(f"Task.overrides sets {', '.join(dup)} more than once")
        object.__setattr__(self, "overrides", tuple(sorted(pairs)))

    @property
    def is_onnx_file(self) -> bool:
        return self.model.endswith(".onnx")

    def as_json(self) -> dict[str, Any]:
        """The task's fields as they read back from JSON (overrides as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(**{**data, "overrides": tuple(tuple(p) for p in data.get("overrides", ()))})


# ---------------------------------------------------------------- device profiles with overrides

def profile_data(task: Task) -> tuple[dict, Path]:
    """The task's profile as a TOML dict with its overrides applied (a copy), and the profile's file."""
    from smartmem_sim import memsim
    path = memsim.profiles.profile_path(task.device)
    return apply_overrides(_parse_toml(path.read_bytes(), str(path)), task.overrides, str(path)), path


@lru_cache(maxsize=64)
def _parse_toml(content: bytes, where: str) -> dict:
    """Parsed TOML, memoized by content (a sweep hashes the same few profiles hundreds of times; callers
    must not change the dict: apply_overrides copies it)."""
    try:
        return tomllib.loads(content.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: not valid TOML: {exc}") from None


def apply_overrides(data: dict, overrides: tuple[tuple[str, OverrideValue], ...], where: str) -> dict:
    """A copy of a profile dict with ``overrides`` set (``data`` itself when there are none); each
    overridden field's source says so.

    Only fields the profile states (those with a source) may be overridden; the result is checked by
    memsim.profiles.profile_from_dict when the profile is built.
    """
    if not overrides:
        return data
    out = copy.deepcopy(data)
    for path, value in overrides:
        table, key = _field_table(out, path, where)
        old = table[key]
        table[key] = value
        table.setdefault("source", {})[key] = f"sweep override (was {old!r})"
    return out


def _field_table(data: dict, path: str, where: str) -> tuple[dict, str]:
    parts = path.split(".")
    table: Any = None
    if len(parts) == 1 and parts[0] in data.get("source", {}):
        table = data
    elif len(parts) == 2 and parts[0] in ("image_layout", "dram", "execution"):
        table = data.get(parts[0])
    elif len(parts) == 3 and parts[0] == "levels":
        table = next((t for t in data.get("levels", []) if t.get("name") == parts[1]), None)
    key = parts[-1]
    if not isinstance(table, dict) or key not in table.get("source", {}):
        raise UserError(f"{where}: override '{path}' is not a field of this profile; override one of: "
                        f"{', '.join(_field_paths(data))}")
    return table, key


def _field_paths(data: dict) -> list[str]:
    out = list(data.get("source", {}))
    for name in ("image_layout", "dram", "execution"):
        out += [f"{name}.{k}" for k in data.get(name, {}).get("source", {})]
    for t in data.get("levels", []):
        out += [f"levels.{t.get('name')}.{k}" for k in t.get("source", {})]
    return out


def _numbers_only(data: Any) -> Any:
    """A profile dict without its source tables and description (what changes results)."""
    if isinstance(data, dict):
        return {k: _numbers_only(v) for k, v in data.items() if k not in ("source", "description")}
    if isinstance(data, list):
        return [_numbers_only(v) for v in data]
    return data


def profile_hash(task: Task) -> str:
    data, _ = profile_data(task)
    return _sha(json.dumps(_numbers_only(data), sort_keys=True))


def build_device(task: Task):
    """The memsim.DeviceProfile of the task, with its overrides (its [execution] table included: the cost
    models' wave size, ALU lanes, launch overhead)."""
    from smartmem_sim import memsim

    if not task.overrides:
        return memsim.load_profile(task.device)
    data, path = profile_data(task)
    where = f"{path} with overrides {', '.join(f'{k}={v!r}' for k, v in task.overrides)}"
    return memsim.profiles.profile_from_dict(data, where)


# ---------------------------------------------------------------- the key

def model_hash(task: Task) -> str:
    """Hash of the model's content (see the module docstring)."""
    h = hashlib.sha256()
    if task.is_onnx_file:
        path = Path(task.model)
        if not path.is_file():
            raise UserError(f"model file {path} does not exist")
        if task.batch != 1:
            raise UserError(f"{path}: batch={task.batch} applies to zoo networks only; export the .onnx file at "
                            "the batch size you want instead")
        h.update(path.read_bytes())
        data = Path(f"{path}.data")
        if data.is_file():
            h.update(data.read_bytes())
        return h.hexdigest()
    from smartmem_sim import zoo
    from smartmem_sim.zoo import store

    if task.model not in zoo.list_models():
        raise UserError(f"model '{task.model}' is neither an .onnx file nor a zoo network "
                        f"({', '.join(zoo.list_models())})")
    path = store.model_path(task.model, task.tiny)
    if not path.is_file():
        raise UserError(f"zoo network '{task.model}' (tiny={task.tiny}) has no committed file {path}")
    h.update(json.dumps({"zoo": task.model, "tiny": task.tiny, "batch": task.batch}).encode())
    h.update(path.read_bytes())
    return h.hexdigest()


def code_version(root: Path = REPO_ROOT, packages: tuple[str, ...] = CODE_PACKAGES) -> str:
    """Hash of the .py and .toml sources of ``packages`` under ``root`` as they are on disk now
    (smartmem_sim/sources.py).

    A worker process runs the code it imported, not what is on disk later: compute.py takes its version
    once, when it starts, and refuses tasks hashed under another.
    """
    return source_hash(root, packages)


def task_key(task: Task, code: str | None = None) -> str:
    """The content hash of ``task`` (module docstring); ``code`` defaults to :func:`code_version`."""
    if not isinstance(task, Task):
        raise UserError(f"task_key takes a Task, got {type(task).__name__}")
    parts = {"model": model_hash(task), "profile": profile_hash(task), "policy": task.policy,
             "storage": task.storage, "code": code if code is not None else code_version()}
    return _sha(json.dumps(parts, sort_keys=True))[:32]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
