"""Execute the notebooks of examples/ with nbclient (each in a temporary copy) and fail on any cell error.

The kernel is this interpreter: ipykernel's spec is written into a temporary directory that JUPYTER_PATH puts
first, so neither a user-level `python3` kernelspec nor a missing `ipykernel install` changes which Python runs.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

import pytest

from smartmem_sim.kernels.errors import KernelError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CELL_TIMEOUT_S = 300

nbformat = pytest.importorskip("nbformat", reason="the [test] extra's nbformat runs the example notebooks")
nbclient = pytest.importorskip("nbclient", reason="the [test] extra's nbclient runs the example notebooks")
pytest.importorskip("ipykernel", reason="the [test] extra's ipykernel runs the example notebooks")


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A JUPYTER_PATH whose kernels/python3 launches sys.executable."""
    from ipykernel.kernelspec import write_kernel_spec

    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(root / "kernels" / "python3", overrides={"argv": [
        sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]})
    return root


def run_notebook(name: str, tmp_path: Path, kernel_path: Path, monkeypatch) -> float:
    """Execute a copy of examples/NAME in tmp_path; returns the seconds it took."""
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # a notebook's tempfile.mkdtemp() lands in pytest's tmp_path
    copy = tmp_path / name
    shutil.copy(EXAMPLES / name, copy)
    nb = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{name}: a cell raised\n{exc}")
    seconds = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", ())
              if o.output_type == "error"]
    assert not errors, f"{name}: {errors}"
    nbformat.write(nb, copy)  # the executed notebook, for a look after a failure
    print(f"{name}: {seconds:.1f} s")
    return seconds


def images(name: str, tmp_path: Path) -> int:
    nb = nbformat.read(tmp_path / name, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", ()))


def test_notebooks_are_generated_from_the_script():
    """examples/make_notebooks.py writes exactly the committed notebooks, which carry no outputs."""
    spec = importlib.util.spec_from_file_location("make_notebooks", EXAMPLES / "make_notebooks.py")
    make_notebooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_notebooks)
    assert set(make_notebooks.NOTEBOOKS) == {p.name for p in EXAMPLES.glob("*.ipynb")}
    for name, cells in make_notebooks.NOTEBOOKS.items():
        committed = nbformat.read(EXAMPLES / name, as_version=4)
        assert nbformat.writes(committed) == nbformat.writes(make_notebooks.build(cells)), \
            f"{name} differs from make_notebooks.py: run python examples/make_notebooks.py"
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in committed.cells if c.cell_type == "code"), f"{name} carries outputs"


def test_cache_study(tmp_path, kernel_path, monkeypatch):
    run_notebook("cache_study.ipynb", tmp_path, kernel_path, monkeypatch)
    assert images("cache_study.ipynb", tmp_path) == 1


def test_compare_policies(tmp_path, kernel_path, monkeypatch):
    run_notebook("compare_policies.ipynb", tmp_path, kernel_path, monkeypatch)
    assert images("compare_policies.ipynb", tmp_path) == 2


@pytest.mark.opencl
def test_calibrate_validate(tmp_path, kernel_path, monkeypatch):
    from smartmem_sim.kernels.runtime.device import select_device

    try:
        device = select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")
    if "CPU" not in device.info.device_type:
        pytest.skip("the notebook's tiny-budget calibration is sized for a CPU OpenCL device")
    run_notebook("calibrate_validate.ipynb", tmp_path, kernel_path, monkeypatch)
    assert images("calibrate_validate.ipynb", tmp_path) == 1
