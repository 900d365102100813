"""`smartmem run`: per-kernel times, --check against onnxruntime, --timeline JSON, errors as exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartmem_sim.cli import main

MODEL = Path(__file__).resolve().parents[2] / "smartmem_sim" / "zoo" / "models" / "resnext.tiny.onnx"


@pytest.fixture(scope="module")
def device_ok():
    from kernels.errors import KernelError
    from kernels.runtime.device import select_device

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
