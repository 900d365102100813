"""Fuzz sweep configs through `smartmem sweep CONFIG` (the workers replaced by a recorder: the boundary is what
is fuzzed, not dask): malformed tables and damaged text end as the error contract says, and an accepted config
hands the workers exactly the grid the config describes (computed here independently of config.py)."""
from __future__ import annotations

import itertools
import os
import tempfile
import tomllib
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given

from tests.fuzz.contract import check, fuzz_settings
from tests.fuzz.toml_gen import damaged_text, dumps, mutated_tables

BASE = {
    "name": "fuzz", "models": ["vit", "resnext"], "devices": ["adreno740", "mali_g57"],
    "policies": ["naive", "smartmem"], "tiny": [True, False], "batch": [1, 2], "storage": "fp16",
    "csv": "out.csv", "cache_dir": "cache", "workers": 1,
    "variants": [{"levels.L1.size": 4096}, {"cores": 6}],
}
N_TABLES = 150
N_TEXT = 40


@contextmanager
def _inside(folder: Path):
    """Run with the folder as the current directory (a config's relative paths land there)."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _expected(data: dict) -> list[tuple]:
    """The grid a valid config describes, by the format in smartmem_sim/sweep/config.py's docstring."""
    def axis(key, default):
        v = data.get(key, default)
        return v if isinstance(v, list) else [v]

    variants = [tuple(sorted(t.items())) for t in data.get("variants", [])] or [()]
    return [(m, d, p, t, b, s, v) for m, d, v, t, b, s, p in itertools.product(
        data["models"], data["devices"], variants, axis("tiny", False), axis("batch", 1), axis("storage", "fp16"),
        data["policies"])]


def _run(capsys, monkeypatch, folder: Path, path: Path, data: dict | None):
    import smartmem_sim.sweep as sweep
    from smartmem_sim.sweep.runner import SweepOutcome

    seen = []

    def recorder(tasks, *args, **kwargs):
        seen.extend(tasks)
        return SweepOutcome([])

    monkeypatch.setattr(sweep, "execute", recorder)
    outputs = ("cache",)
    if data is not None and isinstance(data.get("csv"), str):
        outputs += (data["csv"],)
    with _inside(folder):
        result = check(["sweep", path, "--no-progress"], capsys, folder, outputs=outputs, names=(str(path),))
    if result.code == 0:
        assert data is not None or not seen
        if data is not None:
            got = [(t.model, t.device, t.policy, t.tiny, t.batch, t.storage, t.overrides) for t in seen]
            assert got == _expected(data)


@fuzz_settings(N_TABLES)
@given(data=mutated_tables(BASE))
def test_mutated_sweep_configs(capsys, monkeypatch, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "grid.toml"
        path.write_text(dumps(data))
        _run(capsys, monkeypatch, folder, path, data)


@fuzz_settings(N_TEXT)
@given(raw=damaged_text(dumps(BASE).replace(", ", "\n", 0)))
def test_damaged_sweep_text(capsys, monkeypatch, raw):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "grid.toml"
        path.write_bytes(raw)
        try:
            data = tomllib.loads(raw.decode())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = None
        _run(capsys, monkeypatch, folder, path, data)
