"""Run a Plan on an OpenCL device: one image or buffer per stored tensor, inputs and weights packed by
their layouts, every step's kernels launched in order, outputs read back, per-kernel device times.

Storage follows ``plan.storage``: fp16 images are CL_HALF_FLOAT, fp16 buffers hold IEEE halves read with
``vload_half``; the kernels compute in float either way.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

import numpy as np
from onnx import numpy_helper

from compiler.ir import is_stripped_initializer
from compiler.layout.image import BufferLayout, ImageLayout
from compiler.plan import Plan, StoredTensor
from kernels.errors import KernelError
from kernels.library import KernelDef, plan_kernels
from kernels.runtime.device import DeviceHandle
from kernels.runtime.launch import KernelTiming, LaunchLog, build_program, launch
from kernels.runtime.memory import Buffer, Image2D, create_buffer, create_image

_IMAGE_STORAGE = {"fp32": "float32", "fp16": "float16"}
_HOST_DTYPE = {"fp32": np.float32, "fp16": np.float16}


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]  # by plan output name (stored tensor), logical shape, float32
    timings: list[KernelTiming]  # one per kernel, in launch order
    kernels: list[KernelDef]

    @property
    def total_ns(self) -> int:
        return sum(t.duration_ns for t in self.timings)


def allocate(handle: DeviceHandle, t: StoredTensor, storage: str) -> Image2D | Buffer:
    """An uninitialised image or buffer for a stored tensor."""
    if isinstance(t.layout, ImageLayout):
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
            keep: tuple[str, ...] = ()) -> RunResult:
    """Run ``plan``. ``inputs`` by plan input name; ``weights`` by stored tensor name (or by its
    ``source``), defaulting to the values the plan carries (``plan.weights``). ``keep`` names
    intermediate tensors to download as well (for debugging)."""
    weights = dict(weights or {})
    constants = {n: _weight(plan, n, weights) for n, t in plan.tensors.items() if t.kind == "weight"}
    kernels = kernels if kernels is not None else plan_kernels(plan, constants)
    missing = [n for n in plan.inputs if n not in inputs]
    if missing:
        raise KernelError(f"plan '{plan.model}': no value for input(s) {missing}")
    mem = {n: allocate(handle, t, plan.storage) for n, t in plan.tensors.items()}
    for n in plan.inputs:
        upload(mem[n], plan.tensors[n], inputs[n], plan.storage)
    for n, value in constants.items():
        upload(mem[n], plan.tensors[n], value, plan.storage)
    log = LaunchLog()
    for k in kernels:
        program = build_program(handle, k.source)
        log.add(launch(handle, program, k.name, k.global_size, k.local_size, [mem[a] for a in k.args],
                       label=k.name))
    handle.queue.finish()
    outputs = {n: download(mem[n], plan.tensors[n], plan.storage) for n in (*plan.outputs, *keep)}
    return RunResult(outputs, log.timings(), kernels)


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
