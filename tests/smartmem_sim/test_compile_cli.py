"""`smartmem compile`: plan JSON (kernels, layouts, launch shapes, predicted cost) and the ONNX beside it."""
from __future__ import annotations

import json

import onnx
import pytest

from smartmem_sim.cli import main
from tests.compiler.search.graphs import attention


@pytest.mark.parametrize("policy", ["naive", "search"])
def test_compile_writes_plan_and_onnx(tmp_path, capsys, policy):
    src = tmp_path / "attn.onnx"
    onnx.save(attention(), str(src))
    out = tmp_path / "plan.json"
    assert main(["compile", str(src), "--device", "adreno740", "--policy", policy, "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["policy"] == policy and doc["predicted"]["device"] == "adreno740"
    for step in doc["steps"]:
        assert step["launches"] and all(len(k["global_size"]) == 2 for k in step["launches"])
        assert step["predicted"]["seconds"] > 0
    assert sum(s["predicted"]["seconds"] for s in doc["steps"]) == pytest.approx(doc["predicted"]["seconds"])
    assert all("layout" in t for t in doc["tensors"].values())
    m = onnx.load(str(tmp_path / "plan.onnx"))
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["smartmem.policy"] == policy
    if policy == "naive":
        assert meta["smartmem.copies"] and not meta["smartmem.eliminated"]
    else:
        assert doc["search"]["method"] and meta["smartmem.eliminated"]
    assert "predicted" in capsys.readouterr().out


def test_compile_rejects_bad_output_name(tmp_path, capsys):
    src = tmp_path / "attn.onnx"
    onnx.save(attention(), str(src))
    assert main(["compile", str(src), "-o", str(tmp_path / "plan.txt")]) == 2
    assert "must end in .json" in capsys.readouterr().err


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_compile_never_writes_over_its_input_and_writes_only_its_outputs(tmp_path, capsys):
    src = tmp_path / "m.onnx"
    onnx.save(attention(), str(src))
    before = _snapshot(tmp_path)
    # -o m.json puts the ONNX at m.onnx: the input; refused before any work, nothing written
    assert main(["compile", str(src), "-o", str(tmp_path / "m.json")]) == 2
    assert "that is the input" in capsys.readouterr().err and _snapshot(tmp_path) == before
    assert main(["compile", str(src), "-o", str(tmp_path / "out.json")]) == 0
    after = _snapshot(tmp_path)
    assert set(after) - set(before) == {"out.json", "out.onnx"} and after["m.onnx"] == before["m.onnx"]
    # an existing output is kept unless --force; a compiled model compiles again into a valid model
    assert main(["compile", str(src), "-o", str(tmp_path / "out.json")]) == 2
    assert "pass --force" in capsys.readouterr().err and _snapshot(tmp_path) == after
    assert main(["compile", str(tmp_path / "out.onnx"), "-o", str(tmp_path / "again.json")]) == 0
    onnx.checker.check_model(onnx.load(str(tmp_path / "again.onnx")))
    assert main(["compile", str(src), "-o", str(tmp_path / "out.json"), "--force"]) == 0
    assert main(["compile", str(src), "-o", str(tmp_path)]) == 2  # a folder, not a .json name


@pytest.mark.parametrize("command", ["compile", "compare"])
def test_symbolic_dims_are_bound_with_dim(tmp_path, capsys, command):
    from tests.compiler.frontend.onnx_builders import shape_logic_model

    src = tmp_path / "sym.onnx"
    onnx.save(shape_logic_model(), str(src))
    extra = ["-o", str(tmp_path / "p.json")] if command == "compile" else ["--json"]
    assert main([command, str(src), *extra]) == 2
    assert "--dim NAME=VALUE" in capsys.readouterr().err
    assert main([command, str(src), *extra, "--dim", "b=2"]) == 0
