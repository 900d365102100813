"""One flag convention across commands: --profile is a simulated device (memsim profile), --opencl-device is
hardware; the older --device / --device-name / --search-profile spellings parse to the same values."""
import pytest

from smartmem_sim.cli import build_parser


@pytest.mark.parametrize("argv, dest", [
    (["compare", "m"], "device"), (["compile", "m", "-o", "p"], "device"), (["explain-time", "m"], "device"),
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


@pytest.mark.parametrize("argv", [["inspect", "vit.tiny", "--json"], ["explain", "vit.tiny", "--json"],
                                  ["compare", "vit.tiny", "--json"], ["explain-time", "vit.tiny", "--json"]])
def test_zoo_names_are_accepted_wherever_a_model_is(argv, capsys):
    import json

    from smartmem_sim.cli import main

    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["command"] == argv[0]
    assert main([argv[0], "no_such_net", *argv[2:]]) == 2
    assert "NAME.tiny" in capsys.readouterr().err


def test_zoo_name_tiny_suffix():
    from smartmem_sim.errors import UserError
    from smartmem_sim.simulation import zoo_name

    assert zoo_name("vit.tiny") == ("vit", True) and zoo_name("vit") == ("vit", False)
    assert zoo_name("vit", tiny=True) == ("vit", True)
    with pytest.raises(UserError, match="neither a model file nor a zoo network"):
        zoo_name("vitt.tiny")
