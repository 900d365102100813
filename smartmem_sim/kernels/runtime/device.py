"""Choose an OpenCL device by probing it, never by platform index.

Several OpenCL platforms can be installed at once (PoCL, NVIDIA, oclgrind, pip's bundled PoCL that
cannot compile on newer CPUs). Listing order says nothing about which one works, so every
candidate builds and runs a tiny image kernel and the first one whose result is exactly right is
kept. A user picks a device by a substring of its platform, vendor or device name.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyopencl as cl

from smartmem_sim.kernels.errors import KernelError

INSTALL_HINT = (
    "Install a CPU OpenCL device, e.g. `apt-get install pocl-opencl-icd` on Debian/Ubuntu as root "
    "(`make opencl` does this), or point OCL_ICD_VENDORS at a folder holding a working .icd file; "
    "`smartmem devices` lists what is installed and why each device failed."
)

# Reads one RGBA texel per work-item and writes 2*v + (x, y, 0, 1): checks image reads, writes,
# coordinates and arithmetic at once. Exact in fp32 and fp16 for the small values used.
PROBE_SOURCE = r"""
__constant sampler_t sm_probe_sampler =
    CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP_TO_EDGE | CLK_FILTER_NEAREST;
__kernel void sm_probe(__read_only image2d_t src, __write_only image2d_t dst) {
  const int2 p = (int2)((int)get_global_id(0), (int)get_global_id(1));
  const float4 v = read_imagef(src, sm_probe_sampler, p);
  write_imagef(dst, p, 2.0f * v + (float4)((float)p.x, (float)p.y, 0.0f, 1.0f));
}
"""
_PROBE_WIDTH, _PROBE_HEIGHT = 4, 3


@dataclass(frozen=True)
class DeviceInfo:
    """What the runtime needs to know about a device. Sizes in bytes, image extents in texels."""

    platform_name: str
    platform_version: str
    device_name: str
    device_type: str  # e.g. "GPU", "CPU", "CPU|GPU|ACCELERATOR" (oclgrind claims every type)
    vendor: str
    version: str
    driver_version: str
    opencl_c_version: str
    image_support: bool
    image2d_max_width: int
    image2d_max_height: int
    max_work_group_size: int
    max_work_item_sizes: tuple[int, ...]
    compute_units: int
    global_mem_bytes: int
    max_alloc_bytes: int
    global_mem_cache_bytes: int
    global_mem_cacheline_bytes: int
    local_mem_bytes: int
    extensions: tuple[str, ...]
    half_image_format: bool  # CL_RGBA + CL_HALF_FLOAT listed as a supported image format

    @property
    def fp16_arithmetic(self) -> bool:
        """cl_khr_fp16 (half arithmetic, read_imageh). fp16 *storage* needs only half_image_format."""
        return "cl_khr_fp16" in self.extensions

    @property
    def label(self) -> str:
        return f"{self.platform_name} / {self.device_name}"

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["max_work_item_sizes"] = list(self.max_work_item_sizes)
        out["extensions"] = list(self.extensions)
        out["fp16_arithmetic"] = self.fp16_arithmetic
        return out


@dataclass
class DeviceHandle:
    """A working device: its context, an in-order queue with profiling on, and its info.

    ``programs`` and ``kernels`` are the build caches that smartmem_sim.kernels.runtime.launch fills.
    """

    device: cl.Device
    context: cl.Context
    queue: cl.CommandQueue
    info: DeviceInfo
    half_images_ok: bool  # the probe also ran on CL_HALF_FLOAT images and got the right result
    programs: dict = field(default_factory=dict, repr=False)
    kernels: dict = field(default_factory=dict, repr=False)
    program_builds: int = 0  # how many programs were actually compiled (cache misses)

    @property
    def key(self) -> str:
        """Identifies the device in cache keys (stable within one process)."""
        return f"{self.info.platform_name}|{self.info.device_name}|{self.device.int_ptr:x}"


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of probing one device. ``reason`` says why it failed ('' when ok)."""

    platform_name: str
    device_name: str
    ok: bool
    reason: str
    half_images_ok: bool
    seconds: float
    info: DeviceInfo | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform_name,
            "device": self.device_name,
            "probe_ok": self.ok,
            "reason": self.reason,
            "half_images_ok": self.half_images_ok,
            "probe_seconds": round(self.seconds, 3),
            "info": None if self.info is None else self.info.to_dict(),
        }


_TYPE_BITS = (("CPU", 2), ("GPU", 4), ("ACCELERATOR", 8), ("CUSTOM", 16))


def _type_name(bits: int) -> str:
    names = [name for name, bit in _TYPE_BITS if bits & bit]
    return "|".join(names) or f"0x{bits:x}"


