"""One flag convention across commands: --profile is a simulated device (memsim profile), --opencl-device is
hardware; the older --device / --device-name / --search-profile spellings parse to the same values."""
import pytest

from smartmem_sim.cli import build_parser


@pytest.mark.parametrize("argv, dest", [
    (["compare", "m"], "device"), (["compile", "m", "-o", "p.json"], "device"), (["explain-time", "m"], "device"),
    (["cache-study", "--out", "o"], "device"), (["run", "m.onnx", "--policy", "naive"], "search_profile"),
])
def test_profile_means_a_simulated_device_everywhere(argv, dest):
    p = build_parser()
    new = p.parse_args(argv + ["--profile", "mali_g57"])
    old_flag = "--search-profile" if dest == "search_profile" else "--device"
    old = p.parse_args(argv + [old_flag, "mali_g57"])
    assert getattr(new, dest) == getattr(old, dest) == "mali_g57"


@pytest.mark.parametrize("argv", [["run", "m.onnx", "--policy", "naive"], ["validate", "--profile", "x"],
                                  ["calibrate", "-o", "p.toml"]])
def test_opencl_device_means_hardware_everywhere(argv):
    p = build_parser()
    assert p.parse_args(argv + ["--opencl-device", "NVIDIA"]).device_name == "NVIDIA"
    assert p.parse_args(argv + ["--device-name", "NVIDIA"]).device_name == "NVIDIA"
