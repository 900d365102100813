"""The OpenCL runtime: pick a working device by probe, hold images and buffers, build and launch
kernels with profiling, write timelines, check kernels under oclgrind, record kernel accesses.

Source text comes from the renderer (smartmem_sim/kernels/render/); nothing here generates kernels.
"""
from smartmem_sim.kernels.runtime.device import (
    DeviceHandle,
    DeviceInfo,
    ProbeResult,
    open_device,
    probe_all,
    select_device,
)
from smartmem_sim.kernels.runtime.launch import (
    KernelTiming,
    Launch,
    LaunchLog,
    compile_source,
    launch,
    run_kernel,
)
from smartmem_sim.kernels.runtime.memory import (
    Buffer,
    Image2D,
    buffer_from_array,
    create_buffer,
    create_image,
    image_from_array,
    pack_channels,
    unpack_channels,
)
from smartmem_sim.kernels.runtime.timeline import chrome_trace, write_chrome_trace

__all__ = [
    "Buffer", "DeviceHandle", "DeviceInfo", "Image2D", "KernelTiming", "Launch", "LaunchLog", "ProbeResult",
    "buffer_from_array", "compile_source", "chrome_trace", "create_buffer", "create_image", "image_from_array",
    "launch", "open_device", "pack_channels", "probe_all", "run_kernel", "select_device", "unpack_channels",
    "write_chrome_trace",
]
