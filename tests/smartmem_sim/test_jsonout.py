"""Every reporting command's --json output (and the JSON files compare writes) parses with a strict parser:
no NaN or Infinity, which Python's json writes by default and which is not JSON."""
import json
import math

import numpy as np
import pytest

from smartmem_sim import jsonout
from smartmem_sim.cli import main
from tests.smartmem_sim.test_explain_cli import _model_file


def strict(text: str):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_everywhere():
    doc = {"a": float("nan"), "b": [1.0, float("inf"), np.float32("nan"), np.float64(2.5)], "c": (np.int64(3), -math.inf),
           "d": {"e": "nan"}}
    assert strict(jsonout.dumps(doc)) == {"a": None, "b": [1.0, None, None, 2.5], "c": [3, None], "d": {"e": "nan"}}
    with pytest.raises(ValueError):
        strict(json.dumps({"a": float("nan")}))  # what the commands wrote before


@pytest.mark.parametrize("argv", [
    ["compare", "{model}", "--json", "--no-plot", "--out", "{tmp}/cmp"],
    ["explain", "{model}", "--json"],
    ["explain-time", "{model}", "--json", "--top", "2"],
    ["inspect", "{model}", "--json"],
    ["zoo", "list", "--json"],
    ["cache-study", "--device", "adreno740", "--width", "64", "--height", "64", "--json", "--out", "{tmp}/cs"],
    ["profiles", "--json"],
])
def test_json_output_is_strict(tmp_path, capsys, argv):
    model = _model_file(tmp_path)
    assert main([a.format(model=model, tmp=tmp_path) for a in argv]) == 0
    doc = strict(capsys.readouterr().out)
    assert doc["schema"] == jsonout.SCHEMA and doc["command"] == " ".join(argv[:2] if argv[0] == "zoo" else argv[:1])
    for written in tmp_path.rglob("*.json"):
        strict(written.read_text())


def test_compare_json_has_null_where_a_number_is_undefined(tmp_path, capsys, monkeypatch):
    from smartmem_sim.commands import compare

    real = compare.compare

    def with_undefined_error(*args, **kwargs):
        results = real(*args, **kwargs)
        results[0].meta["rel_error_note"] = float("nan")  # a number that is not defined
        return results

    monkeypatch.setattr(compare, "compare", with_undefined_error)
    assert main(["compare", str(_model_file(tmp_path)), "--json", "--no-plot", "--out", str(tmp_path / "o")]) == 0
    doc = strict(capsys.readouterr().out)
    assert doc["policies"][0]["rel_error_note"] is None


def test_devices_json_is_strict_with_its_schema(capsys):
    """`devices --json` prints what the probe found, a working device or none."""
    main(["devices", "--json"])
    doc = strict(capsys.readouterr().out)
    assert doc["schema"] == jsonout.SCHEMA and doc["command"] == "devices" and isinstance(doc["devices"], list)


def test_compile_plan_json_carries_its_schema(tmp_path):
    model = _model_file(tmp_path)
    assert main(["compile", str(model), "-o", str(tmp_path / "p")]) == 0
    doc = strict((tmp_path / "p" / "plan.json").read_text())
    assert doc["schema"] == jsonout.SCHEMA and doc["command"] == "compile" and doc["steps"]
