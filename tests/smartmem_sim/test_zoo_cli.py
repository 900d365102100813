"""`smartmem zoo list|export` through the real CLI entry point."""
from __future__ import annotations

import json

import onnx
import pytest

from smartmem_sim.cli import main
from smartmem_sim.zoo import registry


def test_list_shows_all_18_beside_the_paper_figures(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:20]}
    assert list(rows) == registry.names()
    header = out.splitlines()[0]
    for column in ("ops", "paper ops", "params M", "ref params M", "GMACs", "ref GMACs"):
        assert column in header
    assert rows["swin"][3] == "765" and rows["cswin"][3] == "3863"  # Table 7 ops in the graph
    assert rows["autoformer"][3] == "n/a"  # not among PAPER.md's 8
    for name, cells in rows.items():
        assert cells[2].isdigit(), f"{name}: our op count missing (stats.toml stale?)"


def test_list_json_has_our_stats_and_paper_figures(capsys):
    assert main(["zoo", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == 1 and doc["command"] == "zoo list"
    rows = doc["models"]
    assert [r["name"] for r in rows] == registry.names()
    swin = rows[[r["name"] for r in rows].index("swin")]
    assert swin["paper_ops"] == 765 and swin["ours"]["nodes"] > 0 and swin["ours"]["macs"] > 10**9
    assert swin["ours_tiny"]["nodes"] < swin["ours"]["nodes"]


def test_export_tiny_writes_a_checked_model(tmp_path, capsys):
    out = tmp_path / "swin.tiny.onnx"
    assert main(["zoo", "export", "swin", "--tiny", "-o", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    model = onnx.load(out)
    onnx.checker.check_model(model)
    assert {p.key: p.value for p in model.metadata_props}["smartmem.weights"] == "materialized"


def test_export_structure_only(tmp_path):
    out = tmp_path / "resnext.onnx"
    assert main(["zoo", "export", "resnext", "--structure-only", "-o", str(tmp_path)]) == 0
    assert {p.key: p.value for p in onnx.load(out).metadata_props}["smartmem.weights"] == "stripped"


@pytest.mark.parametrize("argv, message", [
    (["zoo", "export", "resnet"], "unknown zoo model 'resnet'"),
    (["zoo", "export", "vit", "--seed", "x"], "--seed must be"),
    (["zoo", "export", "vit", "-o", "no/such/folder"], "folder does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_export_keeps_an_existing_file_unless_forced(tmp_path, capsys):
    out = tmp_path / "vit.tiny.onnx"
    assert main(["zoo", "export", "vit", "--tiny", "-o", str(tmp_path)]) == 0
    first = out.read_bytes()
    assert main(["zoo", "export", "vit", "--tiny", "--seed", "3", "-o", str(tmp_path)]) == 2
    assert "pass --force" in capsys.readouterr().err and out.read_bytes() == first
    assert main(["zoo", "export", "vit", "--tiny", "--seed", "3", "-o", str(tmp_path), "--force"]) == 0
    assert out.read_bytes() != first
    assert main(["zoo", "export", "vit", "--tiny", "-o", str(out)]) == 2  # a file, not a folder
    assert "is a file" in capsys.readouterr().err
