"""Microbenchmarks on PoCL: they run, read what they claim, and order the levels sensibly."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.microbench import bench

pytestmark = pytest.mark.opencl


def test_chase_buffer_follows_the_chain(cl_device):
    r = bench.chase_buffer(cl_device, 16 << 10, 64, max_steps=1 << 14)
    assert r.elements == 256 and r.footprint_bytes == 16 << 10
    assert r.steps >= 2 * r.elements and r.ns_per_step >= 0


def test_chase_image_small_is_faster_than_large(cl_device):
    # 16 KB fits any L1; 64 MB of one texel per 4x4 fits no CPU cache of this size class
    small = bench.chase_image(cl_device, 16 << 10, max_steps=1 << 16)
    large = bench.chase_image(cl_device, 64 << 20, 4, 4, max_steps=1 << 16)
    assert large.ns_per_step > 2 * small.ns_per_step > 0


def test_stream_counts_bytes(cl_device):
    r = bench.stream(cl_device, "buffer", 1 << 20, 4)
    width = bench.STREAM_ROW_TEXELS
    assert r.footprint_bytes == 1 << 20
    assert r.bytes_read == width * bench.STREAM_GROUPS * 4 * 16
    assert r.ns > 0 and r.bytes_per_s > 0
    if cl_device.half_images_ok:
        h = bench.stream(cl_device, "image_fp16", 1 << 20, 4)
        assert h.bytes_read == width * bench.STREAM_GROUPS * 4 * 8


def test_stream_rejects_bad_kind(cl_device):
    with pytest.raises(KernelError, match="stream kind"):
        bench.stream(cl_device, "texture", 1 << 20, 1)


def test_launch_overhead_positive(cl_device):
    assert bench.launch_overhead_ns(cl_device, runs=5) > 0


def test_stream_kernel_reads_whole_image(cl_device):
    """Every work-item's sum covers `count` texels of its column: with all texels 1 the sink holds count."""
    from smartmem_sim.kernels.microbench.sources import ALL
    from smartmem_sim.kernels.runtime.launch import run_kernel
    from smartmem_sim.kernels.runtime.memory import create_buffer, image_from_array

    img = image_from_array(cl_device, np.ones((16, 8, 4), np.float32))
    sink = create_buffer(cl_device, 8 * 3 * 16)
    run_kernel(cl_device, ALL["mb_stream_image"], "mb_stream_image", (8, 3), None,
               [img, np.int32(16), np.int32(5), sink])
    assert np.all(sink.download(np.float32) == 5.0)
