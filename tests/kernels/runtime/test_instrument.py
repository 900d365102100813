"""Recording the accesses of an instrumented kernel (smartmem_sim/kernels/runtime/instrument.py)."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.instrument import AccessLog, with_prelude
from smartmem_sim.kernels.runtime.launch import compile_source, get_kernel, run_kernel
from smartmem_sim.kernels.runtime.memory import buffer_from_array, create_image, image_from_array

pytestmark = pytest.mark.opencl

# A 3x3 box sum: work-item (x, y) reads (x+dx, y+dy) for dy, dx in -1..1 (row by row; the sampler
# clamps, but the log holds the coordinates the kernel asked for), then writes (x, y).
BOX = with_prelude("""
__constant sampler_t smp = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP_TO_EDGE | CLK_FILTER_NEAREST;
__kernel void box(__read_only image2d_t src, __write_only image2d_t dst SM_LOG_PARAMS) {
  const int x = get_global_id(0), y = get_global_id(1);
  float4 acc = (float4)(0.0f);
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx)
      acc += SM_READ_IMAGEF(src, smp, (int2)(x + dx, y + dy));
  SM_WRITE_IMAGEF(dst, (int2)(x, y), acc);
}
""")

# Work-item i reads the i+1 float4s x[0..i] of a buffer (a triangular, data-independent pattern) and
# stores one float: counts differ per work-item.
PREFIX = with_prelude("""
__kernel void prefix(__global const float* x, __global float* y SM_LOG_PARAMS) {
  const int i = get_global_id(0);
  float4 s = (float4)(0.0f);
  for (int j = 0; j <= i; ++j) s += SM_VLOAD4(j, x);
  SM_STORE(y, i, s.x + s.y + s.z + s.w);
}
""")

W, H = 5, 4


def _box_reference(x):
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(padded[1 + dy:1 + dy + H, 1 + dx:1 + dx + W] for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_recorded_reads_are_the_stencil_in_program_order(cl_device):
    x = np.random.default_rng(1).standard_normal((H, W, 4)).astype(np.float32)
    src, dst = image_from_array(cl_device, x, name="src"), create_image(cl_device, W, H, name="dst")
    log = AccessLog(cl_device, (W, H), capacity=16)
    run_kernel(cl_device, BOX, "box", (W, H), None, [src, dst, *log.args], options=log.options({"src": 3, "dst": 4}))
    np.testing.assert_allclose(dst.download(), _box_reference(x), rtol=1e-5, atol=1e-5)
    rec = log.read()
    assert len(rec) == W * H and rec.overflow == 0
    for y in range(H):
        for x_ in range(W):
            gid = y * W + x_  # global linear id: x fastest
            expect = [(x_ + dx, y + dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            assert rec.reads(gid, surface=3) == expect
            rows = rec.item(gid)
            assert rows[:, 0].tolist() == [3] * 9 + [4] and rows[-1].tolist() == [4, x_, y, 1]
    cols = rec.columns()
    assert len(cols["x"]) == W * H * 10 and int(cols["write"].sum()) == W * H


def test_plain_build_has_no_log_parameters_and_same_result(cl_device):
    x = np.random.default_rng(2).standard_normal((H, W, 4)).astype(np.float32)
    src, dst = image_from_array(cl_device, x), create_image(cl_device, W, H)
    assert get_kernel(cl_device, compile_source(cl_device, BOX), "box").num_args == 2
    run_kernel(cl_device, BOX, "box", (W, H), None, [src, dst])
    np.testing.assert_allclose(dst.download(), _box_reference(x), rtol=1e-5, atol=1e-5)


def test_buffer_accesses_are_byte_offsets_and_counts_vary_per_item(cl_device):
    n = 6
    x = buffer_from_array(cl_device, np.arange(4 * n, dtype=np.float32))
    y = buffer_from_array(cl_device, np.zeros(n, np.float32))
    log = AccessLog(cl_device, n, capacity=n + 1)
    run_kernel(cl_device, PREFIX, "prefix", (n,), None, [x, y, *log.args], options=log.options({"x": 0, "y": 1}))
    rec = log.read()
    assert rec.counts.tolist() == [i + 2 for i in range(n)]
    for i in range(n):
        assert rec.item(i).tolist() == [[0, 16 * j, 0, 0] for j in range(i + 1)] + [[1, 4 * i, 0, 1]]
    np.testing.assert_allclose(y.download(np.float32), np.cumsum(np.arange(4 * n).reshape(n, 4).sum(1)))


def test_overflow_is_counted_and_refused_unless_allowed(cl_device):
    src, dst = image_from_array(cl_device, np.zeros((H, W, 4), np.float32)), create_image(cl_device, W, H)
    log = AccessLog(cl_device, (W, H), capacity=4)
    run_kernel(cl_device, BOX, "box", (W, H), None, [src, dst, *log.args], options=log.options({"src": 0, "dst": 1}))
    with pytest.raises(KernelError, match=r"120 accesses were dropped.*capacity>=10"):
        log.read()
    rec = log.read(allow_overflow=True)
    assert rec.overflow == W * H * (10 - 4)
    assert rec.reads(7) == [(1, 0), (2, 0), (3, 0), (1, 1)]  # work-item (2, 1): the first 4 reads


def test_missing_surface_ids_and_bad_capacity_are_explained(cl_device):
    log = AccessLog(cl_device, (W, H), capacity=2)
    with pytest.raises(KernelError, match="needs -DSM_SURFACE_<arg>"):
        compile_source(cl_device, BOX, log.options({"src": 0}))
    with pytest.raises(KernelError, match="capacity must be a positive int"):
        AccessLog(cl_device, (W, H), capacity=0)
    with pytest.raises(KernelError, match="kernel parameter name"):
        log.options({"src-1": 0})
