"""`smartmem run`: per-kernel times, --check against onnxruntime, --timeline JSON, errors as exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartmem_sim.cli import main

MODEL = Path(__file__).resolve().parents[2] / "smartmem_sim" / "zoo" / "models" / "resnext.tiny.onnx"


@pytest.fixture(scope="module")
def device_ok():
    from smartmem_sim.kernels.errors import KernelError
    from smartmem_sim.kernels.runtime.device import select_device

    try:
        select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device: {exc}")
    if not MODEL.exists():
        pytest.skip("resnext.tiny.onnx not exported")


@pytest.mark.opencl
def test_run_check_and_timeline(device_ok, tmp_path, capsys):
    timeline = tmp_path / "t.json"
    rc = main(["run", str(MODEL), "--policy", "smartmem", "--check", "--timeline", str(timeline)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "total:" in out and "(ok," in out
    kernels = int(out.split("total: ")[1].split()[0])
    events = [e for e in json.loads(timeline.read_text())["traceEvents"] if e.get("ph") == "X"]
    assert len(events) == kernels


@pytest.mark.parametrize("argv,needle", [
    (["run", "missing.onnx", "--policy", "smartmem"], "does not exist"),
    (["run", str(MODEL), "--policy", "bogus"], "--policy"),
    (["run", str(MODEL), "--policy", "naive", "--storage", "fp64"], "--storage"),
    (["run", str(MODEL), "--policy", "naive", "--dim", "batch"], "--dim"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


@pytest.mark.opencl
def test_run_several_policies_to_csv(device_ok, tmp_path, capsys):
    import csv

    out = tmp_path / "r.csv"
    rc = main(["run", str(MODEL), "--policy", "naive,smartmem", "--check", "--quiet", "--repeat", "2",
               "--csv", str(out)])
    assert rc == 0, capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert [r["policy"] for r in rows] == ["naive", "smartmem"]
    assert all(r["model"] == "resnext" and r["pass"] == "True" and float(r["total_device_ms"]) > 0 for r in rows)
    assert int(rows[0]["kernels"]) > int(rows[1]["kernels"])  # naive keeps copies smartmem removes
    # the runs after the first report their host wall time (test_latency_is_the_runs_after_the_first)
    assert all(float(r["latency_ms"]) > 0 for r in rows)


def test_latency_is_the_runs_after_the_first(device_ok):
    from smartmem_sim.running import run_policies

    one, = run_policies(MODEL, ["smartmem"], repeat=1)
    assert one.latency_ms is None  # the only run builds the kernels: no latency to report
    three, = run_policies(MODEL, ["smartmem"], repeat=3)
    # an in-order queue runs the kernels one after another inside the timed window (half: timer granularity)
    assert three.latency_ms is not None and three.latency_ms * 1e6 >= 0.5 * sum(t.duration_ns for t in three.timings)


@pytest.mark.parametrize("argv,needle", [
    (["run", str(MODEL), "--policy", "naive,naive"], "twice"),
    (["run", str(MODEL), "--policy", "naive,smartmem", "--timeline", "t.json"], "--timeline"),
    (["run", str(MODEL), "--policy", "naive", "--repeat", "0"], "--repeat"),
])
def test_bad_multi_policy_arguments(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


@pytest.mark.opencl
def test_run_search_prices_layouts_on_the_named_profile(device_ok, capsys):
    rc = main(["run", str(MODEL), "--policy", "search", "--check", "--quiet", "--search-profile", "pocl_cpu"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "profile pocl_cpu" in out and "policy search" in out


def test_search_profile_errors_name_the_profile(capsys):
    from smartmem_sim.running import search_profile_for

    assert search_profile_for(None, "NVIDIA CUDA / NVIDIA H100 80GB HBM3") == "h100_opencl"
    with pytest.raises(Exception, match="--search-profile"):
        search_profile_for(None, "Some Vendor / Some GPU")
    assert main(["run", str(MODEL), "--policy", "search", "--search-profile", "no_such_phone"]) == 2
    assert "no_such_phone" in capsys.readouterr().err


def test_reference_of_a_model_past_the_protobuf_limit_goes_through_a_file(monkeypatch):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    import smartmem_sim.running as run_cmd

    w = numpy_helper.from_array(np.arange(600, dtype=np.float32).reshape(2, 300), "w")  # > 1 KB: external
    # onnxruntime's shape inference reads small initializers such as Unsqueeze's axes: they must stay inline
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Unsqueeze", ["m", "axes"], ["y"])],
                          "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 300])], [w, axes])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([[1.0, 2.0]], np.float32)
    small = run_cmd.reference_outputs(model, {"x": x})["y"]
    monkeypatch.setattr(run_cmd, "PROTOBUF_LIMIT", 10)  # pretend the model is too big to serialize
    assert run_cmd._serialized_size(model) > 10
    before = model.SerializeToString()
    big = run_cmd.reference_outputs(model, {"x": x})["y"]
    assert model.SerializeToString() == before  # the weights the kernels read are left as they were
    assert np.array_equal(small, big) and np.array_equal(big, (x @ np.arange(600, dtype=np.float32).reshape(2, 300))[None])