def _safe(getter, default):
    try:
        return getter()
    except Exception:  # an ICD that does not answer a query must not hide the device
        return default


def describe(device: cl.Device, context: cl.Context | None = None) -> DeviceInfo:
    """Read a device's properties (and, given a context, whether RGBA half images exist)."""
    platform = device.platform
    half = False
    if context is not None:
        formats = _safe(
            lambda: cl.get_supported_image_formats(context, cl.mem_flags.READ_WRITE, cl.mem_object_type.IMAGE2D),
            [],
        )
        half = any(
            f.channel_order == cl.channel_order.RGBA and f.channel_data_type == cl.channel_type.HALF_FLOAT
            for f in formats
        )
    image_support = bool(_safe(lambda: device.image_support, False))
    return DeviceInfo(
        platform_name=platform.name.strip(),
        platform_version=platform.version.strip(),
        device_name=device.name.strip(),
        device_type=_type_name(int(device.type)),
        vendor=device.vendor.strip(),
        version=device.version.strip(),
        driver_version=_safe(lambda: device.driver_version.strip(), ""),
        opencl_c_version=_safe(lambda: device.opencl_c_version.strip(), ""),
        image_support=image_support,
        image2d_max_width=int(_safe(lambda: device.image2d_max_width, 0)) if image_support else 0,
        image2d_max_height=int(_safe(lambda: device.image2d_max_height, 0)) if image_support else 0,
        max_work_group_size=int(device.max_work_group_size),
        max_work_item_sizes=tuple(int(s) for s in device.max_work_item_sizes),
        compute_units=int(device.max_compute_units),
        global_mem_bytes=int(device.global_mem_size),
        max_alloc_bytes=int(device.max_mem_alloc_size),
        global_mem_cache_bytes=int(_safe(lambda: device.global_mem_cache_size, 0)),
        global_mem_cacheline_bytes=int(_safe(lambda: device.global_mem_cacheline_size, 0)),
        local_mem_bytes=int(_safe(lambda: device.local_mem_size, 0)),
        extensions=tuple(sorted(device.extensions.split())),
        half_image_format=half,
    )


def _list_devices() -> list[tuple[cl.Platform, cl.Device]]:
    try:
        platforms = cl.get_platforms()
    except cl.Error:  # no ICD registered at all: clGetPlatformIDs reports PLATFORM_NOT_FOUND_KHR
        return []
    out = []
    for platform in platforms:
        try:
            devices = platform.get_devices()
        except cl.Error:
            continue
        out.extend((platform, d) for d in devices)
    return out


def _rank(platform: cl.Platform, device: cl.Device) -> int:
    """Unnamed selection prefers a real GPU, then other devices, then oclgrind (a slow checker)."""
    if "oclgrind" in platform.name.lower():
        return 2
    bits = int(device.type)
    return 0 if bits & 4 and not bits & 2 else 1


def _matches(name: str, platform: cl.Platform, device: cl.Device) -> bool:
    needle = name.lower()
    hay = (platform.name, platform.vendor, device.name, device.vendor)
    return any(needle in h.lower() for h in hay)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _run_probe(context: cl.Context, queue: cl.CommandQueue, program: cl.Program, channel_type) -> str:
    """Run the probe kernel on one image format; return '' when right, else what went wrong."""
    h, w = _PROBE_HEIGHT, _PROBE_WIDTH
    src = (np.arange(h * w * 4, dtype=np.float32).reshape(h, w, 4) % 7) - 3.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    expected = 2.0 * src
    expected[..., 0] += xs
    expected[..., 1] += ys
    expected[..., 3] += 1.0
    host_dtype = np.float16 if channel_type == cl.channel_type.HALF_FLOAT else np.float32
    fmt = cl.ImageFormat(cl.channel_order.RGBA, channel_type)
    flags = cl.mem_flags
    img_in = cl.create_image(context, flags.READ_ONLY | flags.COPY_HOST_PTR, fmt, shape=(w, h),
                             hostbuf=np.ascontiguousarray(src.astype(host_dtype)))
    img_out = cl.create_image(context, flags.WRITE_ONLY, fmt, shape=(w, h))
    kernel = cl.Kernel(program, "sm_probe")
    kernel.set_args(img_in, img_out)
    cl.enqueue_nd_range_kernel(queue, kernel, (w, h), None)
    got = np.empty((h, w, 4), dtype=host_dtype)
    cl.enqueue_copy(queue, got, img_out, origin=(0, 0), region=(w, h))
    queue.finish()
    if not np.array_equal(got.astype(np.float32), expected):
        bad = int(np.count_nonzero(got.astype(np.float32) != expected))
        return f"probe kernel ran but {bad} of {expected.size} values are wrong"
    return ""


