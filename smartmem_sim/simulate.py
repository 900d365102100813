"""Compile a model under a policy and simulate every kernel on a device profile: per-kernel and total results.

    from smartmem_sim.simulate import simulate_model
    result = simulate_model("swin", "adreno740", "smartmem")     # a zoo name, an .onnx path or a Graph
    result.seconds, result.dram_bytes, result.transform_seconds, result.kernels[0]

The cost oracle is smartmem_sim.compiler.costs.SimulatedCost fed by :class:`ProgramSampler`, which turns a plan step into
the access programs of kernels/ and samples their traces (whole kernels when small, windows of
work-groups otherwise; the error bound is in smartmem_sim/compiler/costs/simulated.py). One cost model per device is
shared by all policies of a run (``cost_model(device)``), so identical kernels are simulated once.
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
from onnx import numpy_helper

from smartmem_sim import memsim
from smartmem_sim.compiler.cost import CostModel, KernelCost, step_signature
from smartmem_sim.compiler.costs import Device, KernelSample, SimulatedCost, load_device
from smartmem_sim.compiler.ir import Graph, is_stripped_initializer
from smartmem_sim.errors import UserError
from smartmem_sim.kernels.ops.builder import build_program
from smartmem_sim.kernels.ops.program import AccessProgram, Let, check_texel_reuse
from smartmem_sim.kernels.trace.generate import ELEM_BYTES, ItemAccesses, item_accesses, schedule
from smartmem_sim.layout.expr import Var, substitute
from smartmem_sim.layout.image import ImageLayout
from smartmem_sim.layout.plan import Plan, Step

DEFAULT_STORAGE = "fp16"  # the paper runs fp16 on phones


# ---------------------------------------------------------------- traces of sampled work-groups

def _accesses(prog: AccessProgram, storage: str, x0: int, y0: int, width: int, height: int,
              texel_reuse: bool = True) -> ItemAccesses:
    """item_accesses of a sub-rectangle of the grid, work-items numbered within it."""
    return item_accesses(prog, storage, texel_reuse=texel_reuse, rect=(x0, y0, width, height))


def _points(prog: AccessProgram) -> int:
    """Accesses of one work-item, at most (guards may skip some)."""
    per_lane = sum((prod(v.extent for v in p.loops) if p.loops else 1) * len(p.reads) for p in prog.lanes.phases)
    return prog.lanes.count * (per_lane + 1) + 1


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
    return cut, _points(cut) / full


def _inner_iterations(prog: AccessProgram) -> float:
    w, h = prog.global_size
    per_lane = sum(prod(v.extent for v in p.loops) if p.loops else 1 for p in prog.lanes.phases)
    return float(w * h * prog.lanes.count * per_lane)


def _surfaces(prog: AccessProgram, storage: str) -> list:
    out = []
    for s in prog.surfaces:
        if isinstance(s.layout, ImageLayout):
            out.append(memsim.Image2D(s.layout.width, s.layout.height, storage, s.tensor))
        else:
            out.append(memsim.Buffer(prod(s.layout.shape) * ELEM_BYTES[storage], s.tensor))
    return out


def _constants(plan: Plan, step: Step) -> dict[str, np.ndarray]:
    names = {op.tensor for op in step.inputs if op is not None}
    return {n: numpy_helper.to_array(plan.weights[n]) for n in names
            if n in plan.weights and not is_stripped_initializer(plan.weights[n])}


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
    """smartmem_sim.compiler.costs.KernelSampler over kernels/. A window is a rectangle of work-items in the order the
    trace schedule issues them: runs of consecutive work-groups (row-major over the grid of groups, dealt
    to cores round-robin), or, when one round of work-groups over the cores is already over the budget,
    the first rows of work-items of up to ``cores`` neighbouring work-groups (their first waves). Windows
    are spread evenly over the grid; the first third of a window's issue steps only warms the caches.
    Where one row of a work-group is over the budget, every phase's loops are first cut to their first
    iterations (:func:`cut_program`) and the counts scaled back by the share of accesses kept.

    ``texel_reuse``: trace the kernels as built with or without per-lane texel registers
    (smartmem_sim/kernels/ops/program.py); :meth:`for_device` takes the device's choice from smartmem_sim/compiler/costs/execution.toml."""

    def __init__(self, texel_reuse: bool = True):
        check_texel_reuse(texel_reuse)
        self.texel_reuse = bool(texel_reuse)

    @classmethod
    def for_device(cls, device: str | Device) -> ProgramSampler:
        """The sampler of the kernels a device runs (its ``texel_reuse`` in smartmem_sim/compiler/costs/execution.toml)."""
        return cls((device if isinstance(device, Device) else load_device(device)).texel_reuse)

    def sample(self, plan: Plan, step: Step, cores: int, wave_size: int, row_budget: int,
               windows: int) -> list[KernelSample]:
        memo = _step_memo((step.id, step_signature(plan, step, plan.tensors), plan.storage, row_budget),
                          self.texel_reuse)
        out = []
        constants = None
        for i in range(len(step.outputs)):
            if ("prepared", i) not in memo:
                constants = _constants(plan, step) if constants is None else constants
                memo[("prepared", i)] = self._prepare(build_program(plan, step, i, constants), plan.storage,
                                                      row_budget)
            prep = memo[("prepared", i)]
            out.append(self._one(prep, plan.storage, cores, wave_size, row_budget, windows, memo, i))
        return out

    def _prepare(self, full: AccessProgram, storage: str, row_budget: int) -> _Prepared:
        """What of a kernel's sampling does not depend on the device's cores and waves."""
        width, height = full.global_size
        lx, ly = full.local_size
        gw, gh = width // lx, height // ly
        # the smallest window is one row of a work-group: cut long loops so that it fits the budget
        cap = max(2, row_budget // lx)
        prog, share = cut_program(full, cap)
        per_item = _points(prog)
        centre = self._per_item(prog, storage) if gw * gh > 1 or share < 1 else None
        if gw * gh > 1:  # texel reuse makes the static bound 3-6x too high: measure the centre work-group
            per_item = max(1, int(centre.max()))
        if share < 1:
            share = self._measured_share(full, prog, cap, storage, share, centre)
        return _Prepared(prog, share, per_item, _surfaces(full, storage), _inner_iterations(full))

    def _one(self, prep: _Prepared, storage, cores, wave_size, row_budget, windows, memo, i) -> KernelSample:
        prog, share, per_item, surfaces, inner = prep.prog, prep.share, prep.per_item, prep.surfaces, prep.inner
        width, height = prog.global_size
        lx, ly = prog.local_size
        gw, gh = width // lx, height // ly
        items = width * height
        rows = items * per_item
        if rows <= row_budget * windows or (gw * gh <= windows and rows <= 8 * row_budget * windows):
            acc = self._accesses(memo, (i, None), prog, storage, (0, 0, width, height))
            trace = schedule(acc, prog, cores, wave_size)
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
        (width, height), (lx, ly) = prog.global_size, prog.local_size
        cx, cy = (width // lx // 2) * lx, (height // ly // 2) * ly
        return np.bincount(_accesses(prog, storage, cx, cy, lx, ly, self.texel_reuse).item)

    def _measured_share(self, full, cut, cap, storage, static_share, cut_centre) -> float:
        """Accesses of a work-item of ``cut`` / of ``full``, measured on the centre work-group at two cuts
        and extrapolated linearly in the static count: the accesses outside the loops (and texel reuse)
        do not scale with the loops, so the static share alone over-counts them. ``cut_centre``:
        _per_item(cut), which the caller has already."""
        half, _ = cut_program(full, cap // 2)
        p1, p2, pf = _points(cut), _points(half), _points(full)
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
        # issue step of every work-item, as smartmem_sim.kernels.trace.generate.schedule computes it
        ids = np.arange(sub_w * sub_h)
        gx, gy = ids % sub_w, ids // sub_w
        group = (gy // ly) * (sub_w // lx) + gx // lx
        local = (gy % ly) * lx + gx % lx
        step = (group // cores) * (-(-(lx * ly) // wave_size)) + local // wave_size
        warm = int(step.max() + 1) // 3
        count_from = int(np.count_nonzero(step[acc.item] < warm))
        counted = int(np.count_nonzero(step >= warm))
        sub = replace(prog, grid=(Var("gx", sub_w), Var("gy", sub_h)))  # schedule reads only the sizes
        return schedule(acc, sub, cores, wave_size), count_from, counted


_COST_MODELS: dict[tuple[str, int, int], SimulatedCost] = {}


def cost_model(device: str, row_budget: int = 20_000, windows: int = 3) -> SimulatedCost:
    """The shared memsim-backed cost model of ``device`` (memoized across calls in this process)."""
    key = (device, row_budget, windows)
    if key not in _COST_MODELS:
        _COST_MODELS[key] = SimulatedCost(device, ProgramSampler.for_device(device), row_budget, windows)
    return _COST_MODELS[key]


# ---------------------------------------------------------------- results

@dataclass
class SimulationResult:
    """A plan's predicted cost on one device: one KernelCost per step, in plan order."""

    model: str
    policy: str
    device: str
    plan: Plan
    kernels: list[KernelCost]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(k.seconds for k in self.kernels)

    @property
    def dram_bytes(self) -> float:
        return sum(k.dram_bytes for k in self.kernels)

    @property
    def launches(self) -> int:
        return sum(k.launches for k in self.kernels)

    @property
    def transforms(self) -> list[KernelCost]:
        """COPY kernels: layout transformations the plan executes."""
        return [k for k in self.kernels if k.is_transform]

    @property
    def transform_seconds(self) -> float:
        return sum(k.seconds for k in self.transforms)

    @property
    def rel_error(self) -> float:
        """Sampling error bound of ``seconds`` (kernels' errors added in quadrature)."""
        s = self.seconds
        return float(np.sqrt(sum((k.rel_error * k.seconds) ** 2 for k in self.kernels)) / s) if s else 0.0

    def misses(self) -> dict[str, float]:
        """Misses per cache level, summed over kernels."""
        out: dict[str, float] = {}
        for k in self.kernels:
            for lv in k.levels:
                out[lv.name] = out.get(lv.name, 0.0) + lv.misses
        return out

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "policy": self.policy, "device": self.device,
                "seconds": self.seconds, "rel_error": self.rel_error, "dram_bytes": self.dram_bytes,
                "misses": self.misses(), "kernels": len(self.kernels), "launches": self.launches,
                "transforms": len(self.transforms), "transform_seconds": self.transform_seconds, **self.meta}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_kernel": [kernel_dict(k) for k in self.kernels]}


def kernel_dict(k: KernelCost) -> dict[str, Any]:
    return {"step": k.step, "op_type": k.op_type, "seconds": k.seconds, "dram_bytes": k.dram_bytes,
            "compute_seconds": k.compute_seconds, "launches": k.launches, "sampled": k.sampled,
            "rel_error": k.rel_error,
            "levels": {lv.name: {"accesses": lv.accesses, "misses": lv.misses, "bytes_filled": lv.bytes_filled}
                       for lv in k.levels}}


def simulate_plan(plan: Plan, device: str = "adreno740", cost: CostModel | None = None) -> SimulationResult:
    """Every step of ``plan`` through ``cost`` (default: the shared memsim-backed model of ``device``)."""
    cost = cost if cost is not None else cost_model(device)
    return SimulationResult(plan.model, plan.policy, cost.device, plan, cost.evaluate_plan(plan))


def simulate_plan_on(plan: Plan, costs: Sequence[CostModel]) -> list[SimulationResult]:
    """simulate_plan on several cost models (devices) at once, one result per cost, equal to
    ``simulate_plan(plan, cost=c)`` for each. Each step is priced by every cost before the next step, so
    the sampler traces a step's work-items once for all devices (the step memo of ProgramSampler)."""
    costs = list(costs)
    kernels: list[list[KernelCost]] = [[] for _ in costs]
    for step in plan.steps:
        for out, cost in zip(kernels, costs, strict=True):
            out.append(cost.evaluate(plan, step))
    return [SimulationResult(plan.model, plan.policy, cost.device, plan, ks) for cost, ks in zip(costs, kernels,
                                                                                                  strict=True)]


class PricedOnAll(CostModel):
    """The first cost model's answers, with every evaluation also made on the others, so their memos hold
    it when they are asked (a search for one device prices its candidates on every device of a sweep
    group, each step traced once per texel-reuse flavour; the later searches find their prices memoized).
    Numbers are those of ``costs[0]`` alone."""

    def __init__(self, costs: Sequence[CostModel]):
        self.costs = list(costs)
        self.device = self.costs[0].device
        self.keyed_by_signature = all(c.keyed_by_signature for c in self.costs)

    def evaluate(self, plan: Plan, step: Step, layouts=None) -> KernelCost:
        first = self.costs[0].evaluate(plan, step, layouts)
        for c in self.costs[1:]:
            c.evaluate(plan, step, layouts)
        return first


def load_graph(model: str | Path | Graph, tiny: bool = False, dims: Mapping[str, int] | None = None,
               batch: int = 1) -> Graph:
    """A Graph from a Graph, a zoo network name, or an .onnx path (weights may be stripped).

    ``batch`` > 1 asks the zoo for the network at that batch size (zoo networks only)."""
    from smartmem_sim.compiler.frontend import load_model

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch must be a positive integer, got {batch!r}")
    if isinstance(model, Graph):
        if batch != 1:
            raise UserError("batch applies to zoo networks; a Graph is taken as it is")
        return model
    path = Path(model)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise UserError(f"model file {path} does not exist")
        if batch != 1:
            raise UserError(f"{path}: batch applies to zoo networks; export the .onnx file at the batch size you want")
        return load_model(str(path), dict(dims) if dims else None)
    from smartmem_sim import zoo

    if str(model) not in zoo.list_models():
        raise UserError(f"'{model}' is neither an .onnx file nor a zoo network ({', '.join(zoo.list_models())})")
    if batch == 1:
        onnx_model = zoo.load(str(model), tiny=tiny, weights=False)
    elif "batch" in inspect.signature(zoo.load).parameters:
        onnx_model = zoo.load(str(model), tiny=tiny, weights=False, batch=batch)
    else:
        raise UserError(f"batch={batch}: this checkout's zoo gives networks at batch 1 only")
    return load_model(onnx_model, dict(dims) if dims else None)


SEARCH_CANDIDATES = 2  # layouts per tensor the simulator-priced search tries (smartmem's + one)


def compile_for(graph: Graph, policy: str, device: str = "adreno740", storage: str = DEFAULT_STORAGE,
                cost: CostModel | None = None, search_candidates: int = SEARCH_CANDIDATES) -> Plan:
    """compile_model; the ``search`` policy asks ``cost`` (default: the device's memsim-backed model)."""
    from smartmem_sim.compiler.pipeline import compile_model

    if policy == "search":
        return compile_model(graph, policy, storage, cost=cost if cost is not None else cost_model(device),
                             search_candidates=search_candidates)
    return compile_model(graph, policy, storage)


def simulate_model(model: str | Path | Graph, device: str = "adreno740", policy: str = "smartmem",
                   storage: str = DEFAULT_STORAGE, tiny: bool = False, cost: CostModel | None = None,
                   search_candidates: int = SEARCH_CANDIDATES) -> SimulationResult:
    """Compile ``model`` under ``policy`` and simulate it on ``device``."""
    graph = load_graph(model, tiny)
    cost = cost if cost is not None else cost_model(device)
    plan = compile_for(graph, policy, device, storage, cost, search_candidates)
    return simulate_plan(plan, device, cost)
