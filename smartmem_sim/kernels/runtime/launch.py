"""Build programs (cached), launch kernels, and read per-kernel times from profiling events.

The renderer hands over OpenCL C source strings; this module compiles them once per
(source, build options, device), enqueues kernels on the device's in-order profiling queue, and
turns events into :class:`KernelTiming` records (nanoseconds on the device's clock).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyopencl as cl

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.device import DeviceHandle
from smartmem_sim.kernels.runtime.memory import Buffer, Image2D

_LOG_LINES = 40  # build-log lines quoted in an error: enough for the first errors, not a wall


def _source_key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _check_options(options: Iterable[str]) -> tuple[str, ...]:
    if isinstance(options, str):
        raise KernelError(f"build options must be a list of strings, got the string {options!r}")
    opts = tuple(options)
    for o in opts:
        if not isinstance(o, str):
            raise KernelError(f"build option {o!r} is not a string")
    return opts


def compile_source(handle: DeviceHandle, source: str, options: Iterable[str] = ()) -> cl.Program:
    """Compile ``source`` for the handle's device, or return the program compiled before.

    The cache key is (sha256 of source, options, device). A failed build raises KernelError with
    the start of the compiler's log.
    """
    if not isinstance(source, str) or not source.strip():
        raise KernelError("OpenCL source must be a non-empty string")
    opts = _check_options(options)
    key = (_source_key(source), opts, handle.key)
    program = handle.programs.get(key)
    if program is not None:
        return program
    try:
        program = cl.Program(handle.context, source).build(options=list(opts))
    except cl.Error as exc:
        log = str(exc).strip().splitlines()
        names = [ln.split("(")[0].split()[-1] for ln in source.splitlines() if "__kernel" in ln and "(" in ln]
        hint = ""
        if any("SM_SURFACE_" in ln for ln in log):
            hint = (" (an instrumented build needs -DSM_SURFACE_<arg>=<id> for every image/buffer read "
                    "through the SM_* macros; see smartmem_sim.kernels.runtime.instrument.instrument_options)")
        raise KernelError(
            f"OpenCL build failed on '{handle.info.label}' for kernel(s) {names or '?'} with options "
            f"{list(opts)}{hint}:\n" + "\n".join(log[:_LOG_LINES])
            + ("\n..." if len(log) > _LOG_LINES else "")) from None
    handle.program_builds += 1
    handle.programs[key] = program
    return program


def get_kernel(handle: DeviceHandle, program: cl.Program, name: str) -> cl.Kernel:
    """The kernel ``name`` of ``program`` (one cl.Kernel object per program and name)."""
    key = (id(program), name)
    kernel = handle.kernels.get(key)
    if kernel is not None and kernel[0] is program:
        return kernel[1]
    names = program.kernel_names.split(";") if program.kernel_names else []
    if name not in names:
        raise KernelError(f"kernel '{name}' is not in the program; it defines {sorted(names)}")
    k = cl.Kernel(program, name)
    handle.kernels[key] = (program, k)  # keep program alive so id() stays unique
    return k


@dataclass(frozen=True)
class KernelTiming:
    """One kernel execution on the device clock: times in ns (OpenCL profiling counters)."""

    name: str
    label: str
    queued_ns: int
    submit_ns: int
    start_ns: int
    end_ns: int
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass
class Launch:
    """An enqueued kernel. ``timing()`` waits for it and reads the profiling counters."""

    name: str
    label: str
    event: cl.Event
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None

    def timing(self) -> KernelTiming:
        self.event.wait()
        p = self.event.profile
        return KernelTiming(self.name, self.label, int(p.queued), int(p.submit), int(p.start), int(p.end),
                            self.global_size, self.local_size)


def _check_sizes(handle: DeviceHandle, kernel: cl.Kernel, name: str, global_size, local_size):
    def as_dims(v, what):
        dims = (v,) if isinstance(v, (int, np.integer)) else tuple(v)
        if not 1 <= len(dims) <= 3 or any(
                not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1 for d in dims):
            raise KernelError(f"kernel '{name}': {what} size must be 1 to 3 positive integers, got {v!r}")
        return tuple(int(d) for d in dims)

    gsize = as_dims(global_size, "global")
    if local_size is None:
        return gsize, None
    lsize = as_dims(local_size, "local")
    if len(lsize) != len(gsize):
        raise KernelError(f"kernel '{name}': local size {lsize} and global size {gsize} differ in dimensions")
    # Uniform work-groups keep kernels portable to OpenCL 1.2 devices (oclgrind, phones).
    for i, (g, loc) in enumerate(zip(gsize, lsize, strict=True)):
        if g % loc:
            raise KernelError(f"kernel '{name}': global size {gsize} is not a multiple of local size {lsize} "
                              f"in dimension {i}; round the global size up and guard out-of-range work-items")
    info = handle.info
    items = int(np.prod(lsize))
    limit = info.max_work_group_size
    try:
        limit = min(limit, int(kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, handle.device)))
    except cl.Error:
        pass
    if items > limit:
        raise KernelError(f"kernel '{name}': work-group of {items} work-items {lsize} exceeds the limit {limit} "
                          f"on '{info.label}'; use a smaller local size")
    for i, loc in enumerate(lsize):
        if i < len(info.max_work_item_sizes) and loc > info.max_work_item_sizes[i]:
            raise KernelError(f"kernel '{name}': local size {loc} in dimension {i} exceeds the device's "
                              f"{info.max_work_item_sizes[i]} on '{info.label}'")
    return gsize, lsize


def _unwrap(name: str, i: int, arg):
    if isinstance(arg, Image2D):
        return arg.image
    if isinstance(arg, Buffer):
        return arg.buffer
    if arg is None or isinstance(arg, (cl.MemoryObjectHolder, cl.LocalMemory, np.generic)):
        return arg
    if isinstance(arg, (bool, int, float)):
        raise KernelError(f"kernel '{name}': argument {i} is a Python {type(arg).__name__} ({arg!r}); pass a "
                          "numpy scalar of the kernel's parameter type, e.g. np.int32(...) or np.float32(...)")
    raise KernelError(f"kernel '{name}': argument {i} has unsupported type {type(arg).__name__}; pass an "
                      "Image2D, Buffer, pyopencl memory object, cl.LocalMemory or numpy scalar")


def launch(handle: DeviceHandle, program: cl.Program, kernel_name: str, global_size, local_size=None,
           args: Sequence = (), *, label: str | None = None, wait_for: Sequence[cl.Event] | None = None) -> Launch:
    """Enqueue ``kernel_name`` over ``global_size`` work-items (work-groups of ``local_size``;
    None lets the driver choose). Does not wait; call ``.timing()`` or ``handle.queue.finish()``.
    """
    kernel = get_kernel(handle, program, kernel_name)
    gsize, lsize = _check_sizes(handle, kernel, kernel_name, global_size, local_size)
    if len(args) != kernel.num_args:
        raise KernelError(f"kernel '{kernel_name}' takes {kernel.num_args} arguments, {len(args)} given")
    for i, a in enumerate(args):
        try:
            kernel.set_arg(i, _unwrap(kernel_name, i, a))
        except cl.Error as exc:
            raise KernelError(f"kernel '{kernel_name}': argument {i} ({type(a).__name__}) was rejected by the "
                              f"driver: {str(exc).strip().splitlines()[0]}; check its type against the "
                              "kernel's parameter list") from None
    try:
        event = cl.enqueue_nd_range_kernel(handle.queue, kernel, gsize, lsize, wait_for=wait_for)
    except cl.Error as exc:
        raise KernelError(f"kernel '{kernel_name}' could not be enqueued on '{handle.info.label}' with global "
                          f"size {gsize}, local size {lsize}: {str(exc).strip().splitlines()[0]}") from None
    return Launch(kernel_name, label or kernel_name, event, gsize, lsize)


def run_kernel(handle: DeviceHandle, source: str, kernel_name: str, global_size, local_size=None,
               args: Sequence = (), *, options: Iterable[str] = (), label: str | None = None) -> KernelTiming:
    """Build (cached), launch, wait: the one-call path for tests and microbenchmarks."""
    program = compile_source(handle, source, options)
    return launch(handle, program, kernel_name, global_size, local_size, args, label=label).timing()


class LaunchLog:
    """Collects launches in issue order and turns them into timings once the queue is done."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []

    def add(self, launch_: Launch) -> Launch:
        self.launches.append(launch_)
        return launch_

    def timings(self) -> list[KernelTiming]:
        return [la.timing() for la in self.launches]

    def total_ns(self) -> int:
        """Sum of kernel durations (device busy time, not wall-clock span)."""
        return sum(t.duration_ns for t in self.timings())
