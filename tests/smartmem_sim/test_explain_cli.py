import json

import numpy as np
import onnx
from onnx import helper

from smartmem_sim.cli import main
from tests.compiler.passes.builders import model


def _model_file(tmp_path):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["a"], name="mm1"),
             helper.make_node("Reshape", ["a", "shp"], ["b"], name="rs"),
             helper.make_node("Transpose", ["b"], ["c"], perm=[0, 2, 1, 3], name="tr"),
             helper.make_node("MatMul", ["c", "W2"], ["d"], name="mm2"),
             helper.make_node("Relu", ["d"], ["y"], name="relu")]
    m = model(nodes, {"x": (2, 6, 16)}, {"y": (2, 4, 6, 5)},
              {"W1": rng.standard_normal((16, 32)).astype(np.float32),
               "W2": rng.standard_normal((8, 5)).astype(np.float32), "shp": np.array([2, 6, 4, 8])})
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    return path


def test_explain_json_smartmem_and_naive(tmp_path, capsys):
    path = _model_file(tmp_path)
    assert main(["explain", str(path), "--policy", "smartmem", "--json"]) == 0
    sm = json.loads(capsys.readouterr().out)
    assert sm["policy"] == "smartmem" and sm["kernels"] == 2 and sm["copies"] == 0
    by_edge = {(e["producer"], e["consumer"]): e for e in sm["edges"]}
    assert set(by_edge) == {("mm1", "rs"), ("rs", "tr"), ("tr", "mm2"), ("mm2", "relu")}
    assert by_edge[("mm1", "rs")]["groups"] == "ILD&Var -> ILD&Fixed"
    assert by_edge[("mm1", "rs")]["action"] == "eliminate 2nd"
    assert by_edge[("rs", "tr")]["action"] == "eliminate both"
    assert by_edge[("mm2", "relu")]["action"] == "fuse"
    assert main(["explain", str(path), "--policy", "naive", "--json"]) == 0
    naive = json.loads(capsys.readouterr().out)
    survived = {c["step"]: c["reason"] for c in naive["surviving_copies"]}
    # MNN composes Reshape -> Transpose into one Raster, which goes image -> buffer -> gather -> image
    assert {"tr/image_to_nchw_buffer", "tr/raster_buffer", "tr/nchw_buffer_to_image"} <= set(survived)
    assert "rs" not in survived and "one Raster" not in survived["tr/raster_buffer"]
    assert "Raster" in survived["tr/raster_buffer"] and "RasterExecution.cpp" in survived["tr/raster_buffer"]


def test_explain_text_says_why_a_transform_survived(tmp_path, capsys):
    path = _model_file(tmp_path)
    assert main(["explain", str(path), "--policy", "fusion"]) == 0
    out = capsys.readouterr().out
    assert "under fusion" in out and "surviving copies (2)" in out
    assert "tr writes c: fusion (DNNFusion-like)" in out


def test_explain_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["explain", str(tmp_path / "missing.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("smartmem explain: error:")
