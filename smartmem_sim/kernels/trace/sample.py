"""Sampled traces of a plan step's kernels: the memsim input of the compiler's simulated cost model.

A step's kernels become access programs (smartmem_sim/kernels/ops/); each program's trace is generated whole
when it fits ``row_budget`` rows per window, else in ``windows`` windows of work-items spread over the grid,
each with a warm-up prefix (rows before ``count_from``) whose counts are subtracted. The error bound and the
biases of this sampling are stated in smartmem_sim/compiler/costs/simulated.py, which prices the windows.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from math import prod

import numpy as np

from smartmem_sim import memsim
from smartmem_sim.kernels.ops.builder import build_program, step_constants
from smartmem_sim.kernels.ops.program import AccessProgram, Let, check_texel_reuse, phase_classes
from smartmem_sim.kernels.render.opencl import lane_loops
from smartmem_sim.kernels.trace.generate import ItemAccesses, item_accesses, scheduled_trace
from smartmem_sim.layout.expr import Var, substitute
from smartmem_sim.layout.image import ImageLayout
from smartmem_sim.layout.plan import Plan, Step
from smartmem_sim.layout.signature import step_signature
from smartmem_sim.memsim.schedule import issue_steps, work_groups
from smartmem_sim.memsim.surfaces import ELEM_BYTES


@dataclass(frozen=True)
class KernelSample:
    """One kernel launch of a step, as traces to simulate (see the module docstring).

    ``surfaces``: memsim surfaces the traces' surface ids index; ``windows``: (trace, count_from) pairs;
    ``items``: work-items of the kernel; ``counted``: work-items counted per window (after warm-up;
    fractional where the sampler cut the loops: work-items times the share of accesses kept);
    ``inner_iterations``: inner-loop iterations of the whole kernel (its compute work, FMA-like ops)."""

    name: str
    surfaces: list
    windows: list[tuple[memsim.Trace, int]]
    items: int
    counted: list[int]
    inner_iterations: float


# ---------------------------------------------------------------- traces of sampled work-groups

def _accesses(prog: AccessProgram, storage: str, x0: int, y0: int, width: int, height: int,
              texel_reuse: bool = True) -> ItemAccesses:
    """item_accesses of a sub-rectangle of the grid, work-items numbered within it."""
    return item_accesses(prog, storage, texel_reuse=texel_reuse, rect=(x0, y0, width, height),
                         merge_reads=not texel_reuse)


def _points(prog: AccessProgram, classes=None) -> int:
    """Accesses of one work-item, at most (guards may skip some): every slot runs every phase, except that
    a shared phase of a tiled work-item runs once per class of its slots (program.py, phase_classes), as
    a row block's statistics do; counting those once per slot made a 16-texel LayerNorm block look 16x
    over the budget and cut loops it did not need to cut. ``classes``: phase_classes of the program that
    ``prog`` was cut from (a cut keeps them; deriving them again for every cut program is slow)."""
    runs = 0
    for p, shared in zip(prog.lanes.phases, classes or phase_classes(prog), strict=True):
        iters = prod(v.extent for v in p.loops) if p.loops else 1
        runs += iters * len(p.reads) * (len(shared) if shared else prog.slots)
    return runs + prog.slots + prog.tile[0] * prog.tile[1]


def _cut_loops(loops: tuple[Var, ...], target: int) -> dict[str, Var]:
    """New (smaller) loop variables, outer loops first, so that the nest runs about ``target`` iterations
    and its innermost loops stay whole where they fit (contiguous inner reads keep their cache lines)."""
    out: dict[str, Var] = {}
    for i, v in enumerate(loops):
        inner = prod(u.extent for u in loops[i + 1:])
        if inner <= target:
            keep = max(1, min(v.extent, target // inner))
            if keep < v.extent:
                out[v.name] = Var(v.name, keep)
            break
        out[v.name] = Var(v.name, 1)
    return out


def _whole_quads(new: dict[str, Var], phase, prog: AccessProgram) -> dict[str, Var]:
    """Cut loops that the renderer runs as quads (opencl.py, lane_loops) keep a multiple of four iterations,
    at least eight, so that the cut loop is still run as quads and its reads merge as in the whole loop
    (generate.py, merged_reads); otherwise a cut kernel would fetch more per iteration than the whole one."""
    quads = lane_loops(phase, prog)
    out = dict(new)
    for name, v in new.items():
        whole = next(u for u in phase.loops if u.name == name)
        if name in quads and v.extent % 4:
            out[name] = Var(name, min(whole.extent, max(8, v.extent - v.extent % 4)))
    return out


def cut_program(prog: AccessProgram, max_points: int) -> tuple[AccessProgram, float]:
    """``prog`` with every phase's reduction loops cut to their first iterations, so that a work-item makes
    at most about ``max_points`` accesses, and the static share (accesses of the cut program / of
    ``prog`` by :func:`_points`); ProgramSampler measures a closer share (its _measured_share) and
    falls back on this one. Used where even one row of a
    work-group's work-items is over the sampler's budget (statistics over a whole image, a reduction over
    millions of elements): memory and time stay bounded, at the cost of assuming that the first
    iterations miss as often as the rest (module docstring of smartmem_sim/compiler/costs/simulated.py)."""
    full = _points(prog)
    if full <= max_points:
        return prog, 1.0
    factor = max_points / full
    phases = []
    for p in prog.lanes.phases:
        iters = prod(v.extent for v in p.loops) if p.loops else 1
        new = _cut_loops(p.loops, max(1, int(iters * factor))) if p.loops else {}
        new = _whole_quads(new, p, prog)
        if not new:
            phases.append(p)
            continue

        def sub(e, new=new):
            return substitute(e, new)

        phases.append(replace(p, loops=tuple(new.get(v.name, v) for v in p.loops),
                              reads=tuple(replace(r, coords=tuple(sub(c) for c in r.coords),
                                                  lets=tuple(Let(lt.var, sub(lt.expr)) for lt in r.lets))
                                          for r in p.reads)))
    cut = replace(prog, lanes=replace(prog.lanes, phases=tuple(phases)))
    return cut, _points(cut, phase_classes(prog)) / full


def _clip(rect, width: int, height: int) -> tuple[int, int, int, int]:
    """``rect`` (x0, y0, w, h) of work-groups, cut to the grid: a padded launch's last groups are partial."""
    x0, y0, w, h = rect
    return x0, y0, min(w, width - x0), min(h, height - y0)


