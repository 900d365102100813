"""Images and buffers on a device, and numpy <-> RGBA-texel packing.

Host arrays of an image are (height, width, 4) float32: row y, column x, lane (R, G, B, A). With
``storage="float16"`` the image is CL_HALF_FLOAT: the host converts to float16 before upload and
back to float32 after download, and kernels still use read_imagef/write_imagef (no device we
have offers cl_khr_fp16 arithmetic; half *storage* is what halves the memory traffic).
"""
from __future__ import annotations

import numpy as np
import pyopencl as cl

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.device import DeviceHandle
from smartmem_sim.memsim.surfaces import TEXEL_BYTES

_STORAGE_NAME = {"float32": "fp32", "float16": "fp16"}  # numpy's names of the two storage types

STORAGE_CHANNEL_TYPE = {"float32": cl.channel_type.FLOAT, "float16": cl.channel_type.HALF_FLOAT}
STORAGE_DTYPE = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16)}
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504


def _check_storage(storage: str) -> None:
    if storage not in STORAGE_CHANNEL_TYPE:
        raise KernelError(f"image storage must be one of {sorted(STORAGE_CHANNEL_TYPE)}, got {storage!r}")


def check_image_extent(handle: DeviceHandle, width: int, height: int, what: str = "image") -> None:
    """Raise KernelError unless a width x height image fits the device (extents in texels)."""
    for label, v in (("width", width), ("height", height)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise KernelError(f"{what}: {label} must be a positive integer number of texels, got {v!r}")
    info = handle.info
    if not info.image_support:
        raise KernelError(f"{what}: device '{info.label}' has no image support; choose another device")
    if width > info.image2d_max_width or height > info.image2d_max_height:
        raise KernelError(
            f"{what}: {width} x {height} texels exceeds the device's largest image2d "
            f"({info.image2d_max_width} x {info.image2d_max_height} on '{info.label}'); "
            "choose a layout that folds the tensor into a squarer image, or split it")


def to_storage(array: np.ndarray, storage: str, what: str = "array") -> np.ndarray:
    """Convert host texels (float32 or float16, shape (H, W, 4)) to the storage dtype, C-contiguous.

    Raises KernelError for another dtype or shape, and for finite values that float16 storage
    would turn into infinities.
    """
    _check_storage(storage)
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[2] != 4:
        raise KernelError(f"{what}: image data must have shape (height, width, 4), got {array.shape}; "
                          "pack channels with smartmem_sim.kernels.runtime.memory.pack_channels")
    if array.dtype not in (np.float32, np.float16):
        raise KernelError(f"{what}: image data must be float32 (or float16), got {array.dtype}; "
                          "convert with .astype(np.float32)")
    if storage == "float16" and array.dtype == np.float32 and array.size:
        finite = np.abs(array[np.isfinite(array)])
        if finite.size and float(finite.max()) > FLOAT16_MAX:
            raise KernelError(f"{what}: largest magnitude {float(finite.max()):g} exceeds float16 storage "
                              f"(max {FLOAT16_MAX:g}); use storage='float32'")
    return np.ascontiguousarray(array, dtype=STORAGE_DTYPE[storage])


class Image2D:
    """An RGBA image2d on a device. Extents in texels; ``nbytes`` in bytes."""

    def __init__(self, handle: DeviceHandle, width: int, height: int, storage: str, image: cl.Image, name: str):
        self.handle = handle
        self.width = int(width)
        self.height = int(height)
        self.storage = storage
        self.image = image
        self.name = name

    @property
    def shape(self) -> tuple[int, int, int]:
        """Host array shape: (height, width, 4)."""
        return (self.height, self.width, 4)

    @property
    def texel_bytes(self) -> int:
        return TEXEL_BYTES[_STORAGE_NAME[self.storage]]

    @property
    def nbytes(self) -> int:
        return self.width * self.height * self.texel_bytes

    def upload(self, array: np.ndarray) -> None:
        """Copy host texels (shape (height, width, 4)) into the image; blocks until done."""
        host = to_storage(array, self.storage, what=self.name)
        if host.shape != self.shape:
            raise KernelError(f"{self.name}: data has shape {host.shape}, image is {self.shape} (height, width, 4)")
        cl.enqueue_copy(self.handle.queue, self.image, host, origin=(0, 0), region=(self.width, self.height))

    def download(self) -> np.ndarray:
        """Return the image's texels as float32 of shape (height, width, 4); blocks until done."""
        host = np.empty(self.shape, dtype=STORAGE_DTYPE[self.storage])
        cl.enqueue_copy(self.handle.queue, host, self.image, origin=(0, 0), region=(self.width, self.height))
        return host.astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"Image2D({self.name!r}, {self.width}x{self.height} texels, {self.storage})"


def create_image(handle: DeviceHandle, width: int, height: int, storage: str = "float32",
                 *, name: str = "image") -> Image2D:
    """Allocate an uninitialised RGBA image2d (read-write memory flags; a kernel's
    __read_only/__write_only qualifier decides the access per launch)."""
    _check_storage(storage)
    check_image_extent(handle, width, height, what=name)
    if storage == "float16" and not handle.info.half_image_format:
        raise KernelError(f"{name}: device '{handle.info.label}' lists no CL_RGBA/CL_HALF_FLOAT image "
                          "format; use storage='float32'")
    nbytes = int(width) * int(height) * TEXEL_BYTES[_STORAGE_NAME[storage]]
    if nbytes > handle.info.max_alloc_bytes:
        raise KernelError(f"{name}: {nbytes} bytes exceeds the device's largest allocation "
                          f"({handle.info.max_alloc_bytes} bytes on '{handle.info.label}')")
    fmt = cl.ImageFormat(cl.channel_order.RGBA, STORAGE_CHANNEL_TYPE[storage])
    image = cl.create_image(handle.context, cl.mem_flags.READ_WRITE, fmt, shape=(int(width), int(height)))
    return Image2D(handle, width, height, storage, image, name)


def image_from_array(handle: DeviceHandle, array: np.ndarray, storage: str = "float32",
                     *, name: str = "image") -> Image2D:
    """Allocate an image shaped like ``array`` (height, width, 4) and upload it."""
    host = to_storage(array, storage, what=name)
    img = create_image(handle, host.shape[1], host.shape[0], storage, name=name)
    img.upload(host)
    return img


class Buffer:
    """A device buffer of ``nbytes`` bytes."""

    def __init__(self, handle: DeviceHandle, nbytes: int, buffer: cl.Buffer, name: str):
        self.handle = handle
        self.nbytes = int(nbytes)
        self.buffer = buffer
        self.name = name

    def upload(self, array: np.ndarray) -> None:
        """Copy a host array's bytes (C order) to the start of the buffer; blocks until done."""
        host = np.ascontiguousarray(array)
        if host.nbytes > self.nbytes:
            raise KernelError(f"{self.name}: {host.nbytes} bytes of data do not fit the {self.nbytes}-byte buffer")
        cl.enqueue_copy(self.handle.queue, self.buffer, host)

    def download(self, dtype=np.float32, shape=None) -> np.ndarray:
        """Return the buffer's contents as ``dtype`` (whole buffer, or ``shape`` from the start)."""
        dtype = np.dtype(dtype)
        if shape is None:
            if self.nbytes % dtype.itemsize:
                raise KernelError(f"{self.name}: {self.nbytes} bytes is not a whole number of {dtype} items")
            shape = (self.nbytes // dtype.itemsize,)
        host = np.empty(shape, dtype=dtype)
        if host.nbytes > self.nbytes:
            raise KernelError(f"{self.name}: shape {tuple(shape)} of {dtype} needs {host.nbytes} bytes, "
                              f"buffer has {self.nbytes}")
        cl.enqueue_copy(self.handle.queue, host, self.buffer)
        return host

    def __repr__(self) -> str:
        return f"Buffer({self.name!r}, {self.nbytes} bytes)"


def create_buffer(handle: DeviceHandle, nbytes: int, *, name: str = "buffer") -> Buffer:
    """Allocate an uninitialised read-write buffer of ``nbytes`` bytes."""
    if not isinstance(nbytes, (int, np.integer)) or isinstance(nbytes, bool) or nbytes < 1:
        raise KernelError(f"{name}: buffer size must be a positive number of bytes, got {nbytes!r}")
    if nbytes > handle.info.max_alloc_bytes:
        raise KernelError(f"{name}: {nbytes} bytes exceeds the device's largest allocation "
                          f"({handle.info.max_alloc_bytes} bytes on '{handle.info.label}')")
    return Buffer(handle, nbytes, cl.Buffer(handle.context, cl.mem_flags.READ_WRITE, int(nbytes)), name)


def buffer_from_array(handle: DeviceHandle, array: np.ndarray, *, name: str = "buffer") -> Buffer:
    """Allocate a buffer holding a copy of ``array`` (C order)."""
    host = np.ascontiguousarray(array)
    if host.dtype.hasobject:
        raise KernelError(f"{name}: cannot copy an object array to the device; use a numeric dtype")
    buf = create_buffer(handle, max(host.nbytes, 1), name=name)
    if host.nbytes:
        buf.upload(host)
    return buf


def pack_channels(array: np.ndarray) -> np.ndarray:
    """Group the last axis into RGBA texels: (..., C) -> (..., ceil(C/4), 4), zero padded.

    Channel c lands in texel c // 4, lane c % 4 (the NC4HW4 convention of MNN and the paper).
    """
    array = np.asarray(array)
    if array.ndim < 1 or array.shape[-1] < 1:
        raise KernelError(f"pack_channels: need an array with a non-empty last axis, got shape {array.shape}")
    c = array.shape[-1]
    groups = -(-c // 4)
    out = np.zeros(array.shape[:-1] + (groups * 4,), dtype=array.dtype)
    out[..., :c] = array
    return out.reshape(array.shape[:-1] + (groups, 4))


def unpack_channels(texels: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of :func:`pack_channels`: (..., G, 4) -> (..., channels), dropping the padding lanes."""
    texels = np.asarray(texels)
    if texels.ndim < 2 or texels.shape[-1] != 4:
        raise KernelError(f"unpack_channels: need shape (..., groups, 4), got {texels.shape}")
    groups = texels.shape[-2]
    if not 1 <= channels <= 4 * groups or channels <= 4 * (groups - 1):
        raise KernelError(f"unpack_channels: {channels} channels do not fill {groups} texel groups; "
                          f"expected {4 * groups - 3}..{4 * groups}")
    return texels.reshape(texels.shape[:-2] + (groups * 4,))[..., :channels]
