"""The OpenCL runtime: pick a working device by probe, hold images and buffers, build and launch
kernels with profiling, write timelines, check kernels under oclgrind, record kernel accesses.

Source text comes from the renderer (smartmem_sim/kernels/render/); nothing here generates kernels.
"""
# Exports resolve on first use (PEP 562), so that importing one submodule does not load pyopencl through
# the others: simulation and rendering need no OpenCL driver; only what runs kernels does.
_EXPORTS = {
    "device": ("DeviceHandle", "DeviceInfo", "ProbeResult", "open_device", "probe_all", "select_device"),
    "launch": ("KernelTiming", "Launch", "LaunchLog", "compile_source", "launch", "run_kernel"),
    "memory": ("Buffer", "Image2D", "buffer_from_array", "create_buffer", "create_image", "image_from_array",
               "pack_channels", "unpack_channels"),
    "timeline": ("chrome_trace", "write_chrome_trace"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'smartmem_sim.kernels.runtime' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"smartmem_sim.kernels.runtime.{mod}"), name)


__all__ = [
    "Buffer", "DeviceHandle", "DeviceInfo", "Image2D", "KernelTiming", "Launch", "LaunchLog", "ProbeResult",
    "buffer_from_array", "compile_source", "chrome_trace", "create_buffer", "create_image", "image_from_array",
    "launch", "open_device", "pack_channels", "probe_all", "run_kernel", "select_device", "unpack_channels",
    "write_chrome_trace",
]
