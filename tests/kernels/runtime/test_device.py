"""Device choice by probe (smartmem_sim/kernels/runtime/device.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pyopencl as cl
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime import device as device_mod
from smartmem_sim.kernels.runtime.device import probe_all, select_device

pytestmark = pytest.mark.opencl

POCL_ICD = "/etc/OpenCL/vendors/pocl.icd"


def test_selected_device_matches_driver_queries_and_profiles(cl_device):
    d = cl_device.device
    info = cl_device.info
    assert info.image_support and d.image_support
    assert (info.image2d_max_width, info.image2d_max_height) == (d.image2d_max_width, d.image2d_max_height)
    assert info.max_work_group_size == d.max_work_group_size
    assert info.fp16_arithmetic == ("cl_khr_fp16" in d.extensions.split())
    assert cl_device.queue.properties & cl.command_queue_properties.PROFILING_ENABLE
    assert cl_device.queue.device == d


def test_select_device_is_cached_and_name_is_a_case_insensitive_substring(cl_device):
    assert select_device() is cl_device
    needle = cl_device.info.platform_name.split()[0].swapcase()
    named = select_device(needle)
    assert named.device.int_ptr == cl_device.device.int_ptr
    assert named is select_device(needle)


def test_unknown_or_empty_name_is_rejected(cl_device):
    with pytest.raises(KernelError, match="no OpenCL device matches the name 'no-such-gpu'.*installed"):
        select_device("no-such-gpu")
    with pytest.raises(KernelError, match="non-empty string"):
        select_device("  ")


def test_probe_all_reports_the_selected_device(cl_device):
    results = probe_all()
    mine = [r for r in results if r.device_name == cl_device.info.device_name]
    assert mine and mine[0].ok and mine[0].reason == ""
    assert mine[0].to_dict()["info"]["image2d_max_width"] == cl_device.info.image2d_max_width


def test_a_probe_that_does_not_build_is_reported_with_install_hint(cl_device, monkeypatch):
    monkeypatch.setattr(device_mod, "PROBE_SOURCE", "__kernel void sm_probe(__global float* a) { a[0] = oops; }")
    with pytest.raises(KernelError) as err:
        select_device(cl_device.info.device_name, refresh=True)
    msg = str(err.value)
    assert cl_device.info.device_name in msg and "does not build" in msg
    assert "pocl-opencl-icd" in msg


def test_a_probe_with_wrong_results_is_rejected(cl_device, monkeypatch):
    wrong = device_mod.PROBE_SOURCE.replace("2.0f * v", "3.0f * v")
    assert wrong != device_mod.PROBE_SOURCE
    monkeypatch.setattr(device_mod, "PROBE_SOURCE", wrong)
    with pytest.raises(KernelError, match="values are wrong"):
        select_device(cl_device.info.device_name, refresh=True)


def _child(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_no_platform_at_all_gives_a_clear_error(tmp_path, child_env):
    code = ("from smartmem_sim.kernels.runtime.device import select_device\n"
            "try:\n    select_device()\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = _child(code, child_env(OCL_ICD_VENDORS=str(tmp_path))).stdout
    assert out.startswith("KernelError no OpenCL platform is installed")
    assert "apt-get install pocl-opencl-icd" in out


@pytest.mark.skipif(not os.path.exists(POCL_ICD), reason="Debian's PoCL ICD is not installed")
def test_unnamed_choice_skips_oclgrind_and_a_name_selects_it(tmp_path, child_env, oclgrind_icd):
    # Both drivers registered (the ICD loader lists oclgrind first here): unnamed must not take it.
    (tmp_path / "a-oclgrind.icd").write_text(oclgrind_icd + "\n")
    (tmp_path / "b-pocl.icd").write_text(open(POCL_ICD).read())
    code = ("import pyopencl as cl\nfrom smartmem_sim.kernels.runtime.device import select_device\n"
            "print([p.name for p in cl.get_platforms()])\n"
            "print(select_device().info.platform_name)\nprint(select_device('OCLGRIND').info.platform_name)\n")
    proc = _child(code, child_env(OCL_ICD_VENDORS=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    platforms, unnamed, named = proc.stdout.strip().splitlines()
    assert "Oclgrind" in platforms and "Portable Computing Language" in platforms
    assert unnamed == "Portable Computing Language"
    assert named == "Oclgrind"
