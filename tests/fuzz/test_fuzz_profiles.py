"""Fuzz device profiles through `smartmem profiles FILE` and `smartmem cache-study --profile FILE`: malformed
tables (wrong types, out-of-range numbers, missing and unknown keys) and damaged text. Every case ends as the
error contract says; an accepted profile is listed under its own name, and cache-study writes only its --out."""
from __future__ import annotations

import json
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import given

from smartmem_sim.memsim.profiles import DEVICES_DIR
from tests.fuzz.contract import check, fuzz_settings
from tests.fuzz.toml_gen import damaged_text, dumps, mutated_tables

BASE = tomllib.loads((DEVICES_DIR / "adreno740.toml").read_text())
N_TABLES = 200
N_TEXT = 60
N_STUDY = 25
N_COMPARE = 15


def _names(path: Path) -> tuple[str, ...]:
    return (str(path),)


def _profiles(capsys, folder: Path, path: Path):
    result = check(["profiles", path, "--json"], capsys, folder, names=_names(path))
    if result.code == 0:
        listed = json.loads(result.out)
        text = json.dumps(listed)
        data = tomllib.loads(path.read_text())
        assert json.dumps(data["name"]) in text
    return result


@fuzz_settings(N_TABLES)
@given(data=mutated_tables(BASE))
def test_mutated_profile_tables(capsys, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "dev.toml"
        path.write_text(dumps(data))
        _profiles(capsys, folder, path)


@fuzz_settings(N_TEXT)
@given(raw=damaged_text((DEVICES_DIR / "adreno740.toml").read_text()))
def test_damaged_profile_text(capsys, raw):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "dev.toml"
        path.write_bytes(raw)
        _profiles(capsys, folder, path)


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """One cache study outside the examples, so numba's first compilation does not count against them."""
    from smartmem_sim import cli

    cli.main(["cache-study", "--profile", "adreno740", "--width", "8", "--height", "8", "--json",
              "--out", str(tmp_path_factory.mktemp("warm"))])


@fuzz_settings(N_STUDY)
@given(data=mutated_tables(BASE))
def test_mutated_profile_cache_study(capsys, warm, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "dev.toml"
        path.write_text(dumps(data))
        result = check(["cache-study", "--profile", path, "--width", "8", "--height", "8", "--json",
                        "--out", folder / "out"], capsys, folder, outputs=("out",), names=_names(path))
        if result.code == 0:
            assert (folder / "out" / "cache_study.json").is_file()


@fuzz_settings(N_COMPARE)
@given(data=mutated_tables(BASE))
def test_mutated_profile_compare(capsys, warm, data):
    """The cost models read [execution] and [correction], which cache-study does not."""
    import onnx

    from tests.fuzz.onnx_gen import base_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "dev.toml"
        path.write_text(dumps(data))
        model = folder / "m.onnx"
        onnx.save(base_model(), model)
        result = check(["compare", model, "--profile", path, "--json"], capsys, folder, names=_names(path))
        if result.code == 0:
            doc = json.loads(result.out)
            assert doc["command"] == "compare"
