"""`smartmem devices` (smartmem_sim/commands/devices.py). Lives here beside the runtime it reports on;
its mirror place would be tests/smartmem_sim/commands/test_devices.py."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smartmem_sim.cli import main

pytestmark = pytest.mark.opencl


def test_json_lists_the_working_device_with_its_limits(cl_device, capsys):
    assert main(["devices", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    mine = [d for d in out["devices"] if d["device"] == cl_device.info.device_name]
    assert mine and mine[0]["probe_ok"] is True
    info = mine[0]["info"]
    assert info["image2d_max_width"] == cl_device.device.image2d_max_width
    assert info["fp16_arithmetic"] == ("cl_khr_fp16" in cl_device.device.extensions.split())
    assert "oclgrind_icd" in out


def test_table_shows_probe_result_and_image_size(cl_device, capsys):
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["platform", "device", "type"]
    row = next(ln for ln in lines if cl_device.info.device_name in ln)
    assert " ok " in row
    assert f"{cl_device.info.image2d_max_width} x {cl_device.info.image2d_max_height}" in row


def test_without_any_platform_the_exit_status_is_1_with_install_hint(tmp_path, child_env):
    proc = subprocess.run([sys.executable, "-m", "smartmem_sim.cli", "devices"], capture_output=True, text=True,
                          env=child_env(OCL_ICD_VENDORS=str(tmp_path)), timeout=120)
    assert proc.returncode == 1
    assert "no OpenCL platform found" in proc.stdout and "pocl-opencl-icd" in proc.stderr
