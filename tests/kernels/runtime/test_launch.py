"""Program cache, launch checks and profiling (smartmem_sim/kernels/runtime/launch.py)."""
from __future__ import annotations

import numpy as np
import pyopencl as cl
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.launch import LaunchLog, compile_source, launch, run_kernel
from smartmem_sim.kernels.runtime.memory import buffer_from_array, create_buffer

pytestmark = pytest.mark.opencl

AXPY = """
__kernel void axpy(const float a, __global const float* x, __global float* y) {
  const size_t i = get_global_id(0);
  y[i] = a * x[i] + y[i] + OFFSET;
}
__kernel void spin(__global float* y, const int rounds) {
  const size_t i = get_global_id(0);
  float v = y[i];
  for (int r = 0; r < rounds; ++r) v = v * 0.999f + 0.001f;
  y[i] = v;
}
"""


def test_programs_are_built_once_per_source_options_and_device(cl_device):
    before = cl_device.program_builds
    p1 = compile_source(cl_device, AXPY, ["-DOFFSET=0.0f"])
    p2 = compile_source(cl_device, AXPY, ["-DOFFSET=0.0f"])
    assert p1 is p2 and cl_device.program_builds == before + 1
    p3 = compile_source(cl_device, AXPY, ["-DOFFSET=1.0f"])
    p4 = compile_source(cl_device, AXPY + "\n", ["-DOFFSET=0.0f"])
    assert len({id(p1), id(p3), id(p4)}) == 3 and cl_device.program_builds == before + 3


def test_axpy_numbers_and_build_options_reach_the_kernel(cl_device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(64).astype(np.float32)
    y = rng.standard_normal(64).astype(np.float32)
    bx, by = buffer_from_array(cl_device, x), buffer_from_array(cl_device, y)
    run_kernel(cl_device, AXPY, "axpy", (64,), (16,), [np.float32(2.5), bx, by], options=["-DOFFSET=1.0f"])
    np.testing.assert_allclose(by.download(np.float32), np.float32(2.5) * x + y + 1.0, rtol=1e-6, atol=1e-6)  # FMA may round once


def test_build_errors_quote_the_compiler_log(cl_device):
    with pytest.raises(KernelError) as err:
        compile_source(cl_device, "__kernel void broken(__global float* y) { y[0] = undefined_name; }")
    msg = str(err.value)
    assert "['broken']" in msg and "undefined_name" in msg


def test_bad_launches_are_refused_before_the_driver_sees_them(cl_device):
    prog = compile_source(cl_device, AXPY, ["-DOFFSET=0.0f"])
    x = buffer_from_array(cl_device, np.zeros(8, np.float32))
    good = [np.float32(1), x, x]
    with pytest.raises(KernelError, match=r"kernel 'axpz' is not in the program; it defines \['axpy', 'spin'\]"):
        launch(cl_device, prog, "axpz", (8,), None, good)
    with pytest.raises(KernelError, match="not a multiple of local size"):
        launch(cl_device, prog, "axpy", (10,), (4,), good)
    with pytest.raises(KernelError, match="1 to 3 positive integers"):
        launch(cl_device, prog, "axpy", (8, 1, 1, 1), None, good)
    big = cl_device.info.max_work_group_size * 2
    with pytest.raises(KernelError, match="exceeds the limit"):
        launch(cl_device, prog, "axpy", (big,), (big,), good)
    with pytest.raises(KernelError, match="takes 3 arguments, 2 given"):
        launch(cl_device, prog, "axpy", (8,), None, good[:2])
    with pytest.raises(KernelError, match="argument 0 is a Python float"):
        launch(cl_device, prog, "axpy", (8,), None, [1.0, x, x])


def test_in_order_queue_timings_are_ordered_and_positive(cl_device):
    prog = compile_source(cl_device, AXPY, ["-DOFFSET=0.0f"])
    y = create_buffer(cl_device, 4 * 4096)
    y.upload(np.ones(4096, np.float32))
    log = LaunchLog()
    for rounds in (10, 2000, 10):
        log.add(launch(cl_device, prog, "spin", (4096,), None, [y, np.int32(rounds)], label=f"spin{rounds}"))
    times = log.timings()
    assert [t.label for t in times] == ["spin10", "spin2000", "spin10"]
    for t in times:
        assert t.queued_ns <= t.submit_ns <= t.start_ns < t.end_ns
    for a, b in zip(times[:-1], times[1:], strict=True):
        assert b.start_ns >= a.end_ns  # in-order queue: a kernel starts after its predecessor ends
    assert log.total_ns() == sum(t.duration_ns for t in times)
    assert cl_device.queue.properties & cl.command_queue_properties.PROFILING_ENABLE
