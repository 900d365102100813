"""experiments/common.py: numbers, the paper's data file, CSV, and the in-process sweep path."""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import helper

from experiments import common
from smartmem_sim.errors import UserError
from tests.compiler.passes.builders import model


def test_geomean_and_ratio():
    assert common.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert common.geomean([None, "", float("nan"), 0, 3.0]) == pytest.approx(3.0)
    assert math.isnan(common.geomean([]))
    assert common.ratio(6, 3) == 2 and math.isnan(common.ratio(1, 0)) and math.isnan(common.ratio(None, 2))


def test_shipped_paper_numbers_load_and_match_paper_md():
    p = common.paper()
    assert p["table8"]["geomean_over_mnn"] == 7.9 and p["fig7"]["miss_reduction"] == 2.0
    swin = p["table1"]["models"]["swin"]
    assert swin["implicit_pct"] + swin["explicit_pct"] + swin["compute_pct"] == pytest.approx(100.0)


def _doc():
    import copy

    return copy.deepcopy(common.paper())


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(fig99={"source": "x"}), "unknown section"),
    (lambda d: d["fig7"].pop("source"), "needs a `source`"),
    (lambda d: d["fig7"].update(access_reduction=-1), "must be a positive number"),
    (lambda d: d["fig7"].update(extra=1.0), "unknown key"),
    (lambda d: d["table1"]["models"]["swin"].pop("latency_ms"), "exactly the keys"),
])
def test_bad_paper_numbers_are_errors(edit, message):
    d = _doc()
    edit(d)
    with pytest.raises(UserError, match=message):
        common.parse_paper(d, "paper_numbers.toml")


def test_csv_has_header_line_and_blank_missing_values():
    text = common.csv_text([{"a": 1.23456789, "b": None}, {"a": float("nan"), "b": "x"}], ["a", "b"], "# commit z")
    assert text.splitlines() == ["# commit z", "a,b", "1.23457,", ",x"]


def test_model_names_checks_zoo_names():
    assert common.model_names("swin, vit") == ["swin", "vit"]
    assert len(common.model_names("")) == 18
    with pytest.raises(UserError, match="neither an .onnx path nor a zoo network"):
        common.model_names("swin,alexnet")


@pytest.mark.slow  # the first simulation of a process compiles memsim's numba kernels when their cache is stale
def test_in_process_sweep_computes_then_reads_the_cache(tmp_path):
    from smartmem_sim.sweep import Task

    rng = np.random.default_rng(0)
    m = model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])],
              {"x": (8, 16)}, {"y": (8, 4)}, {"w": rng.standard_normal((16, 4)).astype(np.float32)})
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    tasks = [Task(str(path), "adreno740", p) for p in ("naive", "smartmem")]
    first = common.run_in_process(tasks, tmp_path / "cache")
    assert [r["policy"] for r in first] == ["naive", "smartmem"]
    assert all(common.ok(r) and r["seconds"] > 0 for r in first)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    again = common.run_in_process(tasks, tmp_path / "cache")
    assert [r["key"] for r in again] == [r["key"] for r in first]
    assert [r["seconds"] for r in again] == [r["seconds"] for r in first]
    assert common.level_total(first[0], common.level_names(first[0])[0], "accesses") > 0


def test_read_csv_reads_what_write_csv_wrote(tmp_path):
    rows = [{"model": "swin", "ratio": 1.5, "paper": None}, {"model": "geomean", "ratio": float("nan"), "paper": 7.9}]
    path = tmp_path / "t.csv"
    common.write_csv(path, rows, ["model", "ratio", "paper"], "# commit x")
    back = common.read_csv(path)
    assert back == [{"model": "swin", "ratio": 1.5, "paper": None}, {"model": "geomean", "ratio": None, "paper": 7.9}]
    with pytest.raises(common.UserError, match="replot"):
        common.read_csv(tmp_path / "absent.csv")
