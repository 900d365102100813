"""Run a Plan on an OpenCL device: one image or buffer per stored tensor, inputs and weights packed by
their layouts, every step's kernels launched in order, outputs read back, per-kernel device times.

Storage follows ``plan.storage``: fp16 images are CL_HALF_FLOAT, fp16 buffers hold IEEE halves read with
``vload_half``; the kernels compute in float either way.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from math import prod

import numpy as np
import pyopencl as cl
from onnx import numpy_helper

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.library import KernelDef, plan_kernels
from smartmem_sim.kernels.runtime.device import DeviceHandle
from smartmem_sim.kernels.runtime.launch import KernelTiming, LaunchLog, compile_source, launch
from smartmem_sim.kernels.runtime.memory import Buffer, Image2D, create_buffer, create_image
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from smartmem_sim.layout.plan import Plan, StoredTensor, is_stripped_initializer

_IMAGE_STORAGE = {"fp32": "float32", "fp16": "float16"}
_HOST_DTYPE = {"fp32": np.float32, "fp16": np.float16}


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]  # by plan output name (stored tensor), logical shape, float32
    timings: list[KernelTiming]  # one per kernel, in launch order
    kernels: list[KernelDef]
    # host wall time from the first launch to the queue's end: the plan's latency with launches (and any
    # builds the program cache lacked) included, as a framework's forward call is timed
    wall_ns: int = 0

    @property
    def total_ns(self) -> int:
        return sum(t.duration_ns for t in self.timings)


def fit_to_device(plan: Plan, handle: DeviceHandle) -> tuple[Plan, list[str]]:
    """The plan with every image that exceeds the device's image2d limits stored as a row-major buffer
    instead (kernels are generated from the layouts, so they follow), and one note per tensor moved.
    E.g. a 49408-token embedding table is an image 49408 texels high; NVIDIA allows 32768."""
    info, tensors, notes = handle.info, dict(plan.tensors), []
    for name, t in plan.tensors.items():
        lay = t.layout
        if isinstance(lay, ImageLayout) and (lay.width > info.image2d_max_width or lay.height > info.image2d_max_height):
            tensors[name] = replace(t, layout=BufferLayout(tuple(t.shape), name="buffer"))
            notes.append(f"tensor '{name}': image {lay.width}x{lay.height} exceeds the device's image2d limit "
                         f"{info.image2d_max_width}x{info.image2d_max_height}; stored as a buffer")
    if not notes:
        return plan, notes
    return replace(plan, tensors=tensors), notes


def allocate(handle: DeviceHandle, t: StoredTensor, storage: str) -> Image2D | Buffer:
    """An uninitialised image or buffer for a stored tensor."""
    if isinstance(t.layout, ImageLayout):
        info = handle.info
        if t.layout.width > info.image2d_max_width or t.layout.height > info.image2d_max_height:
            raise KernelError(f"tensor '{t.name}': image {t.layout.width}x{t.layout.height} exceeds the device's "
                              f"image2d limit {info.image2d_max_width}x{info.image2d_max_height}; store it as a "
                              "buffer (smartmem_sim.kernels.execute.fit_to_device)")
        return create_image(handle, t.layout.width, t.layout.height, _IMAGE_STORAGE[storage], name=t.name)
    if isinstance(t.layout, BufferLayout):
        return create_buffer(handle, prod(t.shape) * np.dtype(_HOST_DTYPE[storage]).itemsize, name=t.name)
    raise KernelError(f"tensor '{t.name}': unknown layout {type(t.layout).__name__}")


def upload(mem: Image2D | Buffer, t: StoredTensor, value: np.ndarray, storage: str) -> None:
    """Pack a logical tensor by its layout and copy it to the device."""
    value = np.asarray(value, dtype=np.float32)
    if value.shape != tuple(t.shape):
        raise KernelError(f"tensor '{t.name}': value of shape {value.shape} given, the plan stores {t.shape}")
    if isinstance(t.layout, ImageLayout):
        mem.upload(t.layout.pack(value))
    else:
        mem.upload(np.ascontiguousarray(np.transpose(value, t.layout.order)).astype(_HOST_DTYPE[storage]).ravel())


def download(mem: Image2D | Buffer, t: StoredTensor, storage: str) -> np.ndarray:
    """Read a stored tensor back in its logical shape (float32)."""
    if isinstance(t.layout, ImageLayout):
        return t.layout.unpack(mem.download())
    order = t.layout.order
    flat = mem.download(_HOST_DTYPE[storage], (prod(t.shape),)).astype(np.float32)
    return np.transpose(flat.reshape([t.shape[d] for d in order]), np.argsort(order))


def execute(plan: Plan, handle: DeviceHandle, inputs: Mapping[str, np.ndarray],
            weights: Mapping[str, np.ndarray] | None = None, *, kernels: list[KernelDef] | None = None,
            keep: tuple[str, ...] = (), texel_reuse: bool = True, gate: int = 0) -> RunResult:
    """Run ``plan``. ``inputs`` by plan input name; ``weights`` by stored tensor name (or by its
    ``source``), defaulting to the values the plan carries (``plan.weights``). ``keep`` names
    intermediate tensors to download as well (for debugging). ``texel_reuse`` chooses how the kernels
    are generated (smartmem_sim/kernels/ops/program.py); ignored when ``kernels`` are given (they carry their own).

    ``gate = N > 0`` holds every N kernels back behind a user event until all N are enqueued, so the device
    runs them back to back instead of waiting for the host's launch loop between short kernels (on the
    H100 a tiny kernel that finds the GPU idle takes ~12 us start-to-end, 4-6 us when fed; gating removed
    most of convnext's and sd_text_encoder's slow small kernels but not swin's:
    experiments/results/calibration/README.md); 0 launches each kernel as soon as it is built."""
    weights = dict(weights or {})
    constants = {n: _weight(plan, n, weights) for n, t in plan.tensors.items() if t.kind == "weight"}
    kernels = kernels if kernels is not None else plan_kernels(plan, constants, texel_reuse=texel_reuse)
    if plan.storage == "fp16":
        _check_fp16_indices(kernels)
    missing = [n for n in plan.inputs if n not in inputs]
    if missing:
        raise KernelError(f"plan '{plan.model}': no value for input(s) {missing}")
    mem = {n: allocate(handle, t, plan.storage) for n, t in plan.tensors.items()}
    for n in plan.inputs:
        upload(mem[n], plan.tensors[n], inputs[n], plan.storage)
    for n, value in constants.items():
        upload(mem[n], plan.tensors[n], value, plan.storage)
    log = LaunchLog()
    gate_event = None
    start = time.perf_counter_ns()
    try:
        for i, k in enumerate(kernels):
            program = compile_source(handle, k.source)
            wait_for = None
            if gate and i % gate == 0:
                if gate_event is not None:
                    gate_event.set_status(cl.command_execution_status.COMPLETE)
                gate_event = cl.UserEvent(handle.context)
                wait_for = [gate_event]
            log.add(launch(handle, program, k.entry, k.global_size, k.local_size, [mem[a] for a in k.args],
                           label=k.name, wait_for=wait_for))
    finally:  # a failed build or launch must not leave the queue waiting on the gate
        if gate_event is not None:
            gate_event.set_status(cl.command_execution_status.COMPLETE)
    handle.queue.finish()
    wall_ns = time.perf_counter_ns() - start
    outputs = {n: download(mem[n], plan.tensors[n], plan.storage) for n in (*plan.outputs, *keep)}
    return RunResult(outputs, log.timings(), kernels, wall_ns)


FP16_EXACT_INTEGERS = 2048  # every integer up to 2^11 is a half; 2049 is not


def _check_fp16_indices(kernels: list[KernelDef]) -> None:
    """Runtime indices are stored like every tensor: in fp16 storage they are exact only up to 2048."""
    for k in kernels:
        if k.program is None:  # a kernel read back from its source file (smartmem_sim.compiled) was checked when built
            continue
        for phase in k.program.lanes.phases:
            for r in phase.reads:
                for ix in r.indices:
                    if ix.var.extent > FP16_EXACT_INTEGERS:
                        raise KernelError(f"kernel {k.name}: indices into an axis of {ix.var.extent} are not exact "
                                          f"in fp16 storage (integers beyond {FP16_EXACT_INTEGERS}); use fp32 storage")


def _weight(plan: Plan, name: str, weights: Mapping[str, np.ndarray]) -> np.ndarray:
    t = plan.tensors[name]
    for key in (name, t.source):
        if key and key in weights:
            return np.asarray(weights[key])
    proto = getattr(plan, "weights", {}).get(name)
    if proto is not None and not is_stripped_initializer(proto):
        return numpy_helper.to_array(proto)
    raise KernelError(f"plan '{plan.model}': no value for weight '{name}'"
                      + (f" (source '{t.source}')" if t.source and t.source != name else ""))
