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
