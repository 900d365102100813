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

Everything a config names is checked when it is read, before a worker starts: a model is a zoo network
(``NAME``; the ``tiny`` axis picks its tiny twin) or an existing .onnx file (its content is checked by the task that loads it, so a
broken file fails that task alone), and every device loads as a profile with every variant applied (so a
variant that sets a cache size no device has fails here, naming the device and the variant, instead of
failing every task on the workers). Numbers are bounded by ``BOUNDS``.
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

# Upper bounds that stop a typo before it starts a cluster: the paper's batch study goes to 16 (fig10_batch);
# a LocalCluster runs one process per worker, and a grid is expanded into Task objects in memory.
BOUNDS = {"batch": 1024, "workers": 256, "tasks": 100_000}


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
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"sweep config {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"sweep config {path}: cannot read it ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); a sweep config is a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML (duplicate keys are errors too): {exc}") from None
    except RecursionError:
        raise UserError(f"{path}: not valid TOML (nested too deeply)") from None
    _no_nul(data, path, "")
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
    batch = _axis(data, "batch", path, 1,
                  lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= BOUNDS["batch"],
                  f"a positive integer (at most {BOUNDS['batch']})")
    storage = _axis(data, "storage", path, "fp16", lambda v: v in STORAGE_TYPES, f"one of {STORAGE_TYPES}")
    variants = _variants(data, path)
    size = len(models) * len(devices) * len(variants) * len(tiny) * len(batch) * len(storage) * len(policies)
    if size > BOUNDS["tasks"]:
        raise UserError(f"{path}: the grid has {size:,} tasks; at most {BOUNDS['tasks']:,} (split the sweep)")
    _check_models(models, path)
    _check_devices(devices, variants, path)

    tasks = []
    for model, device, overrides, t, b, s, policy in itertools.product(models, devices, variants, tiny, batch,
                                                                      storage, policies):
        tasks.append(Task(model, device, policy, t, b, s, overrides))

    name = _optional(data, "name", path, str, path.stem)
    _optional(data, "description", path, str, "")
    csv = _optional(data, "csv", path, str, None)
    cache_dir = _optional(data, "cache_dir", path, str, DEFAULT_CACHE_DIR)
    workers = _optional(data, "workers", path, int, 2)
    if csv:
        _check_output(csv, "csv", path, folder=False)
    _check_output(cache_dir, "cache_dir", path, folder=True)
    if isinstance(workers, bool) or not 1 <= workers <= BOUNDS["workers"]:
        raise UserError(f"{path}: key 'workers' must be a positive integer (at most {BOUNDS['workers']}), got {workers!r}")
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


def _no_nul(value: Any, path: Path, key: str) -> None:
    """No string holds a NUL byte (TOML allows \\u0000; no file name or profile field can hold it)."""
    if isinstance(value, str) and "\x00" in value:
        raise UserError(f"{path}: key '{key}' holds a NUL character ({value!r})")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k, path, key)
            _no_nul(v, path, f"{key}.{k}" if key else k)
    elif isinstance(value, list):
        for v in value:
            _no_nul(v, path, key)


# Longest file name the CSV may have: NAME_MAX is 255 bytes on every common file system, and the atomic writer
# (smartmem_sim/atomic.py) names its temporary file ".NAME.<random>.csv" beside it.
MAX_NAME_BYTES = 200


def _check_output(value: str, key: str, path: Path, folder: bool) -> None:
    """A CSV or cache path the sweep can write when it ends: checked now, so a long sweep does not end in an
    error (nothing is created here)."""
    out = Path(value)
    parts = out.parts
    too_long = [p for p in parts if len(p.encode()) > (255 if folder else MAX_NAME_BYTES)]
    if too_long:
        raise UserError(f"{path}: key '{key}': the name {too_long[0][:40]!r}... is too long for a file system; "
                        "give a shorter path")
    if not folder and (out.name in ("", ".", "..") or value.endswith(("/", "\\"))):
        raise UserError(f"{path}: key '{key}' = {value!r} names a folder; give a file name, e.g. results.csv")
    try:
        if folder and out.exists() and not out.is_dir():
            raise UserError(f"{path}: key '{key}' = {value!r} is a file; the result cache is a folder")
        if not folder and out.is_dir():
            raise UserError(f"{path}: key '{key}' = {value!r} is a folder; give a file name, e.g. results.csv")
        blocked = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    except OSError as exc:
        raise UserError(f"{path}: key '{key}' = {value!r}: {exc.strerror}") from None
    if blocked is not None:
        raise UserError(f"{path}: key '{key}' = {value!r}: {blocked} is a file, not a folder")


def _check_models(models: list[str], path: Path) -> None:
    """Each model names a zoo network (NAME or NAME.tiny) or an existing .onnx file."""
    from smartmem_sim import zoo

    names = zoo.list_models()
    for m in models:
        if m.endswith(".onnx"):
            try:
                ok = Path(m).is_file()
            except (OSError, ValueError):
                ok = False
            if not ok:
                raise UserError(f"{path}: key 'models': model file {m} does not exist (paths are relative to the "
                                "current directory)")
        elif m not in names:
            hint = (f"; for its tiny twin write '{m.removesuffix('.tiny')}' and tiny = true"
                    if m.removesuffix(".tiny") in names else f" ({', '.join(names)})")
            raise UserError(f"{path}: key 'models': '{m}' is neither a zoo network nor an .onnx file{hint}")


def _check_devices(devices: list[str], variants: list[tuple], path: Path) -> None:
    """Every device loads as a profile with every variant applied, as the workers will build it."""
    from smartmem_sim.errors import user_error_types
    from smartmem_sim.sweep.task import build_device

    for device in devices:
        for i, overrides in enumerate(variants):
            try:
                build_device(Task("config-check", device, overrides=overrides))
            except user_error_types() as exc:
                which = f" with [[variants]] #{i + 1}" if overrides else ""
                raise UserError(f"{path}: key 'devices': '{device}'{which}: {exc}") from None


def _check_policies(policies: list[str], path: Path) -> None:
    from smartmem_sim.compiler import pipeline

    known = getattr(pipeline, "ALL", pipeline.POLICIES)
    bad = [p for p in policies if p not in known]
    if bad:
        raise UserError(f"{path}: key 'policies': unknown {', '.join(bad)}; known: {', '.join(known)}")
