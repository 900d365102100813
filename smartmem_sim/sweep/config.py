"""Sweep configs: a TOML file naming the axes of a grid; :func:`load_config` turns it into Tasks.

    name = "paper_grid"                  # optional, a label for the summary
    description = "..."                  # optional
    models = ["swin", "vit"]             # zoo names or .onnx paths (relative to the current directory)
    devices = ["adreno740", "mali_g57"]  # shipped profile names or .toml paths
    policies = ["naive", "smartmem"]
    tiny = false                         # or [false, true]
    batch = 1                            # or [1, 2, 4]
    storage = "fp16"                     # or ["fp16", "fp32"]
    csv = "experiments/results/sweeps/paper_grid.csv"   # optional; `smartmem sweep -o` wins
    cache_dir = ".cache/sweep"           # optional (default .cache/sweep)
    workers = 2                          # optional, local cluster size (default 2)

    [[variants]]                         # optional: profile overrides, one table per variant;
    "levels.L1.size" = 8192              # no [[variants]] = the profiles as shipped
    [[variants]]
    "levels.L1.size" = 2048

The grid is the product of every axis (variants included), in the order written: models outermost, then
devices, variants, tiny, batch, storage, policies. Unknown keys, duplicate entries in a list and values of
the wrong type are errors that name the file and the key.
"""
from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmem_sim.errors import UserError
from smartmem_sim.sweep.task import STORAGE_TYPES, Task

LIST_AXES = ("models", "devices", "policies")
DEFAULT_CACHE_DIR = ".cache/sweep"
KEYS = (*LIST_AXES, "tiny", "batch", "storage", "variants", "name", "description", "csv", "cache_dir", "workers")


@dataclass(frozen=True)
class SweepConfig:
    """A parsed config: the grid and where results go."""

    path: Path
    name: str
    tasks: list[Task]
    csv: Path | None
    cache_dir: Path
    workers: int


def load_config(path: str | Path) -> list[Task]:
    """The grid of tasks of a sweep config (module docstring)."""
    return read_config(path).tasks


def read_config(path: str | Path) -> SweepConfig:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"sweep config {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML (duplicate keys are errors too): {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(KEYS)}")
    for key in LIST_AXES:
        if key not in data:
            raise UserError(f"{path}: missing key '{key}' (a list of {key})")
    models = _str_list(data, "models", path)
    devices = _str_list(data, "devices", path)
    policies = _str_list(data, "policies", path)
    _check_policies(policies, path)
    tiny = _axis(data, "tiny", path, False, lambda v: isinstance(v, bool), "true or false")
    batch = _axis(data, "batch", path, 1, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                  "a positive integer")
    storage = _axis(data, "storage", path, "fp16", lambda v: v in STORAGE_TYPES, f"one of {STORAGE_TYPES}")
    variants = _variants(data, path)

    tasks = []
    for model, device, overrides, t, b, s, policy in itertools.product(models, devices, variants, tiny, batch,
                                                                      storage, policies):
        tasks.append(Task(model, device, policy, t, b, s, overrides))

    name = _optional(data, "name", path, str, path.stem)
    _optional(data, "description", path, str, "")
    csv = _optional(data, "csv", path, str, None)
    cache_dir = _optional(data, "cache_dir", path, str, DEFAULT_CACHE_DIR)
    workers = _optional(data, "workers", path, int, 2)
    if isinstance(workers, bool) or workers < 1:
        raise UserError(f"{path}: key 'workers' must be a positive integer, got {workers!r}")
    return SweepConfig(path, name, tasks, Path(csv) if csv else None, Path(cache_dir), workers)


def _str_list(data: dict, key: str, path: Path) -> list[str]:
    v = data[key]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise UserError(f"{path}: key '{key}' must be a non-empty list of strings, got {v!r}")
    dup = sorted({x for x in v if v.count(x) > 1})
    if dup:
        raise UserError(f"{path}: key '{key}' lists {', '.join(dup)} more than once")
    return list(v)


def _axis(data: dict, key: str, path: Path, default: Any, ok, what: str) -> list:
    v = data.get(key, default)
    values = v if isinstance(v, list) else [v]
    bad = [x for x in values if not ok(x)]
    if not values or bad:
        raise UserError(f"{path}: key '{key}' must be {what} or a list of them, got {v!r}")
    if len(set(values)) != len(values):
        raise UserError(f"{path}: key '{key}' lists a value more than once: {v!r}")
    return values


def _optional(data: dict, key: str, path: Path, typ: type, default: Any) -> Any:
    if key not in data:
        return default
    v = data[key]
    if not isinstance(v, typ) or (typ is str and not v):
        raise UserError(f"{path}: key '{key}' must be a {'non-empty string' if typ is str else typ.__name__}, "
                        f"got {v!r}")
    return v


def _variants(data: dict, path: Path) -> list[tuple]:
    v = data.get("variants")
    if v is None:
        return [()]
    if not isinstance(v, list) or not v or not all(isinstance(t, dict) for t in v):
        raise UserError(f"{path}: 'variants' must be one or more [[variants]] tables of profile fields")
    out = []
    for i, table in enumerate(v):
        for field, value in table.items():
            if isinstance(value, dict | list) or not isinstance(value, int | float | str | bool):
                raise UserError(f"{path}: [[variants]] #{i + 1}: '{field}' must be a number, string or boolean, "
                                f"got {value!r}")
        overrides = tuple(sorted(table.items()))
        if overrides in out:
            raise UserError(f"{path}: [[variants]] #{i + 1} repeats an earlier variant")
        out.append(overrides)
    return out


def _check_policies(policies: list[str], path: Path) -> None:
    from smartmem_sim.compiler import pipeline

    known = getattr(pipeline, "ALL", pipeline.POLICIES)
    bad = [p for p in policies if p not in known]
    if bad:
        raise UserError(f"{path}: key 'policies': unknown {', '.join(bad)}; known: {', '.join(known)}")
