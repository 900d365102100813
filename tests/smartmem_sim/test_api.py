"""The Python API (smartmem_sim/api.py): the same numbers as the simulator's own entry points, short reprs,
flat records, figures that leave matplotlib's backend alone, named errors; `import smartmem_sim` stays light."""
import subprocess
import sys

import pytest

import smartmem_sim as sm
from smartmem_sim.errors import UserError
from smartmem_sim.simulation import simulate_model


@pytest.fixture(scope="module")
def cmp():
    return sm.compare("vit", tiny=True, device="adreno740")


def test_compare_matches_simulate_per_policy(cmp):
    assert [r.policy for r in cmp.results] == list(sm.api.POLICIES)
    for policy in ("naive", "smartmem"):
        assert cmp[policy].seconds == pytest.approx(simulate_model("vit", "adreno740", policy, tiny=True).seconds)
    with pytest.raises(KeyError, match="no policy"):
        cmp["other"]
    with pytest.raises(UserError, match="policies must be among"):
        sm.compare("vit", tiny=True, policies=["fastest"])


def test_reprs_are_short_and_records_flat(cmp):
    text = repr(cmp)
    assert len(text.splitlines()) == 1 + len(cmp.results) and len(text) < 1000 and "fastest:" in text
    assert len(repr(cmp["smartmem"])) < 300
    rec = cmp.to_records()
    assert [r["policy"] for r in rec] == [r.policy for r in cmp.results]
    assert rec[0]["ms"] == pytest.approx(cmp.results[0].seconds * 1e3)
    per_kernel = cmp["naive"].to_records()
    assert len(per_kernel) == len(cmp["naive"].kernels)
    assert all(not isinstance(v, dict | list) for v in per_kernel[0].values()) and "L1_misses" in per_kernel[0]


def test_plots_return_figures_and_keep_the_backend(cmp):
    import matplotlib

    before = matplotlib.get_backend()
    fig = cmp.plot()
    assert type(fig).__name__ == "Figure" and fig.axes[0].get_ylabel() == "predicted latency (ms)"
    fig2 = cmp["smartmem"].plot(top=5)
    assert len(fig2.axes[0].patches) == min(5, len(cmp["smartmem"].kernels))
    assert matplotlib.get_backend() == before


def test_to_dataframe_names_pandas_when_missing(cmp):
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="pip install pandas"):
            cmp.to_dataframe()
    else:
        assert list(cmp.to_dataframe()["policy"]) == [r.policy for r in cmp.results]


def test_profile_compile_and_cache_study():
    assert sm.load_profile("adreno740").cores == 12
    plan = sm.compile("vit", policy="smartmem", tiny=True)
    assert plan.steps and plan.model.startswith("vit")
    study = sm.cache_study("adreno740", 64, 64, patterns=["row"], layouts=["device"])
    assert study.to_dict()


def test_import_is_light():
    code = "import sys, smartmem_sim; print('numba' in sys.modules, 'onnx' in sys.modules, smartmem_sim.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["False", "False"]


def test_api_functions_are_not_shadowed_by_submodules(cmp):
    """Importing the package's submodules (compare just did) must leave sm.simulate / sm.compile callable: a
    submodule of the same name would replace the function on the package."""
    import importlib

    import smartmem_sim

    for name in smartmem_sim.__all__:
        if name == "__version__":
            continue
        try:
            importlib.import_module(f"smartmem_sim.{name}")
        except ModuleNotFoundError:
            pass
        assert callable(getattr(smartmem_sim, name)), name


@pytest.mark.opencl
def test_run_gives_checked_policy_runs_with_kernel_times():
    pytest.importorskip("pyopencl")
    from smartmem_sim.kernels.errors import KernelError
    from smartmem_sim.kernels.runtime.device import select_device

    try:
        select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")
    runs = sm.run("resnext.tiny", policies=("naive", "smartmem"), check=True)
    assert [r.policy for r in runs] == ["naive", "smartmem"]
    for r in runs:
        assert r.ok and r.max_error < 1e-4 and r.total_ms > 0
        assert len(r.to_records()) == len(r.kernels) == len(r.timings)
        assert "resnext" in repr(r) and "check ok" in repr(r)
    assert len(runs[0].kernels) > len(runs[1].kernels)  # naive keeps copies smartmem removes
    # the same outputs under both policies (same inputs and weights), as onnxruntime's
    name = next(iter(runs[0].outputs))
    import numpy as np

    np.testing.assert_allclose(runs[0].outputs[name], runs[1].outputs[name], rtol=1e-4, atol=1e-4)


def test_run_rejects_bad_policies_before_any_work():
    from smartmem_sim.errors import UserError

    with pytest.raises(UserError, match="--policy"):
        sm.run("resnext.tiny", policies=("nope",))
