"""Plain regression tests for what the fuzz suite (tests/fuzz/) found at the model boundary; each was an exit 1
(an internal error), a multi-line message or a crash of the process before its fix."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from smartmem_sim import cli
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import load_model, materialize_weights, read_model


def _slice_on(dims):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("st", 0), ("en", 1))]
    g = helper.make_graph([helper.make_node("Slice", ["x", "st", "en"], ["y"], name="sl")], "g", [x], [y], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_negative_input_dim_is_refused_before_onnx_inference_aborts_the_process():
    """onnx's Slice inference fails a C++ assertion (abort) on a negative dim: checked in a child process, so an
    abort fails this test instead of killing the run."""
    code = ("from tests.compiler.frontend.test_fuzz_regressions import _slice_on\n"
            "from smartmem_sim.compiler.frontend import load_model\n"
            "from smartmem_sim.compiler.errors import CompilerError\n"
            "try:\n    load_model(_slice_on([-7]), name='m.onnx')\n"
            "except CompilerError as e:\n    print(e)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr[-500:]
    assert "m.onnx: input 'x' [-7] has a negative size at axis 0" in r.stdout


def test_invalid_utf8_in_a_name_is_a_named_error(tmp_path, capsys):
    data = _slice_on([4]).SerializeToString().replace(b"Slice", b"\xd2lice")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    with pytest.raises(CompilerError, match=r"m\.onnx: text field model\.graph\.node\[0\]\.op_type is not valid "
                                            r"UTF-8 \(b'\\xd2lice'\)"):
        read_model(path)
    assert cli.main(["inspect", str(path)]) == 2  # was a TypeError in onnx's schema lookup (exit 1)
    assert capsys.readouterr().err.count("\n") == 1


def test_a_stripped_weight_with_a_negative_dim_is_named_before_it_is_filled():
    m = _slice_on([4])
    m.graph.initializer.append(onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-3]))
    with pytest.raises(CompilerError, match=r"m\.onnx: initializer 'w' \[-3\] has a negative dim"):
        materialize_weights(m, 0, name="m.onnx")  # was numpy's 'negative dimensions are not allowed'


def test_a_location_with_a_newline_stays_on_one_line(tmp_path):
    m = _slice_on([4])
    w = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1])
    w.data_location = TensorProto.EXTERNAL
    e = w.external_data.add()
    e.key, e.value = "location", "a\nb\r"
    m.graph.initializer.append(w)
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(CompilerError) as err:
        read_model(path)
    assert "\n" not in str(err.value) and "'a\\nb\\r'" in str(err.value)


def test_instance_normalization_of_rank_1_is_refused():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.full([1], 0.5, np.float32), n) for n in ("s", "b")]
    g = helper.make_graph([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], name="inn")], "g", [x],
                          [y], inits)
    with pytest.raises(CompilerError, match=r"node 'inn' \(op InstanceNormalization\): input 'x' \[1\] has rank 1"):
        load_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), name="m.onnx")


def test_batch_normalization_of_rank_1_is_refused_not_crashed(tmp_path, capsys):
    """Legal ONNX (onnxruntime takes it), but the kernels index axis 1: compare raised IndexError (exit 1)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.full([1], 0.5, np.float32), f"w{j}") for j in range(4)]
    g = helper.make_graph([helper.make_node("BatchNormalization", ["x", "w0", "w1", "w2", "w3"], ["y"], name="bn")],
                          "g", [x], [y], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert cli.main(["compare", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'bn' (op BatchNormalization): input 'x' [8] has rank 1" in err


def test_a_negative_expand_shape_is_named_before_inference():
    """Expand to [-1] gave a negative dim that made onnx's Slice inference abort the process."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("s", -1), ("st", 0), ("en", -1))]
    nodes = [helper.make_node("Expand", ["x", "s"], ["e"], name="ex"),
             helper.make_node("Slice", ["e", "st", "en"], ["y"], name="sl")]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    with pytest.raises(CompilerError, match=r"node 'ex' \(op Expand\): its shape input 's' = \[-1\] holds -1"):
        load_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), name="m.onnx")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the guard forks")
def test_a_crash_inside_onnx_inference_becomes_a_named_error(monkeypatch):
    """The last guard: strict inference runs in a forked child, so an abort inside onnx is an error, not the end
    of the process (the abort is simulated: which models make onnx abort depends on onnx's build)."""
    from smartmem_sim.compiler.frontend import shapes

    monkeypatch.setattr(shapes, "_strict_inference", lambda model, name: os.abort())
    with pytest.raises(CompilerError, match=r"m\.onnx: onnx's shape inference crashed on this model \(signal 6"):
        load_model(_slice_on([4]), name="m.onnx")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the guard forks")
def test_a_hanging_child_gives_up_the_guard_and_checks_in_process(monkeypatch):
    """A forked child can hang on a lock another thread held at the fork; the parent then kills it and runs the
    check itself, so a load never hangs on the guard."""
    import time

    from smartmem_sim.compiler.frontend import shapes

    parent, ran_here = os.getpid(), []
    real = shapes._strict_inference

    def strict(model, name):
        if os.getpid() != parent:
            time.sleep(60)
        ran_here.append(True)
        real(model, name)
    monkeypatch.setattr(shapes, "_strict_inference", strict)
    monkeypatch.setattr(shapes, "_CHILD_TIMEOUT_S", 0.5)
    t0 = time.monotonic()
    assert load_model(_slice_on([4]), name="m.onnx") is not None
    assert ran_here and time.monotonic() - t0 < 20
