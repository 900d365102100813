"""`smartmem calibrate` and `smartmem validate`: error messages, and a tiny-budget run on PoCL."""
from __future__ import annotations

import csv

import pytest

from smartmem_sim import cli, memsim
from smartmem_sim.calibration import validate as v


def test_commands_are_listed():
    assert {"calibrate", "validate"} <= set(cli.COMMAND_MODULES)


@pytest.fixture(scope="module")
def cl_device():
    from smartmem_sim.kernels.errors import KernelError
    from smartmem_sim.kernels.runtime.device import select_device

    try:
        return select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")


def test_calibrate_unknown_device_is_one_line_error(tmp_path, capsys):
    rc = cli.main(["calibrate", "--device-name", "no-such-gpu-xyz", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no-such-gpu-xyz" in err and err.startswith("smartmem calibrate: error:")
    assert not list(tmp_path.iterdir())


def test_calibrate_requires_device_name(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["calibrate", "-o", str(tmp_path)])


def test_calibrate_bad_options(tmp_path, capsys):
    (tmp_path / "p.txt").write_text("")
    assert cli.main(["calibrate", "--device-name", "pocl", "-o", str(tmp_path / "p.txt")]) == 2
    assert "is a file; give the folder" in capsys.readouterr().err
    (tmp_path / "mine.toml").write_text("x")
    assert cli.main(["calibrate", "--device-name", "pocl", "-o", str(tmp_path), "--name", "mine"]) == 2
    assert "pass --force" in capsys.readouterr().err and (tmp_path / "mine.toml").read_text() == "x"
    assert cli.main(["calibrate", "--device-name", "pocl", "-o", str(tmp_path), "--name", "../up"]) == 2
    assert "--name '../up'" in capsys.readouterr().err
    assert cli.main(["calibrate", "--device-name", "pocl", "-o", str(tmp_path), "--budget-s", "x"]) == 2
    assert "--budget-s must be a number" in capsys.readouterr().err


def test_validate_needs_device_or_rows(capsys):
    assert cli.main(["validate", "--profile", "h100_opencl"]) == 2
    assert "--device-name is required" in capsys.readouterr().err
    assert cli.main(["validate", "--profile", "h100_opencl", "--from-csv", "missing.csv"]) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err
    assert cli.main(["validate", "--profile", "nosuchprofile", "--from-csv", "x.csv"]) == 2
    assert "nosuchprofile" in capsys.readouterr().err


def test_from_csv_rejects_rows_of_another_plan(tmp_path):
    path = tmp_path / "rows.csv"
    row = v.KernelRow("vit.tiny", "smartmem", "fp32", "no_such_step", "", "MatMul", 1, "", 10.0, 0.0, 1.0,
                      "32768x32768")
    path.write_text(v.rows_csv([row]))
    from smartmem_sim.compiler.costs import SimulatedCost
    from smartmem_sim.kernels.trace.sample import ProgramSampler

    cost = SimulatedCost(v.device_for("h100_opencl"), ProgramSampler())
    with pytest.raises(v.UserError, match="no_such_step"):
        v.predict_rows(v.read_rows(str(path)), cost, log=lambda *_: None)


def test_device_for_takes_the_execution_table_from_the_profile_base_or_a_file(tmp_path):
    from smartmem_sim.memsim.profiles import DEVICES_DIR

    assert v.device_for("h100_opencl") == memsim.load_profile("h100_opencl")
    text = (DEVICES_DIR / "pocl_cpu.toml").read_text()
    bare = tmp_path / "bare.toml"
    bare.write_text(text[:text.index("\n[execution]\n")])
    with pytest.raises(v.UserError, match=r"bare.toml: profile 'pocl_cpu' has no \[execution\] table.*--base NAME"):
        v.device_for(str(bare))
    based = v.device_for(str(bare), base="h100_opencl")
    assert based.execution == memsim.load_profile("h100_opencl").execution and based.cores == 2
    assert based.sources["execution.alu_lanes"].startswith("H100 SXM")
    own = tmp_path / "own.toml"
    own.write_text(text.replace("launch_overhead_s = 20e-6", "launch_overhead_s = 7e-6"))
    dev = v.device_for(str(bare), v.read_execution(str(own)))  # an [execution] table of another file
    assert dev.execution.launch_overhead_s == 7e-6 and dev.execution.wave_size == 8
    legacy = tmp_path / "bare.execution.toml"  # what older versions of calibrate wrote beside the profile
    legacy.write_text('[devices.x]\nwave_size = 4\nalu_lanes = 8\nlaunch_overhead_s = 1e-6\n[devices.x.source]\n'
                      'wave_size = "a"\nalu_lanes = "b"\nlaunch_overhead_s = "c"\n')
    dev = v.device_for(str(bare))
    assert (dev.execution.wave_size, dev.execution.launch_overhead_s, dev.execution.texel_reuse) == (4, 1e-6, True)
    legacy.write_text('[devices.x]\nwave_size = 4\nalu_lanes = 8\nlaunch_overhead_s = 1e-6\n')
    with pytest.raises(v.UserError, match="missing \\[execution.source\\] table"):
        v.device_for(str(bare))


@pytest.mark.opencl
def test_calibrate_and_validate_on_pocl(tmp_path, cl_device, capsys):
    if "CPU" not in cl_device.info.device_type:
        pytest.skip("the tiny-budget run is sized for a CPU OpenCL device")
    name = cl_device.info.device_name.split()[0]
    out = tmp_path / "pocl_cpu_calibrated.toml"
    rc = cli.main(["calibrate", "--device-name", name, "--base", "pocl_cpu", "-o", str(tmp_path), "--budget-s", "4",
                   "--max-steps", "4096", "--stream-ms", "0.5"])
    assert rc == 0
    prof = memsim.load_profile(out)
    assert prof.name == "pocl_cpu_calibrated"
    assert prof.sources["clock_hz"].startswith("calibrated: CL_DEVICE_MAX_CLOCK_FREQUENCY")
    with open(out.with_suffix(".csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"capacity", "streams", "launch"} <= {r["phase"] for r in rows}
    assert prof.execution.launch_overhead_s > 0 and not out.with_suffix(".execution.toml").exists()
    assert prof.sources["execution.launch_overhead_s"].startswith("calibrated: median empty-kernel device time")
    capsys.readouterr()
    rows_csv = tmp_path / "rows.csv"
    rc = cli.main(["validate", "--device-name", name, "--profile", str(out), "--models", "vit.tiny",
                   "--policies", "smartmem", "--repeat", "1", "--csv", str(rows_csv), "--plot",
                   str(tmp_path / "v.png"), "--texel-reuse", "off"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "within +-10%" in text and "Spearman" in text and "texel registers off" in text
    assert "ran other kernels" not in text  # measured and simulated kernels are the same sources
    measured = v.read_rows(str(rows_csv))
    assert len(measured) > 10 and all(r.measured_us > 0 for r in measured)
    assert (tmp_path / "v.png").stat().st_size > 1000
    # the recorded hashes are those of kernels built without registers, not the default build's
    from smartmem_sim.calibration.kernel_hash import kernel_hash

    (_, _, plan, found, _), = v.replanned(measured)
    matmuls = [(r, step) for _, r, step in found if r.op_type == "MatMul"]
    assert matmuls and all(r.kernel_hash == kernel_hash(plan, step, False) != kernel_hash(plan, step, True)
                           for r, step in matmuls)
