"""Images, buffers and texel packing (smartmem_sim/kernels/runtime/memory.py)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.launch import run_kernel
from smartmem_sim.kernels.runtime.memory import (
    buffer_from_array,
    check_image_extent,
    create_buffer,
    create_image,
    image_from_array,
    pack_channels,
    to_storage,
    unpack_channels,
)

RNG = np.random.default_rng(7)

# Converts one image to another texel by texel through read_imagef/write_imagef: with a half
# source this is what an fp16-storage kernel does on devices without cl_khr_fp16.
CONVERT = """
__constant sampler_t smp = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_NONE | CLK_FILTER_NEAREST;
__kernel void convert(__read_only image2d_t src, __write_only image2d_t dst) {
  const int2 p = (int2)(get_global_id(0), get_global_id(1));
  write_imagef(dst, p, read_imagef(src, smp, p));
}
"""


@pytest.mark.opencl
@pytest.mark.parametrize("height,width", [(1, 1), (3, 7), (1, 13), (9, 2)])
def test_float32_image_round_trip_is_exact(cl_device, height, width):
    x = RNG.standard_normal((height, width, 4)).astype(np.float32)
    img = image_from_array(cl_device, x)
    assert img.shape == (height, width, 4) and img.nbytes == height * width * 16
    np.testing.assert_array_equal(img.download(), x)


@pytest.mark.opencl
def test_float16_storage_rounds_like_numpy_and_kernels_read_it_as_float(cl_device):
    if not cl_device.half_images_ok:
        pytest.skip(f"'{cl_device.info.label}' cannot run kernels on CL_HALF_FLOAT images")
    x = (RNG.standard_normal((5, 6, 4)) * 100).astype(np.float32)
    rounded = x.astype(np.float16).astype(np.float32)  # the reference: numpy's IEEE rounding
    half = image_from_array(cl_device, x, "float16")
    assert half.texel_bytes == 8
    np.testing.assert_array_equal(half.download(), rounded)
    out = create_image(cl_device, 6, 5, "float32")
    run_kernel(cl_device, CONVERT, "convert", (6, 5), None, [half, out])
    np.testing.assert_array_equal(out.download(), rounded)


@pytest.mark.opencl
def test_image_extent_beyond_device_limit_is_refused(cl_device):
    wmax = cl_device.info.image2d_max_width
    with pytest.raises(KernelError, match=f"{wmax + 1} x 1 texels exceeds the device's largest image2d"):
        create_image(cl_device, wmax + 1, 1, name="weights")
    with pytest.raises(KernelError, match="height must be a positive integer"):
        check_image_extent(cl_device, 4, 0)
    with pytest.raises(KernelError, match="storage must be one of"):
        create_image(cl_device, 4, 4, "bfloat16")


@pytest.mark.opencl
def test_bad_image_data_is_refused_with_the_image_name(cl_device):
    img = create_image(cl_device, 4, 2, name="act0")
    with pytest.raises(KernelError, match=r"act0: data has shape \(3, 4, 4\), image is \(2, 4, 4\)"):
        img.upload(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(KernelError, match="must be float32"):
        img.upload(np.zeros((2, 4, 4), np.float64))
    with pytest.raises(KernelError, match=r"shape \(height, width, 4\)"):
        img.upload(np.zeros((2, 4, 3), np.float32))


def test_float16_overflow_is_refused_rather_than_stored_as_infinity():
    x = np.zeros((1, 2, 4), np.float32)
    x[0, 1, 2] = 70000.0
    with pytest.raises(KernelError, match="70000 exceeds float16"):
        to_storage(x, "float16")
    x[0, 1, 2] = np.inf  # an infinity is data, not an overflow
    assert np.isinf(to_storage(x, "float16")[0, 1, 2])


@pytest.mark.opencl
def test_buffer_round_trip_and_size_checks(cl_device):
    a = RNG.integers(-1000, 1000, size=(3, 5), dtype=np.int32)
    buf = buffer_from_array(cl_device, a, name="idx")
    assert buf.nbytes == a.nbytes
    np.testing.assert_array_equal(buf.download(np.int32, (3, 5)), a)
    with pytest.raises(KernelError, match="idx: shape"):
        buf.download(np.int32, (4, 5))
    with pytest.raises(KernelError, match="do not fit"):
        buf.upload(np.zeros(16, np.int32))
    with pytest.raises(KernelError, match="positive number of bytes"):
        create_buffer(cl_device, 0)
    with pytest.raises(KernelError, match="largest allocation"):
        create_buffer(cl_device, cl_device.info.max_alloc_bytes + 1)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=2), channels=st.integers(1, 11))
def test_pack_channels_places_channel_c_in_texel_c_div_4_lane_c_mod_4(shape, channels):
    a = np.arange(int(np.prod(shape, dtype=int)) * channels, dtype=np.float32).reshape(*shape, channels) + 1
    packed = pack_channels(a)
    groups = -(-channels // 4)
    assert packed.shape == (*shape, groups, 4)
    for c in range(groups * 4):  # brute force over every lane
        lane = packed[..., c // 4, c % 4]
        np.testing.assert_array_equal(lane, a[..., c] if c < channels else 0)
    np.testing.assert_array_equal(unpack_channels(packed, channels), a)


def test_unpack_channels_rejects_a_channel_count_that_does_not_fit():
    with pytest.raises(KernelError, match="expected 5..8"):
        unpack_channels(np.zeros((2, 4)), 4)
