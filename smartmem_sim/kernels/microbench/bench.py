"""Run one microbenchmark on a device and return what it measured (times in ns, sizes in bytes).

Each function is one measurement; the adaptive sweeps that decide *which* footprints and strides to
measure, and the fits, live in smartmem_sim/calibration/. Timing is by OpenCL profiling events
(device start -> end of the kernel), the same clock smartmem_sim.kernels.execute reports for plan kernels.

Chases use the difference of two runs (``steps`` and ``2 * steps`` dependent reads): the launch overhead
and the cold misses of the first pass cancel, leaving the latency per read of the level that holds the
chain once it is warm (``steps`` is at least twice the chain length when the budget allows it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.microbench import chains
from smartmem_sim.kernels.microbench.sources import ALL
from smartmem_sim.kernels.runtime.device import DeviceHandle
from smartmem_sim.kernels.runtime.launch import compile_source, launch
from smartmem_sim.kernels.runtime.memory import (
    buffer_from_array,
    create_buffer,
    create_image,
    image_from_array,
)

STREAM_ROW_TEXELS = 1024  # image width of stream and chase images (16 KB rows in fp32)
STREAM_GROUPS = 255  # work-item rows of a stream: odd, so it walks every row of a power-of-two height


@dataclass(frozen=True)
class ChaseResult:
    bench: str  # "chase_buffer" or "chase_image"
    footprint_bytes: int  # bytes spanned by the chain (buffer length / image region)
    stride_bytes: int  # buffer: spacing of elements; image: spacing in x (bytes); see step_y
    step_y: int  # image: spacing of elements in rows (1 for buffers)
    order: str
    elements: int
    steps: int
    ns_per_step: float

    def row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StreamResult:
    bench: str  # "stream_image", "stream_image_fp16" or "stream_buffer"
    footprint_bytes: int
    bytes_read: int
    ns: float

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_read / (self.ns * 1e-9)

    def row(self) -> dict:
        return asdict(self)


def _time_ns(handle: DeviceHandle, name: str, gsize, args, repeat: int) -> float:
    """Smallest device time of ``repeat`` runs (the least disturbed; measurements only ever add time)."""
    program = compile_source(handle, ALL[name])
    best = float("inf")
    for _ in range(repeat):
        t = launch(handle, program, name, gsize, None, args).timing()
        best = min(best, float(t.duration_ns))
    return best


MIN_CHASE_NS = 2e5  # a chase difference shorter than this is lost in launch jitter: lengthen the chase


def _chase_steps(elements: int, max_steps: int) -> int:
    return int(min(max(2 * elements, 1024), max_steps))


def _chase_pair(handle: DeviceHandle, name: str, args_for, steps: int, max_steps: int, repeat: int):
    """(steps, ns per read) from runs of ``steps`` and ``2 * steps`` reads; the chase is lengthened 4x at
    a time (up to ``max_steps``) while the difference is shorter than MIN_CHASE_NS.

    The short and long runs take turns, each keeping its smallest time: a burst of load from another
    process then slows a run of each length, not only the short one, whose inflated time would shrink
    the difference (a 64 MB chase once read 9 ns per step instead of about 200 on a busy CI host).
    """
    while True:
        t1 = t2 = float("inf")
        for _ in range(repeat):
            t1 = min(t1, _time_ns(handle, name, (1,), args_for(steps), 1))
            t2 = min(t2, _time_ns(handle, name, (1,), args_for(2 * steps), 1))
        if t2 - t1 >= MIN_CHASE_NS or 4 * steps > max_steps:
            return steps, max(t2 - t1, 0.0) / steps
        steps *= 4


def chase_buffer(handle: DeviceHandle, footprint_bytes: int, stride_bytes: int, order: str = "random",
                 max_steps: int = 1 << 18, repeat: int = 3, seed: int = 0) -> ChaseResult:
    """Latency per dependent read of an int buffer chase (see the module docstring)."""
    chain = chains.buffer_chain(footprint_bytes, stride_bytes, order, seed)
    n = footprint_bytes // stride_bytes
    src = buffer_from_array(handle, chain, name="chase_chain")
    sink = create_buffer(handle, 4, name="chase_sink")
    steps, ns = _chase_pair(handle, "mb_chase_buffer", lambda s: [src, np.int32(s), sink],
                            _chase_steps(n, max_steps), max_steps, repeat)
    got = int(sink.download(np.int32)[0])
    if got < 0 or got >= len(chain):
        raise KernelError(f"chase_buffer: the chain ended at index {got}, outside the chain; the device misread it")
    return ChaseResult("chase_buffer", n * stride_bytes, stride_bytes, 1, order, n, steps, ns)


def chase_image(handle: DeviceHandle, footprint_bytes: int, step_x: int = 1, step_y: int = 1,
                order: str = "random", column_major: bool = False, max_steps: int = 1 << 18,
                repeat: int = 3, seed: int = 0) -> ChaseResult:
    """Latency per dependent read of an RGBA float32 image chase over a region of ``footprint_bytes``
    (rows of up to STREAM_ROW_TEXELS texels), visiting every ``step_x``-th texel of every ``step_y``-th row."""
    width = min(STREAM_ROW_TEXELS, handle.info.image2d_max_width)
    texels, n, height = chains.grid_chain(footprint_bytes, width, step_x, step_y, order, seed, column_major)
    img = image_from_array(handle, texels, "float32", name="chase_image")
    sink = create_buffer(handle, 4, name="chase_sink")
    steps, ns = _chase_pair(handle, "mb_chase_image", lambda s: [img, np.int32(s), sink],
                            _chase_steps(n, max_steps), max_steps, repeat)
    bench = "chase_image_cols" if column_major else "chase_image"
    return ChaseResult(bench, width * height * chains.CHASE_TEXEL_BYTES, step_x * chains.CHASE_TEXEL_BYTES, step_y, order,
                       n, steps, ns)


def _stream_shape(footprint_bytes: int, texel_bytes: int) -> tuple[int, int]:
    """(width, height) in texels of a stream surface: rows of up to STREAM_ROW_TEXELS, height >= 8."""
    texels = footprint_bytes // texel_bytes
    if texels < 16:
        raise KernelError(f"stream footprint {footprint_bytes} B is too small (need >= {16 * texel_bytes} B)")
    width = max(2, min(STREAM_ROW_TEXELS, texels // 8))
    return width, texels // width


def stream(handle: DeviceHandle, kind: str, footprint_bytes: int, count: int, groups: int = STREAM_GROUPS,
           repeat: int = 2) -> StreamResult:
    """Read a surface of ``footprint_bytes`` with a (width, ``groups``) grid, ``count`` texels per
    work-item. ``kind``: "image" (RGBA float32), "image_fp16" (CL_HALF_FLOAT) or "buffer" (float4)."""
    texel = {"image": 16, "image_fp16": 8, "buffer": 16}.get(kind)
    if texel is None:
        raise KernelError(f"stream kind must be image, image_fp16 or buffer, got {kind!r}")
    if count < 1 or groups < 1:
        raise KernelError(f"stream: count and groups must be >= 1, got {count}, {groups}")
    width, height = _stream_shape(footprint_bytes, texel)
    sink = create_buffer(handle, width * groups * 16, name="stream_sink")
    if kind == "buffer":
        src = create_buffer(handle, width * height * 16, name="stream_src")
        src.upload(np.ones(width * height * 4, np.float32))
        ns = _time_ns(handle, "mb_stream_buffer", (width, groups), [src, np.int32(height), np.int32(count), sink],
                      repeat)
    else:
        img = create_image(handle, width, height, "float16" if kind == "image_fp16" else "float32",
                           name="stream_src")
        img.upload(np.ones((height, width, 4), np.float32))
        ns = _time_ns(handle, "mb_stream_image", (width, groups), [img, np.int32(height), np.int32(count), sink],
                      repeat)
    return StreamResult(f"stream_{kind}", width * height * texel, width * groups * count * texel, ns)


def launch_overhead_ns(handle: DeviceHandle, runs: int = 30) -> float:
    """Median device time of a kernel that does nothing (one work-item), enqueued back to back like the
    kernels of a plan (smartmem_sim.kernels.execute waits only at the end; waiting after each launch lets the GPU idle
    and reads longer)."""
    program = compile_source(handle, ALL["mb_empty"])
    sink = create_buffer(handle, 4, name="empty_sink")
    launches = [launch(handle, program, "mb_empty", (1,), None, [sink, np.int32(-1)]) for _ in range(runs + 5)]
    handle.queue.finish()
    return float(np.median([la.timing().duration_ns for la in launches[5:]]))
