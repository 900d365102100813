"""`smartmem inspect`: JSON and table output, --dim binding, and one-line errors with exit status 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from smartmem_sim.cli import main
from tests.compiler.frontend.onnx_builders import make, matmul_model, shape_logic_model

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def save(model, path) -> str:
    onnx.save(model, path)
    return str(path)


def test_json_summary_with_dims(tmp_path, capsys):
    path = save(matmul_model(), tmp_path / "mm.onnx")
    assert main(["inspect", path, "--json", "--dim", "b=3"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["model"] == "mm" and s["nodes"] == 4
    assert s["op_histogram"] == {"Add": 1, "Gather": 1, "MatMul": 1, "Reshape": 1}
    assert s["layout_transforms"]["by_op"] == {"Gather": 1, "Reshape": 1}
    assert s["parameters"] == 15 and s["macs"]["matmul_weight"] == 3 * 3 * 4
    assert s["inputs"] == [{"name": "x", "shape": [3, 4], "dtype": "float32"}]
    assert s["outputs"] == [{"name": "y", "shape": [3, 3, 1], "dtype": "float32"}]


def test_human_table(capsys):
    assert main(["inspect", str(LIGHT / "light_squeezenet.onnx")]) == 0
    out = capsys.readouterr().out
    for text in ("light_squeezenet", "operators", "layout-transformation ops", "parameters", "MACs", "Conv", "26"):
        assert text in out


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("smartmem inspect: error: ") and "\n" not in err
    return err


def test_errors_exit_2_with_one_line(tmp_path, capsys):
    good = matmul_model().SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) // 2])
    assert "cut.onnx" in _error(["inspect", str(tmp_path / "cut.onnx"), "--dim", "b=1"], capsys)
    (tmp_path / "text.onnx").write_text("not a model\n")
    assert "text.onnx" in _error(["inspect", str(tmp_path / "text.onnx")], capsys)
    assert "does not exist" in _error(["inspect", str(tmp_path / "missing.onnx")], capsys)
    custom = make([helper.make_node("Foo", ["x"], ["y"], domain="my.ops", name="foo_1")],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    custom.opset_import.append(helper.make_opsetid("my.ops", 1))
    err = _error(["inspect", save(custom, tmp_path / "custom.onnx")], capsys)
    assert "custom.onnx" in err and "'foo_1'" in err and "my.ops" in err
    err = _error(["inspect", save(shape_logic_model(), tmp_path / "sym.onnx")], capsys)
    assert "sym.onnx" in err and "'b' (input 'x' axis 0)" in err and "--dim NAME=VALUE" in err
    onnx.save(matmul_model(), tmp_path / "ext.onnx", save_as_external_data=True, location="ext.bin", size_threshold=0)
    (tmp_path / "ext.bin").unlink()
    err = _error(["inspect", str(tmp_path / "ext.onnx"), "--dim", "b=1"], capsys)
    assert "ext.onnx" in err and "'ext.bin'" in err and "does not exist" in err


@pytest.mark.parametrize("dim", ["b", "b=x", "b=0", "=3"])
def test_bad_dim_syntax(tmp_path, capsys, dim):
    path = save(matmul_model(), tmp_path / "mm.onnx")
    assert "--dim" in _error(["inspect", path, "--dim", dim], capsys)


def test_real_process_exit_status(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    proc = subprocess.run([sys.executable, "-m", "smartmem_sim.cli", "inspect", str(tmp_path / "bad.onnx")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert proc.returncode == 2 and "bad.onnx" in proc.stderr and proc.stdout == ""