def _inner_iterations(prog: AccessProgram, cut: AccessProgram | None = None) -> float:
    """Inner-loop iterations of the whole kernel: each lane of each output texel runs its phases, except
    that a shared phase of a tiled work-item runs once per class of its slots (program.py). ``cut``: the
    program with its loops cut (cut_program), whose classes are the same and already derived for its trace."""
    w, h = prog.texels  # the output's texels (a tiled work-item computes several)
    items = prog.global_size[0] * prog.global_size[1]
    total = 0
    for p, classes in zip(prog.lanes.phases, phase_classes(cut or prog), strict=True):
        n = prod(v.extent for v in p.loops) if p.loops else 1
        total += n * (items * len(classes) if classes else w * h * prog.lanes.count)
    return float(total)


def _surfaces(prog: AccessProgram, storage: str) -> list:
    out = []
    for s in prog.surfaces:
        if isinstance(s.layout, ImageLayout):
            out.append(memsim.Image2D(s.layout.width, s.layout.height, storage, s.tensor))
        else:
            out.append(memsim.Buffer(prod(s.layout.shape) * ELEM_BYTES[storage], s.tensor))
    return out


@dataclass(frozen=True)
class _Prepared:
    """A kernel's device-independent sampling facts (ProgramSampler._prepare)."""

    prog: AccessProgram  # loops cut where a work-group row is over the budget
    share: float  # accesses of prog / of the whole kernel's program, per work-item
    per_item: int  # accesses of the busiest work-item of the centre work-group
    surfaces: list
    inner: float


_LAST_STEP = threading.local()


