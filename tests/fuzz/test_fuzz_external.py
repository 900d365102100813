"""Fuzz external-data locations, offsets and lengths through `smartmem inspect`: the contract holds, nothing
outside the model's folder is read (a secret file beside the folder never shows in any output), and the
message for a location is the same whether what it points at outside exists or not."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from tests.fuzz.contract import check, fuzz_settings, run_cli

N_EXTERNAL = 120
W = np.arange(12, dtype=np.float32).reshape(4, 3)
SECRET = "s3cr3t-outside-content"

PARTS = st.sampled_from(["..", ".", "sub", "w.bin", "link", "linkdir", "outside", "secret.bin", "", "~", "C:",
                         "\\", "//", "pipe", "nul\x00", "w.bin/", "sub/w.bin"])


@st.composite
def locations(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from(["w.bin", "sub/w.bin", "./w.bin", "sub/./w.bin"]))  # valid ones
    if kind == 1:
        return "{outside}/" + draw(st.sampled_from(["secret.bin", "w.bin", "missing.bin"]))  # absolute
    if kind == 2:
        return draw(st.text(min_size=0, max_size=12))
    return draw(st.sampled_from(["/", "\\"])).join(draw(st.lists(PARTS, min_size=1, max_size=4)))


NUMBER = st.one_of(st.none(), st.sampled_from(["0", "4", "48", "52", "-4", "1e3", "x", "", "99999999999999999999",
                                               " 4", "\u0664"]))


def _build(folder: Path, location: str, offset, length) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = w.external_data.add()
            e.key, e.value = k, v
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g", [x], [y], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = folder / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return path


def _tree(root: Path) -> tuple[Path, Path]:
    """root/model/ (the model's folder, with data files, a link out, a fifo) and root/outside/ (a secret)."""
    model, outside = root / "model", root / "outside"
    (model / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.bin").write_text(SECRET * 4)
    (outside / "w.bin").write_bytes(W.tobytes())
    (model / "w.bin").write_bytes(W.tobytes() + b"\0" * 4)
    (model / "sub" / "w.bin").write_bytes(W.tobytes())
    os.symlink(outside / "w.bin", model / "link")
    os.symlink(outside, model / "linkdir")
    os.mkfifo(model / "pipe")
    return model, outside


@fuzz_settings(N_EXTERNAL)
@given(location=locations(), offset=NUMBER, length=NUMBER)
def test_external_data_locations(capsys, location, offset, length):
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, outside = _tree(Path(tmp))
        location = location.replace("{outside}", str(outside))
        path = _build(model_dir, location, offset, length)
        argv = ["inspect", path, "--json"]
        result = check(argv, capsys, Path(tmp), names=(str(path),))
        assert SECRET not in result.out + result.err
        if result.code == 0:
            summary = json.loads(result.out)
            assert [o["shape"] for o in summary["outputs"]] == [[2, 3]]
            return
        # the same message when nothing outside exists (only files inside the folder may change it)
        for p in outside.iterdir():
            p.unlink()
        again = run_cli(argv, capsys)
        assert (again.code, again.err) == (result.code, result.err), \
            f"the message depends on files outside the model's folder: {result.err!r} vs {again.err!r}"
