"""External data is resolved by our code (frontend/read.py), only inside the model's folder: no absolute
paths, no '..', no symbolic links, nothing outside looked at, and errors that say nothing about outside files
(the message for an outside target is the same whether the target exists or not)."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import load_model, read_model

W = np.arange(12, dtype=np.float32).reshape(4, 3)


def _model(folder, location, offset=None, length=None, extra=()):
    """m.onnx in ``folder`` whose weight 'w' points to ``location`` (the data file is not written here)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length), *extra):
        if v is not None:
            e = w.external_data.add()
            e.key, e.value = k, str(v)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g", [x], [y], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return path


@pytest.fixture
def tree(tmp_path):
    """model/ (the model's folder) and outside/ beside it, holding a valid data file."""
    (tmp_path / "model").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "w.bin").write_bytes(W.tobytes())
    return tmp_path


def test_a_data_file_in_the_folder_or_a_subfolder_loads(tree):
    (tree / "model" / "sub").mkdir()
    (tree / "model" / "sub" / "w.bin").write_bytes(b"\0" * 4 + W.tobytes())
    path = _model(tree / "model", "sub/w.bin", offset=4, length=48)
    g = load_model(path)
    np.testing.assert_array_equal(g.constant_value("w"), W)
    t = next(t for t in read_model(path).graph.initializer if t.name == "w")
    assert t.data_location == TensorProto.DEFAULT and not t.external_data
    np.testing.assert_array_equal(numpy_helper.to_array(t), W)


def _message(path):
    with pytest.raises(CompilerError) as err:
        read_model(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: initializer 'w'")
    return msg


@pytest.mark.parametrize("template", ["{outside}/w.bin", "../outside/w.bin", "sub/../../outside/w.bin",
                                      "./../outside/w.bin", "..\\outside\\w.bin", "~/w.bin", "C:\\w.bin"])
def test_an_escaping_location_is_refused_the_same_whether_its_target_exists(tree, template):
    location = template.format(outside=tree / "outside")
    path = _model(tree / "model", location)
    present = _message(path)
    (tree / "outside" / "w.bin").unlink()
    absent = _message(path)
    assert present == absent  # nothing about the outside file leaks
    assert "outside the" not in present or "model's folder" in present
    assert "exist" not in present and "bytes" not in present


def test_a_symbolic_link_in_the_folder_is_not_followed(tree):
    os.symlink(tree / "outside" / "w.bin", tree / "model" / "w.bin")
    msg = _message(_model(tree / "model", "w.bin"))
    assert "symbolic link" in msg and str(tree / "outside") not in msg
    os.symlink(tree / "outside", tree / "model" / "linked")
    msg = _message(_model(tree / "model", "linked/w.bin"))
    assert "symbolic link ('linked')" in msg and str(tree / "outside") not in msg


def test_nothing_outside_the_folder_is_looked_at(tree, monkeypatch):
    """Every path our reader hands to the OS is the model, its folder, or one component (no '..') relative to a
    descriptor of a folder inside it."""
    seen = []
    for fn in ("stat", "lstat", "open"):
        real = getattr(os, fn)

        def spy(p, *a, _real=real, **k):
            seen.append((os.fspath(p), "dir_fd" in k))
            return _real(p, *a, **k)
        monkeypatch.setattr(os, fn, spy)
    for location in ("../outside/w.bin", str(tree / "outside" / "w.bin"), "missing.bin"):
        seen.clear()
        with pytest.raises(CompilerError):
            read_model(_model(tree / "model", location))
        for p, relative in seen:
            if relative:
                assert "/" not in p and p not in ("..", "."), p
            else:
                assert os.path.abspath(p).startswith(str(tree / "model")), p


def test_a_fifo_or_folder_is_refused_without_blocking(tree):
    os.mkfifo(tree / "model" / "pipe")
    assert "not a regular file" in _message(_model(tree / "model", "pipe"))
    (tree / "model" / "dir").mkdir()
    assert "not a regular file" in _message(_model(tree / "model", "dir"))


@pytest.mark.parametrize("kwargs, pattern", [
    ({"length": 40}, r"needs 48 bytes but its external data gives 40"),
    ({"offset": 8}, r"needs 48 bytes but its external data gives 40"),
    ({"offset": 8, "length": 48}, r"is 48 bytes but the tensor needs bytes 8 to 56.*truncated"),
    ({"offset": "-4"}, r"'offset' = '-4' is not a byte count"),
    ({"length": "1e3"}, r"'length' = '1e3' is not a byte count"),
    ({"extra": (("location", "w.bin"),)}, r"gives 'location' twice"),
])
def test_bad_offsets_and_lengths_are_named(tree, kwargs, pattern):
    (tree / "model" / "w.bin").write_bytes(W.tobytes())
    _model(tree / "model", "w.bin", **kwargs)
    with pytest.raises(CompilerError, match=pattern):
        read_model(tree / "model" / "m.onnx")


def test_a_location_that_is_empty_or_names_no_file_is_refused(tree):
    assert "names no data file" in _message(_model(tree / "model", ""))
    assert "names no file" in _message(_model(tree / "model", "./"))
