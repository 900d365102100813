"""The memory accesses of an access program, evaluated with numpy from the same index expressions the
OpenCL renderer prints, and scheduled into a memsim :class:`~memsim.trace.Trace`.

Two stages:

1. :func:`item_accesses`: every access of every work-item, in the work-item's program order (the order
   described in smartmem_sim/kernels/ops/program.py: phases, loop iterations, lanes innermost, reads), tagged with its
   *program point* (a number that is the same for the same instruction execution in every work-item:
   phase, loop iteration, lane, read). Texel reuse is applied as the kernel does it: an execution of a read
   instruction whose texel (image) or element (buffer) one of the instruction's lane registers holds
   makes no access (smartmem_sim/kernels/trace/registers.py; the rule is in smartmem_sim/kernels/ops/program.py). With ``texel_reuse=False``
   (a kernel rendered without the registers) every execution that is on accesses memory: the same
   sequence with every register compare failing.
2. :func:`scheduled_trace`: those rows in the GPU issue order on a device with ``cores`` cores that run
   work-groups of ``local_size`` work-items in waves of ``wave_size``, as smartmem_sim/memsim/schedule.py
   defines it for every trace (work-groups dealt to cores round-robin, waves in lock-step, one
   instruction's accesses across a wave adjacent).

Data-dependent reads (Gather/GatherElements on runtime indices, see :class:`~smartmem_sim.kernels.ops.program.IndexFrom`)
go where the index tensor's contents send them. ``values`` gives those contents (logical stored tensors by
name; smartmem_sim.kernels.execute has them for a run). Without them, a **stand-in** is used: every element of the index
tensor drawn uniformly from ``[0, extent)`` by ``numpy.random.default_rng(INDEX_STANDIN_SEED)`` (one draw of
the stored tensor's shape per tensor and extent), so a simulation without data is deterministic and
touches a table the way random tokens would; real token streams repeat more (a cache sees fewer misses).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.program import (
    AccessProgram,
    Read,
    check_texel_reuse,
    index_value,
    keyed_read_groups,
    memoized,
    read_address,
    slot_expr,
    slot_valid,
    texel_coords,
    texel_valid,
)
from smartmem_sim.kernels.render.opencl import buffer_out_coords, lane_loops
from smartmem_sim.kernels.trace.cse import kept_rows
from smartmem_sim.kernels.trace.registers import fetches
from smartmem_sim.layout.expr import evaluate
from smartmem_sim.memsim.schedule import issue_order, work_groups
from smartmem_sim.memsim.surfaces import ELEM_BYTES, TEXEL_BYTES
from smartmem_sim.memsim.trace import Trace

INDEX_STANDIN_SEED = 0


@dataclass(frozen=True)
class ItemAccesses:
    """Rows sorted by (item, point): item is the global linear id ``gx + gy*width``; surface indexes
    ``program.surfaces``; x, y as in memsim traces (buffer: byte offset, y = 0)."""

    item: np.ndarray
    point: np.ndarray
    surface: np.ndarray
    x: np.ndarray
    y: np.ndarray
    write: np.ndarray
    nbytes: np.ndarray

    def __len__(self) -> int:
        return int(self.item.shape[0])

    def of_item(self, gid: int) -> np.ndarray:
        """(k, 4) rows (surface, x, y, write) of one work-item, in program order."""
        lo, hi = np.searchsorted(self.item, [gid, gid + 1])
        return np.stack([self.surface[lo:hi], self.x[lo:hi], self.y[lo:hi], self.write[lo:hi].astype(np.int64)],
                        axis=1)


class _Rows:
    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("item", "point", "surface", "x", "y", "write", "nbytes")}

    def add(self, item, point, surface, x, y, write, nbytes) -> None:
        n = item.shape[0]
        self.cols["item"].append(item)
        self.cols["point"].append(np.broadcast_to(np.asarray(point, np.int64), (n,)))
        self.cols["surface"].append(np.full(n, surface, np.int32))
        self.cols["x"].append(x.astype(np.int64))
        self.cols["y"].append(np.broadcast_to(np.asarray(y, np.int64), (n,)))
        self.cols["write"].append(np.full(n, write, bool))
        self.cols["nbytes"].append(np.full(n, nbytes, np.int32))

    def done(self) -> ItemAccesses:
        cols = {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in self.cols.items()}
        item, point = cols["item"], cols["point"]
        span = int(point.max()) + 1 if point.size else 1
        if item.size and (int(item.max()) + 1) * span < 2**62:
            # one int64 key (item, point) is unique per row: one argsort instead of a two-key lexsort; the
            # rows arrive as a few sorted runs (one per read), which a stable (merging) sort exploits
            order = np.argsort(item * span + point, kind="stable")
        else:
            order = np.lexsort((point, item))
        return ItemAccesses(**{k: np.ascontiguousarray(v[order]) for k, v in cols.items()})


def _access_bytes(prog: AccessProgram, sid: int, storage: str) -> int:
    return TEXEL_BYTES[storage] if prog.surfaces[sid].on_image else ELEM_BYTES[storage]


def index_standin(shape: tuple[int, ...], extent: int) -> np.ndarray:
    """The documented stand-in for an index tensor whose contents are unknown (module docstring)."""
    return np.random.default_rng(INDEX_STANDIN_SEED).integers(0, extent, size=shape).astype(np.float64)


def _read_values(prog: AccessProgram, r: Read, env: Mapping, shape, values: Mapping[str, np.ndarray] | None,
                 extent: int) -> np.ndarray:
    """The values an unguarded read returns in every (lane, iteration), from ``values`` or the stand-in."""
    if r.lets:
        raise KernelError(f"kernel {prog.name}: the index read '{r.value}' is guarded; data-dependent reads need "
                          "an unguarded index read")
    s = prog.surfaces[r.surface]
    data = None if values is None else values.get(s.tensor)
    if data is None:
        data = index_standin(tuple(s.layout.shape), extent)
    data = np.asarray(data)
    if data.shape != tuple(s.layout.shape):
        raise KernelError(f"kernel {prog.name}: values of '{s.tensor}' have shape {data.shape}, the tensor is "
                          f"{tuple(s.layout.shape)}")
    idx = tuple(np.broadcast_to(evaluate(c, env), shape) for c in r.coords)
    return data[idx] if idx else np.broadcast_to(data, shape)


def item_accesses(prog: AccessProgram, storage: str = "fp32",
                  values: Mapping[str, np.ndarray] | None = None, *, texel_reuse: bool = True,
                  rect: tuple[int, int, int, int] | None = None, merge_reads: bool = False) -> ItemAccesses:
    """Every access of every work-item of ``prog`` (see the module docstring); ``values``: contents of
    index tensors that data-dependent reads need (by stored tensor name; default: the stand-in);
    ``texel_reuse``: replay the kernel rendered with (True) or without (False) the texel registers.

    ``rect = (x0, y0, w, h)``: only the work-items [x0, x0+w) x [y0, y0+h) of the grid, numbered within the
    rectangle (item = (gy - y0) * w + gx - x0); their accesses are exactly those of the whole grid's run
    (a work-item's accesses never depend on another's), found without tracing the rest.

    ``merge_reads`` (only without texel registers): the reads the device's compiler makes once, as
    :func:`merged_reads` says; what a cost model simulates, not what an instrumented kernel logs."""
    if merge_reads and texel_reuse:
        raise KernelError("merge_reads models a kernel without texel registers (texel_reuse=False)")
    acc, spans = _item_accesses(prog, storage, values, texel_reuse, rect)
    return merged_reads(acc, spans, prog) if merge_reads else acc


def _item_accesses(prog: AccessProgram, storage: str, values, texel_reuse: bool, rect):
    """item_accesses without merging, and each phase's (first point, points per iteration) for
    :func:`merged_reads`."""
    if storage not in ELEM_BYTES:
        raise KernelError(f"storage must be one of {sorted(ELEM_BYTES)}, got {storage!r}")
    check_texel_reuse(texel_reuse)
    x0, y0, width, height = _rect(prog, rect)
    if prog.tiled:
        return _tiled_accesses(prog, storage, texel_reuse, x0, y0, width, height)
    spans = []
    gy, gx = (a.ravel() for a in np.indices((height, width), dtype=np.int64))
    items = gy * width + gx
    gx += x0
    gy += y0
    rows = _Rows()
    out = prog.out_surface
    lc = prog.lanes
    count = lc.count
    # one row per valid (work-item, lane); expressions are evaluated on valid lanes only (a padding lane's
    # coordinates may index a table out of range)
    lane = np.tile(np.arange(count, dtype=np.int64), items.size)
    gx, gy, items = (np.repeat(a, count) for a in (gx, gy, items))
    env = {"gx": gx, "gy": gy, "lane": lane}
    valid = np.ones(items.shape, bool)
    for e, n in lc.valid:
        valid &= evaluate(e, env) < n
    sel = np.flatnonzero(valid)
    lane_env = {k: v[sel][:, None] for k, v in env.items()}
    lane_items, lane_of = items[sel], lane[sel]
    point = 0
    for phase in lc.phases:
        extents = [v.extent for v in phase.loops]
        iters = int(np.prod(extents)) if extents else 1
        nreads = len(phase.reads)
        env_p = dict(lane_env)
        if extents:
            grid = np.indices(extents, dtype=np.int64).reshape(len(extents), -1)
            for v, idx in zip(phase.loops, grid, strict=True):
                env_p[v.name] = idx[None, :]
        shape = (sel.size, iters)
        spans.append((point, count * max(nreads, 1)))
        # position of each execution in its work-item: iteration-major, lane-minor
        sources = {ix.value: ix.var.extent for r in phase.reads for ix in r.indices}
        read_values: dict[str, np.ndarray] = {}
        for k, r in enumerate(phase.reads):
            env_r = dict(env_p)
            for ix in r.indices:
                if ix.value not in read_values:
                    raise KernelError(f"kernel {prog.name}: read '{r.value}' takes an index from '{ix.value}', "
                                      "which is not an earlier read of its phase")
                env_r[ix.var.name] = index_value(read_values[ix.value], ix.var.extent)
            if r.value in sources:
                read_values[r.value] = _read_values(prog, r, env_r, shape, values, sources[r.value])
            ok = np.ones(shape, bool)
            for let in r.lets:
                val = np.broadcast_to(evaluate(let.expr, env_r), shape)
                ok &= (val >= 0) & (val < let.var.extent)
                env_r[let.var.name] = np.where(ok, val, 0)
            addr = read_address(prog, r)
            xs = np.broadcast_to(evaluate(addr[0], env_r), shape)
            nb = _access_bytes(prog, r.surface, storage)
            if prog.surfaces[r.surface].on_image:
                ys = np.broadcast_to(evaluate(addr[1], env_r), shape)
            else:
                xs, ys = xs * nb, np.zeros(shape, np.int64)
            f_item, f_seq, f_x, f_y = fetches(lane_items, lane_of, ok, xs, ys, count, texel_reuse)
            rows.add(f_item, point + f_seq * nreads + k, r.surface, f_x, f_y, False, nb)
        point += iters * count * nreads
    if not out.on_image:
        (off,) = out.layout.address_exprs(buffer_out_coords(prog))
        nb = _access_bytes(prog, prog.output, storage)
        offs = np.broadcast_to(evaluate(off, {k: v[:, 0] for k, v in lane_env.items()}), lane_items.shape)
        rows.add(lane_items, point + lane_of, prog.output, offs * nb, 0, True, nb)
    else:
        first = np.arange(width * height, dtype=np.int64)  # every work-item id (``items`` repeats them per lane)
        rows.add(first, point, prog.output, first % width + x0, first // width + y0, True,
                 _access_bytes(prog, prog.output, storage))
    return rows.done(), spans


def _block_iterations(phase, prog: AccessProgram) -> int:
    """Iterations of a phase's loop nest that the renderer unrolls into one block: a quad (4) where its
    innermost loop that runs more than once picks a texel's component (opencl.py, lane_loops), else one.
    Loops of one iteration inside the quad (a 1x1 convolution's kernel window) add nothing to the block."""
    loops = [v for v in phase.loops if v.extent > 1]
    return 4 if loops and loops[-1].name in lane_loops(phase, prog) else 1


def merged_reads(acc: ItemAccesses, spans, prog: AccessProgram) -> ItemAccesses:
    """``acc`` with the reads that a compiler's common-subexpression elimination makes once: within one
    work-item and one unrolled block of a phase (one iteration of its loop nest with all its lanes, or
    the four iterations of a quad, opencl.py's lane_loops), reads of the same texel (image) or element
    (buffer) of the same surface are one fetch, the first. A kernel without texel registers reads an image
    through ``read_imagef`` on a ``__read_only`` image, a pure call with the same arguments in straight-line
    code, which the device compiler evaluates once (on the H100, a 197x768x768 MatMul that the trace
    counts at 32 fetches per quad runs at about the speed of 5: benchmarks/results/bench_tiled_matmul).
    The instrumented kernel of the trace == kernel tests logs every call, so it is compared without this.
    ``spans``: per phase of ``prog``, (first point, points per loop iteration), in point order.
    Stores are kept as they are."""
    if not spans or not len(acc):
        return acc
    base = np.array([s[0] for s in spans], np.int64)
    stride = np.array([s[1] for s in spans], np.int64)
    per_block = np.array(memoized(prog, ("block_iterations",), lambda: [_block_iterations(p, prog) for p in prog.lanes.phases]),
                         np.int64)
    keep = kept_rows(acc.item, acc.point, acc.write, acc.surface, acc.x, acc.y, base, stride, per_block)
    if keep.all():
        return acc
    return ItemAccesses(**{f.name: getattr(acc, f.name)[keep] for f in fields(ItemAccesses)})


def _where(e, env: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    return np.broadcast_to(evaluate(e, env), (n,))


def _slot_valid(prog: AccessProgram, gx: np.ndarray, gy: np.ndarray, conds_of) -> np.ndarray:
    """(items, slots): the conditions ``conds_of(prog, slot)`` hold, each evaluated only where the earlier
    ones held (the edge guard first: a lane condition may index a table out of range past the edge)."""
    out = np.ones((gx.size, prog.slots), bool)
    for s in range(prog.slots):
        for e, n in conds_of(prog, s):
            idx = np.flatnonzero(out[:, s])
            if idx.size:
                out[idx, s] = _where(e, {"gx": gx[idx], "gy": gy[idx]}, idx.size) < n
    return out


def _tiled_accesses(prog: AccessProgram, storage: str, texel_reuse: bool, x0: int, y0: int, width: int,
                    height: int):
    """item_accesses of a tiled program (smartmem_sim/kernels/ops/program.py): per loop iteration, each read's
    groups in order fetch once (a group is on when one of its slots is real), then the tile's writes."""
    gy, gx = (a.ravel() for a in np.indices((height, width), dtype=np.int64))
    items = gy * width + gx
    gx, gy = gx + x0, gy + y0
    rows = _Rows()
    valid = _slot_valid(prog, gx, gy, slot_valid)
    point = 0
    spans = []
    for phase in prog.lanes.phases:
        extents = [v.extent for v in phase.loops]
        iters = int(np.prod(extents)) if extents else 1
        loop_env = {}
        if extents:
            grid = np.indices(extents, dtype=np.int64).reshape(len(extents), -1)
            loop_env = {v.name: idx[None, :] for v, idx in zip(phase.loops, grid, strict=True)}
        keyed = [keyed_read_groups(prog, r) for r in phase.reads]
        per_iter = sum(len(g) for g in keyed)
        spans.append((point, max(per_iter, 1)))
        first = 0
        for r, gs in zip(phase.reads, keyed, strict=True):
            s = prog.surfaces[r.surface]
            on = np.stack([valid[:, list(g)].any(axis=1) for g, _ in gs], axis=1)  # (items, groups)
            it, gi = np.nonzero(on)  # item-major: a work-item's rows adjacent
            shape = (it.size, iters)
            ok = np.zeros(shape, bool)
            xs, ys = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
            nb = _access_bytes(prog, r.surface, storage)
            for g, (_, (where, lets)) in enumerate(gs):
                sel = np.flatnonzero(gi == g)
                if not sel.size:
                    continue
                # the group's read_key holds its lead slot's guards and address, already substituted
                env = {"gx": gx[it[sel]][:, None], "gy": gy[it[sel]][:, None], **loop_env}
                sub = (sel.size, iters)
                okg = np.ones(sub, bool)
                for (name, extent, expr) in lets:
                    val = np.broadcast_to(evaluate(expr, env), sub)
                    okg &= (val >= 0) & (val < extent)
                    env[name] = np.where(okg, val, 0)
                ok[sel] = okg
                xs[sel] = np.broadcast_to(evaluate(where[0], env), sub)
                if s.on_image:
                    ys[sel] = np.broadcast_to(evaluate(where[1], env), sub)
            if not s.on_image:
                xs = xs * nb
            f_item, f_seq, f_x, f_y = fetches(items[it], gi, ok, xs, ys, len(gs), texel_reuse, own_only=True)
            i, g = np.divmod(f_seq, len(gs))
            rows.add(f_item, point + i * per_iter + first + g, r.surface, f_x, f_y, False, nb)
            first += len(gs)
        point += iters * per_iter
    out = prog.out_surface
    nb = _access_bytes(prog, prog.output, storage)
    env = {"gx": gx, "gy": gy}
    if out.on_image:
        texel_ok = _slot_valid(prog, gx, gy, texel_valid)
        for t in range(prog.tile[0] * prog.tile[1]):
            s = t * prog.lanes.count
            sel = np.flatnonzero(texel_ok[:, s])
            x, y = texel_coords(prog, s)
            sub = {k: v[sel] for k, v in env.items()}
            rows.add(items[sel], point + t, prog.output, _where(x, sub, sel.size), _where(y, sub, sel.size), True, nb)
    else:
        (off,) = memoized(prog, ("out_offset",), lambda: out.layout.address_exprs(buffer_out_coords(prog)))
        for s in range(prog.slots):
            sel = np.flatnonzero(valid[:, s])
            slot_off = memoized(prog, ("out_offset", s), lambda s=s: slot_expr(prog, s, off))
            offs = _where(slot_off, {k: v[sel] for k, v in env.items()}, sel.size)
            rows.add(items[sel], point + s, prog.output, offs * nb, 0, True, nb)
    return rows.done(), spans


def _rect(prog: AccessProgram, rect) -> tuple[int, int, int, int]:
    width, height = prog.global_size
    if rect is None:
        return 0, 0, width, height
    x0, y0, w, h = (int(v) for v in rect)
    if x0 < 0 or y0 < 0 or w < 1 or h < 1 or x0 + w > width or y0 + h > height:
        raise KernelError(f"kernel {prog.name}: rect {tuple(rect)} is not a rectangle of work-items inside its "
                          f"{width}x{height} grid")
    return x0, y0, w, h


def scheduled_trace(acc: ItemAccesses, prog: AccessProgram, cores: int, wave_size: int,
                    surface_ids: np.ndarray | None = None) -> Trace:
    """``acc`` in the GPU issue order on ``cores`` cores with waves of ``wave_size`` work-items
    (smartmem_sim/memsim/schedule.py).

    ``surface_ids`` maps the program's surface index to the id in the caller's SurfaceTable
    (default: the program's own numbering)."""
    for name, v in (("cores", cores), ("wave_size", wave_size)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise KernelError(f"scheduled_trace: {name} must be a positive integer, got {v!r}")
    width, _ = prog.global_size
    lx, ly = prog.local_size
    group, local = work_groups(acc.item % width, acc.item // width, width, lx, ly)
    order, core = issue_order(group, local, cores, lx * ly, wave_size, acc.point)
    sids = np.arange(len(prog.surfaces), dtype=np.int32) if surface_ids is None else np.asarray(surface_ids, np.int32)
    return Trace.from_columns(core=core[order].astype(np.int32), surface=sids[acc.surface[order]],
                              x=acc.x[order], y=acc.y[order], write=acc.write[order], nbytes=acc.nbytes[order],
                              name=f"trace of kernel {prog.name}")


def kernel_trace(prog: AccessProgram, storage: str, cores: int, wave_size: int,
                 surface_ids: np.ndarray | None = None, values: Mapping[str, np.ndarray] | None = None, *,
                 texel_reuse: bool = True) -> Trace:
    """:func:`item_accesses` then :func:`scheduled_trace`."""
    return scheduled_trace(item_accesses(prog, storage, values, texel_reuse=texel_reuse), prog, cores, wave_size,
                    surface_ids)
