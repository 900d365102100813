"""Record the memory accesses a kernel makes, to check them against memsim's trace.

Kernels read and write through the macros of :data:`PRELUDE` (``SM_READ_IMAGEF`` and friends).
A normal build expands them to the plain OpenCL calls. Built with ``-DSM_INSTRUMENT`` (see
:func:`instrument_options`), each access also appends one entry ``(surface, x, y, write)`` to its
work-item's slice of a global log buffer, in program order, using memsim's trace conventions:

- image: ``x``, ``y`` are the texel column and row;
- buffer: ``x`` is the byte offset of the element (vector loads: of its first byte), ``y`` is 0;
- ``surface`` is the id given to the image/buffer parameter by ``-DSM_SURFACE_<param>=<id>``.

A kernel lists the log parameters with ``SM_LOG_PARAMS`` at the end of its parameter list
(nothing in a normal build), and the host appends :attr:`AccessLog.args` to its arguments::

    __kernel void copy(__read_only image2d_t src, __write_only image2d_t dst SM_LOG_PARAMS) {
      int2 p = (int2)(get_global_id(0), get_global_id(1));
      SM_WRITE_IMAGEF(dst, p, SM_READ_IMAGEF(src, smp, p));
    }

Only real memory accesses are logged: a generated kernel takes a value that one of its read registers
already holds without calling a macro (texel reuse, smartmem_sim/kernels/ops/program.py), so the log holds exactly the
fetches the trace generator replays.

Each work-item's slice is ``1 + 4 * capacity`` int32: slot 0 counts the accesses it attempted,
then up to ``capacity`` entries; accesses beyond the capacity are dropped and counted in a
separate overflow counter (atomic). Coordinates and offsets are int32.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.render.prelude import PRELUDE, with_prelude  # noqa: F401 (re-exported)
from smartmem_sim.kernels.runtime.device import DeviceHandle
from smartmem_sim.kernels.runtime.memory import Buffer, buffer_from_array

ENTRY_INTS = 4  # surface, x, y, write



_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def instrument_options(surfaces: Mapping[str, int], capacity: int) -> list[str]:
    """Build options for an instrumented build.

    Args:
        surfaces: kernel parameter name -> surface id, for every image/buffer accessed through an
            SM_* macro (the id lands in the log's ``surface`` column).
        capacity: entries kept per work-item.
    """
    _check_capacity(capacity)
    opts = ["-DSM_INSTRUMENT", f"-DSM_LOG_CAPACITY={int(capacity)}"]
    for param, sid in surfaces.items():
        if not isinstance(param, str) or not _IDENT.match(param):
            raise KernelError(f"instrumentation: surface key {param!r} must be a kernel parameter name")
        if not isinstance(sid, (int, np.integer)) or isinstance(sid, bool) or sid < 0:
            raise KernelError(f"instrumentation: surface id of '{param}' must be a non-negative int, got {sid!r}")
        opts.append(f"-DSM_SURFACE_{param}={int(sid)}")
    return opts


def _check_capacity(capacity) -> None:
    if not isinstance(capacity, (int, np.integer)) or isinstance(capacity, bool) or capacity < 1:
        raise KernelError(f"instrumentation: capacity must be a positive int (entries per work-item), got {capacity!r}")


class RecordedAccesses:
    """The accesses of one instrumented launch, per work-item (global linear id:
    x fastest, then y, then z, as in ``sm_global_linear_id``)."""

    def __init__(self, counts: np.ndarray, entries: np.ndarray, overflow: int):
        self.counts = counts  # (items,) accesses attempted per work-item
        self.entries = entries  # (items, capacity, 4) int32
        self.overflow = overflow  # accesses dropped for lack of capacity, all work-items

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    def on_grid(self, launched: tuple[int, int], grid: tuple[int, int]) -> RecordedAccesses:
        """The work-items of a 2-D ``grid`` out of a launch of ``launched`` work-items (a padded launch,
        AccessProgram.launch_size), numbered ``gy * width + gx`` as the trace generator numbers them. The
        work-items past the grid must have made no access (the kernel returns from them at once)."""
        (lw, lh), (w, h) = launched, grid
        if lw * lh != len(self) or w > lw or h > lh:
            raise KernelError(f"access log of {len(self)} work-items: not a {lw}x{lh} launch holding a {w}x{h} grid")
        counts = self.counts.reshape(lh, lw)
        outside = int(counts.sum() - counts[:h, :w].sum())
        if outside:
            raise KernelError(f"access log: the work-items past the {w}x{h} grid made {outside} accesses")
        entries = self.entries.reshape(lh, lw, *self.entries.shape[1:])[:h, :w]
        return RecordedAccesses(counts[:h, :w].reshape(-1), entries.reshape(w * h, *self.entries.shape[1:]),
                                self.overflow)

    def item(self, gid: int) -> np.ndarray:
        """Entries of work-item ``gid`` in program order: (k, 4) int32 rows (surface, x, y, write)."""
        if not 0 <= gid < len(self):
            raise KernelError(f"work-item {gid} out of range: the launch had {len(self)} work-items")
        k = min(int(self.counts[gid]), self.entries.shape[1])
        return self.entries[gid, :k]

    def reads(self, gid: int, surface: int | None = None) -> list[tuple[int, int]]:
        """(x, y) of the reads of work-item ``gid``, in order (of one surface, if given)."""
        rows = self.item(gid)
        keep = rows[:, 3] == 0
        if surface is not None:
            keep &= rows[:, 0] == surface
        return [(int(x), int(y)) for x, y in rows[keep][:, 1:3]]

    def per_item(self) -> list[np.ndarray]:
        return [self.item(i) for i in range(len(self))]

    def columns(self) -> dict[str, np.ndarray]:
        """All entries flattened (work-item by work-item, each in program order) as columns
        ``item``, ``surface``, ``x``, ``y``, ``write`` -- memsim trace conventions, minus ``core``."""
        k = np.minimum(self.counts, self.entries.shape[1])
        mask = np.arange(self.entries.shape[1])[None, :] < k[:, None]
        rows = self.entries[mask]
        items = np.repeat(np.arange(len(self), dtype=np.int64), k)
        return {"item": items, "surface": rows[:, 0].astype(np.int32), "x": rows[:, 1].astype(np.int64),
                "y": rows[:, 2].astype(np.int64), "write": rows[:, 3].astype(bool)}


class AccessLog:
    """The device buffers an instrumented launch writes into, and their reader."""

    def __init__(self, handle: DeviceHandle, global_size, capacity: int = 64):
        _check_capacity(capacity)
        dims = (global_size,) if isinstance(global_size, (int, np.integer)) else tuple(global_size)
        if not 1 <= len(dims) <= 3 or any(not isinstance(d, (int, np.integer)) or d < 1 for d in dims):
            raise KernelError(f"access log: global size must be 1 to 3 positive ints, got {global_size!r}")
        self.handle = handle
        self.items = int(np.prod(dims))
        self.capacity = int(capacity)
        self.stride = 1 + ENTRY_INTS * self.capacity
        nbytes = self.items * self.stride * 4
        if nbytes > handle.info.max_alloc_bytes:
            raise KernelError(f"access log: {self.items} work-items x {self.capacity} entries needs {nbytes} "
                              f"bytes, more than the device allows in one buffer; lower the capacity or "
                              "instrument a smaller launch")
        self.log = buffer_from_array(handle, np.zeros(self.items * self.stride, np.int32), name="access log")
        self.overflow_counter = buffer_from_array(handle, np.zeros(1, np.int32), name="access log overflow")

    @property
    def args(self) -> tuple[Buffer, Buffer]:
        """Append these to the kernel's arguments (they fill SM_LOG_PARAMS)."""
        return (self.log, self.overflow_counter)

    def options(self, surfaces: Mapping[str, int]) -> list[str]:
        """Build options for this log's capacity and the given surface ids."""
        return instrument_options(surfaces, self.capacity)

    def reset(self) -> None:
        """Clear the log for another launch."""
        self.log.upload(np.zeros(self.items * self.stride, np.int32))
        self.overflow_counter.upload(np.zeros(1, np.int32))

    def read(self, *, allow_overflow: bool = False) -> RecordedAccesses:
        """Download the log (waits for the queue). Raises KernelError when entries were dropped,
        unless ``allow_overflow``."""
        self.handle.queue.finish()
        raw = self.log.download(np.int32).reshape(self.items, self.stride)
        overflow = int(self.overflow_counter.download(np.int32)[0])
        counts = raw[:, 0].astype(np.int64)
        if overflow and not allow_overflow:
            worst = int(counts.max())
            raise KernelError(f"access log: {overflow} accesses were dropped (a work-item made up to {worst}, "
                              f"capacity is {self.capacity}); use AccessLog(capacity>={worst})")
        entries = raw[:, 1:].reshape(self.items, self.capacity, ENTRY_INTS)
        return RecordedAccesses(counts, entries, overflow)