def probe(platform: cl.Platform, device: cl.Device) -> tuple[ProbeResult, DeviceHandle | None]:
    """Build and run the probe kernel on one device. Never raises for a broken device."""
    t0 = time.perf_counter()
    pname, dname = platform.name.strip(), device.name.strip()
    info = None
    try:
        if not device.image_support:
            info = describe(device)
            return ProbeResult(pname, dname, False, "no image support", False, time.perf_counter() - t0, info), None
        context = cl.Context([device])
        info = describe(device, context)
        queue = cl.CommandQueue(context, device, properties=cl.command_queue_properties.PROFILING_ENABLE)
        try:
            program = cl.Program(context, PROBE_SOURCE).build()
        except cl.Error as exc:
            return ProbeResult(pname, dname, False, f"probe kernel does not build: {_first_line(exc)}",
                               False, time.perf_counter() - t0, info), None
        reason = _run_probe(context, queue, program, cl.channel_type.FLOAT)
        half_ok = False
        if not reason and info.half_image_format:
            try:
                half_ok = _run_probe(context, queue, program, cl.channel_type.HALF_FLOAT) == ""
            except cl.Error:
                half_ok = False
    except Exception as exc:  # any driver failure is a reason to try the next device
        return ProbeResult(pname, dname, False, _first_line(exc), False, time.perf_counter() - t0, info), None
    seconds = time.perf_counter() - t0
    if reason:
        return ProbeResult(pname, dname, False, reason, False, seconds, info), None
    handle = DeviceHandle(device=device, context=context, queue=queue, info=info, half_images_ok=half_ok)
    return ProbeResult(pname, dname, True, "", half_ok, seconds, info), handle


def probe_all() -> list[ProbeResult]:
    """Probe every device of every platform, in listing order (for `smartmem devices`)."""
    return [probe(p, d)[0] for p, d in _list_devices()]


_SELECTED: dict[str | None, DeviceHandle] = {}


def open_device(platform: cl.Platform, device: cl.Device) -> DeviceHandle:
    """A handle on ``device`` without running the probe, for a caller that knows the device works.

    The oclgrind driver uses it: oclgrind 21.10's uninitialised-value checker can miss reads of
    never-written memory allocated after the probe's images were freed (seen on this machine), so
    a checked run should allocate nothing before the kernel under test.
    """
    context = cl.Context([device])
    info = describe(device, context)
    queue = cl.CommandQueue(context, device, properties=cl.command_queue_properties.PROFILING_ENABLE)
    return DeviceHandle(device=device, context=context, queue=queue, info=info,
                        half_images_ok=info.half_image_format)


def select_device(name: str | None = None, *, refresh: bool = False) -> DeviceHandle:
    """Return a working device, chosen by probe.

    Args:
        name: a case-insensitive substring of the platform, platform vendor, device or device
            vendor name ("pocl", "NVIDIA", "oclgrind"); None takes the first device that passes
            the probe, real GPUs first, oclgrind last.
        refresh: probe again instead of returning the handle chosen earlier in this process.

    Raises:
        KernelError: no device matches ``name``, or none passes the probe; the message lists
            every device tried and why it failed.
    """
    if name is not None and not (isinstance(name, str) and name.strip()):
        raise KernelError(f"device name must be a non-empty string, got {name!r}")
    key = None if name is None else name.strip()
    if not refresh and key in _SELECTED:
        return _SELECTED[key]
    candidates = _list_devices()
    if not candidates:
        raise KernelError(f"no OpenCL platform is installed (the ICD loader found none). {INSTALL_HINT}")
    if key is not None:
        matching = [(p, d) for p, d in candidates if _matches(key, p, d)]
        if not matching:
            have = "; ".join(f"'{p.name.strip()} / {d.name.strip()}'" for p, d in candidates)
            raise KernelError(f"no OpenCL device matches the name '{key}' (installed: {have}); "
                              "pass a substring of one of these platform or device names")
    else:
        matching = sorted(candidates, key=lambda pd: _rank(*pd))  # stable: listing order within a rank
    tried = []
    for platform, device in matching:
        known = [h for h in _SELECTED.values() if h.device.int_ptr == device.int_ptr]
        if known and not refresh:  # one context per device, whichever name chose it
            _SELECTED[key] = known[0]
            return known[0]
        result, handle = probe(platform, device)
        if handle is not None:
            _SELECTED[key] = handle
            return handle
        tried.append(f"'{result.platform_name} / {result.device_name}': {result.reason}")
    what = f"matching '{key}' " if key is not None else ""
    raise KernelError(f"no OpenCL device {what}passed the image probe; tried: " + "; ".join(tried)
                      + f". {INSTALL_HINT}")
