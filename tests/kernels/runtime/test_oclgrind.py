"""Kernels under oclgrind (smartmem_sim/kernels/runtime/oclgrind.py). oclgrind simulates every work-item and is
slow: tiny launches only."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.oclgrind import (
    BufferArg,
    ImageArg,
    parse_log,
    run_script_under_oclgrind,
    run_under_oclgrind,
)

SRC = """
__constant sampler_t smp = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP_TO_EDGE | CLK_FILTER_NEAREST;
__kernel void shift_rows(__read_only image2d_t src, __write_only image2d_t dst, const int dy) {
  const int2 p = (int2)(get_global_id(0), get_global_id(1));
  write_imagef(dst, (int2)(p.x, p.y + dy), read_imagef(src, smp, p) * 2.0f);
}
__kernel void last_writer(__global float* out) {
  out[0] = (float)get_global_id(0);
}
__kernel void twice(__global const float* in, __global float* out) {
  out[get_global_id(0)] = 2.0f * in[get_global_id(0)];
}
"""
W, H = 4, 3

# Real oclgrind 21.10 output (two messages), as written to OCLGRIND_LOG.
CANNED = """
Invalid write of size 4 at global memory address 0x2000000000020
\tKernel: oob
\tEntity: Global(7,0,0) Local(7,0,0) Group(0,0,0)
\t  store float 1.000000e+00, float addrspace(1)* %arrayidx, align 4, !dbg !30, !tbaa !31
\tAt line 2 (column 80) of input.cl:
\t  __kernel void oob(__global float* a, int n) { int i = get_global_id(0); a[i+1] = 1.0f; }
\t

Write-write data race at global memory address 0x2000000000002
\tKernel: race
\t
\tFirst entity:  Global(1,0,0) Local(1,0,0) Group(0,0,0)
\t  store float %conv, float addrspace(1)* %a, align 4, !dbg !27, !tbaa !28
\tAt line 3 (column 46) of input.cl:
\t  __kernel void race(__global float* a) { a[0] = (float)get_global_id(0); }
\t
\tSecond entity: Global(0,0,0) Local(0,0,0) Group(0,0,0)
\t  store float %conv, float addrspace(1)* %a, align 4, !dbg !27, !tbaa !28
\tAt line 3 (column 46) of input.cl:
\t  __kernel void race(__global float* a) { a[0] = (float)get_global_id(0); }
\t
"""


def test_parse_log_makes_one_record_per_message():
    oob, race = parse_log(CANNED)
    assert (oob.kind, oob.kernel, oob.entities, oob.line, oob.address_space) == (
        "invalid_write", "oob", ((7, 0, 0),), 2, "global")
    assert oob.source_text.endswith("a[i+1] = 1.0f; }")
    assert (race.kind, race.kernel, race.entities, race.line) == ("data_race", "race", ((1, 0, 0), (0, 0, 0)), 3)
    assert parse_log("") == []


def test_a_correct_image_kernel_gives_no_diagnostics_and_right_numbers(oclgrind_icd):
    x = np.arange(H * W * 4, dtype=np.float32).reshape(H, W, 4)
    report = run_under_oclgrind(SRC, "shift_rows", (W, H), None, [ImageArg(x), ImageArg(width=W, height=H),
                                                                  np.int32(0)])
    assert report.ok, report.summary()
    report.check()
    np.testing.assert_array_equal(report.outputs[1], 2 * x)
    assert report.outputs[2] is None


def test_an_out_of_bounds_image_write_is_reported_for_each_work_item(oclgrind_icd):
    x = np.ones((H, W, 4), np.float32)
    report = run_under_oclgrind(SRC, "shift_rows", (W, H), None, [ImageArg(x), ImageArg(width=W, height=H),
                                                                  np.int32(1)])
    assert set(report.kinds()) == {"invalid_write"}
    # Shifting down by one row: exactly the work-items of the last row write outside the image.
    assert sorted(d.entities[0] for d in report.diagnostics) == [(x_, H - 1, 0) for x_ in range(W)]
    assert {d.kernel for d in report.diagnostics} == {"shift_rows"} and report.diagnostics[0].line == 5
    with pytest.raises(KernelError, match="4 invalid_write; first: Invalid write"):
        report.check()


def test_a_data_race_and_an_uninitialised_read_are_reported(oclgrind_icd):
    race = run_under_oclgrind(SRC, "last_writer", (8,), (8,), [BufferArg(np.zeros(1, np.float32))])
    assert set(race.kinds()) == {"data_race"} and race.diagnostics[0].kernel == "last_writer"
    uninit = run_under_oclgrind(SRC, "twice", (4,), (4,), [BufferArg(nbytes=16), BufferArg(np.zeros(4, np.float32))])
    assert set(uninit.kinds()) == {"uninitialized"} and len(uninit.diagnostics) == 4
    clean = run_under_oclgrind(SRC, "twice", (4,), (4,), [BufferArg(np.ones(4, np.float32)),
                                                          BufferArg(np.zeros(4, np.float32))])
    assert clean.ok and clean.outputs[1].tolist() == [2.0] * 4


def test_a_python_driver_script_runs_with_oclgrind_as_its_only_device(oclgrind_icd, tmp_path):
    script = tmp_path / "drive.py"
    script.write_text(
        "import numpy as np\n"
        "from smartmem_sim.kernels.runtime import select_device, buffer_from_array, run_kernel\n"
        "h = select_device()\n"
        "print(h.info.platform_name)\n"
        "y = buffer_from_array(h, np.zeros(4, np.float32))\n"
        "run_kernel(h, '__kernel void k(__global float* y) { y[get_global_id(0) + 1] = 1.0f; }', 'k', (4,), (4,), [y])\n")
    report = run_script_under_oclgrind(script)
    assert report.returncode == 0, report.stderr
    assert report.stdout.strip() == "Oclgrind"
    (d,) = report.diagnostics
    assert d.kind == "invalid_write" and d.entities == ((3, 0, 0),)


def test_missing_oclgrind_and_failing_builds_raise():
    with pytest.raises(KernelError, match="oclgrind's ICD library was not found"):
        run_under_oclgrind(SRC, "twice", (4,), None, [], icd="/nonexistent/liboclgrind-rt-icd.so")
    with pytest.raises(KernelError, match="needs data or nbytes"):
        run_under_oclgrind(SRC, "twice", (4,), None, [BufferArg()])


def test_a_kernel_that_does_not_build_raises_with_the_log(oclgrind_icd):
    with pytest.raises(KernelError, match="(?s)kernel 'k': OpenCL build failed on 'Oclgrind.*undeclared identifier 'nope'"):
        run_under_oclgrind("__kernel void k(__global float* y) { y[0] = nope; }", "k", (1,), None,
                           [BufferArg(np.zeros(1, np.float32))])
