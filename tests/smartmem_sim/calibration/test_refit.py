"""kernel_hash.py (kernel-source hash), terms.py ( terms CSV round trip) and refit.py end to end on synthetic terms: the
refit recovers the parameters that made the measurements, writes a profile memsim loads, and leaves out
steps whose measured kernels differ from the current code."""
from __future__ import annotations

from dataclasses import replace

import pytest

from smartmem_sim import memsim
from smartmem_sim.calibration import refit
from smartmem_sim.calibration import terms as T
from smartmem_sim.calibration import timing_fit as F
from smartmem_sim.calibration import validate as v
from smartmem_sim.calibration.kernel_hash import source_hash
from tests.smartmem_sim.calibration.test_timing_fit import synthetic_steps


def test_source_hash_and_same_kernels():
    assert source_hash(["a", "b"]) == source_hash(["a", "b"]) != source_hash(["ab"])
    s = T.StepTerms(0, "m", "naive", "fp32", "s", "n", "Add", "a->a", 1, 3.0, "", "abc", 1.0, ())
    assert s.same_kernels and not s.hash_checked
    assert replace(s, measured_hash="abc").same_kernels and not replace(s, measured_hash="abd").same_kernels


def _steps(profile) -> list[T.StepTerms]:
    """Synthetic steps of two models, measured with the true parameters of test_timing_fit."""
    from tests.smartmem_sim.calibration.test_timing_fit import TRUE

    occ = profile.occupancy
    raw = synthetic_steps(160, seed=5)
    k = F.Kernels.from_steps(raw)
    meas = F.predict_us(k, TRUE, profile.clock_hz, occ.max_items_per_core)
    out = []
    for i, (s, m) in enumerate(zip(raw, meas, strict=True)):
        model = "a" if (i // 4) % 2 else "b"  # both models get every kind of kernel
        bad = "other" if i == 3 else ""  # one step measured on other kernels
        out.append(T.StepTerms(i, model, "naive", "fp32", f"s{i}", f"n{i % 7}", ["Add", "MatMul"][i % 2],
                               f"l{i % 3}->x", 1, float(m), bad, "cur" if bad else "", 1.0, s.terms))
    return out


def test_terms_csv_round_trip(tmp_path):
    steps = _steps(memsim.load_profile("h100_opencl"))[:5]
    path = tmp_path / "t.csv"
    path.write_text(T.terms_csv(steps))
    back = T.read_terms(str(path))
    assert back == steps
    path.write_text("row,model\n1,m\n")
    with pytest.raises(v.UserError, match="line 2"):
        T.read_terms(str(path))


def test_refit_end_to_end_on_cached_terms(tmp_path):
    from tests.smartmem_sim.calibration.test_timing_fit import TRUE

    profile = memsim.load_profile("h100_opencl")
    steps = _steps(profile)
    rows = [v.KernelRow(s.model, s.policy, s.storage, s.step, s.node, s.op_type, 1, s.layouts, s.measured_us,
                        float("nan"), float("nan"), "", s.measured_hash) for s in steps]
    csv_path = tmp_path / "validate.csv"
    csv_path.write_text(v.rows_csv(rows))
    out = tmp_path / "out"
    out.mkdir()
    (out / "terms.csv").write_text(T.terms_csv(steps))
    (out / "terms.key").write_text(refit.terms_key(str(csv_path), memsim.profiles.profile_path("h100_opencl")))
    logs = []
    res = refit.run(str(csv_path), "h100_opencl", ["a"], out, texel_reuse=True, log=logs.append)
    got = res["fitted"]
    for name, want in zip(F.FITTED, TRUE.as_array(), strict=True):
        assert getattr(got, name) == pytest.approx(want, rel=0.1), name
    report = (out / "report.txt").read_text()
    assert "1 left out because the measured kernels differ" in report and "held out: b" in report
    prof = memsim.load_profile(out / "h100_opencl_refit.toml")
    assert prof.occupancy.reads_in_flight_per_item == pytest.approx(got.reads_in_flight_per_item, rel=1e-3)
    assert prof.sources["memory_parallelism"].startswith("calibrated: smartmem_sim.calibration.refit")
    assert prof.execution.launch_overhead_s == pytest.approx(float(f"{got.launch_overhead_us * 1e-6:.4g}"))
    assert prof.sources["execution.launch_overhead_s"].startswith("calibrated: smartmem_sim.calibration.refit")
    assert (prof.execution.wave_size, prof.execution.alu_lanes, prof.execution.texel_reuse) == (32, 16896, False)
    # measured = the formula exactly: the learned correction is fitted per op kind and moves nothing
    assert "learned correction per op kind" in report and "leave-one-model-out + correction" in report
    assert set(prof.correction.kinds) == {"Add", "MatMul"}
    assert all(abs(c) < 1e-3 for coef in prof.correction.kinds.values() for c in coef)
    assert prof.sources["correction.kinds"].startswith("calibrated: smartmem_sim.calibration.refit")
    assert prof.sources["execution.wave_size"].startswith("base profile h100_opencl (not calibrated): ")
    assert not (out / "h100_opencl_refit.execution.toml").exists()
    assert refit.main(["--csv", str(csv_path), "--profile", "h100_opencl", "--train", "zz", "--out", str(out)]) == 2


def test_refit_command_names_a_missing_csv(capsys):
    from smartmem_sim import cli

    assert cli.main(["refit", "--csv", "/nonexistent/rows.csv", "--profile", "h100_opencl", "--train", "swin",
                     "--out", "/tmp/refit-never-written"]) == 2
    assert "/nonexistent/rows.csv" in capsys.readouterr().err