def _step_memo(key: tuple, flavour: bool) -> dict:
    """The memo of the step ``key`` names (id, signature, storage, row budget) traced with texel reuse
    ``flavour``, emptied when another step of the same flavour comes: the programs and work-item accesses of a step do not
    depend on the device, so when several devices price the same step in a row (:func:`simulate_plan_on`,
    :class:`PricedOnAll`) all but the first of each texel-reuse flavour find them here. One step per
    flavour is held at a time (per thread), so memory stays bounded."""
    memos = getattr(_LAST_STEP, "memos", None)
    if memos is None:
        memos = _LAST_STEP.memos = {}
    held = memos.get(flavour)
    if held is None or held[0] != key:
        held = memos[flavour] = (key, {})
    return held[1]


class ProgramSampler:
    """The traces of a plan step's kernels, whole or in windows (module docstring). A window is a rectangle of work-items in the order the
    trace schedule issues them: runs of consecutive work-groups (row-major over the grid of groups, dealt
    to cores round-robin), or, when one round of work-groups over the cores is already over the budget,
    the first rows of work-items of up to ``cores`` neighbouring work-groups (their first waves). Windows
    are spread evenly over the grid; the first third of a window's issue steps only warms the caches.
    Where one row of a work-group is over the budget, every phase's loops are first cut to their first
    iterations (:func:`cut_program`) and the counts scaled back by the share of accesses kept.

    ``texel_reuse``: trace the kernels as built with or without per-lane texel registers
    (smartmem_sim/kernels/ops/program.py); the cost model passes its device's choice. Without registers,
    the reads a compiler makes once per unrolled block are one fetch (generate.py, merged_reads): the
    device runs the compiled kernel, not the instrumented one whose every read logs."""

    def __init__(self, texel_reuse: bool = True):
        check_texel_reuse(texel_reuse)
        self.texel_reuse = bool(texel_reuse)

    def sample(self, plan: Plan, step: Step, cores: int, wave_size: int, row_budget: int,
               windows: int) -> list[KernelSample]:
        memo = _step_memo((step.id, step_signature(plan, step, plan.tensors), plan.storage, row_budget),
                          self.texel_reuse)
        out = []
        constants = None
        for i in range(len(step.outputs)):
            if ("prepared", i) not in memo:
                constants = step_constants(plan, step) if constants is None else constants
                memo[("prepared", i)] = self._prepare(build_program(plan, step, i, constants), plan.storage,
                                                      row_budget)
            prep = memo[("prepared", i)]
            out.append(self._one(prep, plan.storage, cores, wave_size, row_budget, windows, memo, i))
        return out

    def _prepare(self, full: AccessProgram, storage: str, row_budget: int) -> _Prepared:
        """What of a kernel's sampling does not depend on the device's cores and waves."""
        lx, _ = full.local_size
        gw, gh = full.groups
        # the smallest window is one row of a work-group: cut long loops so that it fits the budget
        cap = max(2, row_budget // lx)
        prog, share = cut_program(full, cap)
        per_item = _points(prog, phase_classes(full))
        centre = self._per_item(prog, storage) if gw * gh > 1 or share < 1 else None
        if gw * gh > 1:  # texel reuse makes the static bound 3-6x too high: measure the centre work-group
            per_item = max(1, int(centre.max()))
        if share < 1:
            share = self._measured_share(full, prog, cap, storage, share, centre)
        return _Prepared(prog, share, per_item, _surfaces(full, storage), _inner_iterations(full, prog))

    def _one(self, prep: _Prepared, storage, cores, wave_size, row_budget, windows, memo, i) -> KernelSample:
        prog, share, per_item, surfaces, inner = prep.prog, prep.share, prep.per_item, prep.surfaces, prep.inner
        width, height = prog.global_size
        lx, ly = prog.local_size
        gw, gh = prog.groups  # (a padded launch's last groups are partial: windows are clipped to the grid)
        items = width * height
        rows = items * per_item
        if rows <= row_budget * windows or (gw * gh <= windows and rows <= 8 * row_budget * windows):
            acc = self._accesses(memo, (i, None), prog, storage, (0, 0, width, height))
            trace = scheduled_trace(acc, prog, cores, wave_size)
            return KernelSample(prog.name, surfaces, [(trace, 0)], items, [items * share], inner)
        groups = gw * gh
        n = min(groups // windows, row_budget // (per_item * lx * ly))
        wins, counted = [], []
        for k in range(windows):
            centre = int((k + 0.5) * groups / windows)
            if n >= 1:  # whole work-groups
                start = min(max(centre - n // 2, 0), groups - n)
                if n >= gw:
                    rows = -(-n // gw)
                    r0 = min(start // gw, gh - rows)
                    rect = (0, r0 * ly, width, rows * ly)
                else:
                    r0, c0 = divmod(start, gw)
                    rect = (min(c0, gw - n) * lx, r0 * ly, n * lx, ly)
            else:  # the first rows of work-items of neighbouring work-groups
                m = max(1, min(cores, gw, row_budget // (per_item * lx)))
                h = max(1, min(ly, row_budget // (per_item * lx * m)))
                r0, c0 = divmod(centre, gw)
                rect = (min(c0, gw - m) * lx, r0 * ly, m * lx, h)
            rect = _clip(rect, width, height)
            acc = self._accesses(memo, (i, rect), prog, storage, rect)
            wins.append(self._window(prog, acc, rect, cores, wave_size))
            counted.append(wins[-1][2] * share)
        return KernelSample(prog.name, surfaces, [(t, c) for t, c, _ in wins], items, counted, inner)

    def _accesses(self, memo: dict, key: tuple, prog, storage, rect) -> ItemAccesses:
        """_accesses of ``rect``, from the step memo when another device traced it already."""
        if ("accesses", key) not in memo:
            memo[("accesses", key)] = _accesses(prog, storage, *rect, self.texel_reuse)
        return memo[("accesses", key)]

    def _per_item(self, prog, storage) -> np.ndarray:
        """Accesses of each work-item of the centre work-group."""
        (width, height), (lx, ly), (gw, gh) = prog.global_size, prog.local_size, prog.groups
        cx, cy, w, h = _clip(((gw // 2) * lx, (gh // 2) * ly, lx, ly), width, height)
        return np.bincount(_accesses(prog, storage, cx, cy, w, h, self.texel_reuse).item)

    def _measured_share(self, full, cut, cap, storage, static_share, cut_centre) -> float:
        """Accesses of a work-item of ``cut`` / of ``full``, measured on the centre work-group at two cuts
        and extrapolated linearly in the static count: the accesses outside the loops (and texel reuse)
        do not scale with the loops, so the static share alone over-counts them. ``cut_centre``:
        _per_item(cut), which the caller has already."""
        half, _ = cut_program(full, cap // 2)
        classes = phase_classes(full)
        p1, p2, pf = _points(cut, classes), _points(half, classes), _points(full, classes)
        a1, a2 = float(cut_centre.mean()), float(self._per_item(half, storage).mean())
        if p1 <= p2 or a1 <= a2:
            return static_share
        whole = a1 + (a1 - a2) / (p1 - p2) * (pf - p1)
        return min(1.0, a1 / whole) if whole > 0 else static_share

    def _window(self, prog, acc, rect, cores, wave_size) -> tuple[memsim.Trace, int, int]:
        """(trace, rows of the warm-up prefix, work-items counted after it) of one rectangle, whose
        accesses (_accesses) are ``acc``."""
        lx, ly = prog.local_size
        sub_w, sub_h = rect[2], rect[3]
        # issue step of every work-item (smartmem_sim/memsim/schedule.py)
        ids = np.arange(sub_w * sub_h)
        group, local = work_groups(ids % sub_w, ids // sub_w, sub_w, lx, ly)
        step, _ = issue_steps(group, local, cores, lx * ly, wave_size)
        warm = int(step.max() + 1) // 3
        count_from = int(np.count_nonzero(step[acc.item] < warm))
        counted = int(np.count_nonzero(step >= warm))
        sub = replace(prog, grid=(Var("gx", sub_w), Var("gy", sub_h)))  # scheduled_trace reads only the sizes
        return scheduled_trace(acc, sub, cores, wave_size), count_from, counted
