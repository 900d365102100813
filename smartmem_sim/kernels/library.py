"""Plan steps -> kernels: OpenCL source, launch geometry, arguments, and the memsim trace of each.

A step becomes one :class:`KernelDef` per output it writes (a Split writes several). Everything comes
from the step's :class:`~smartmem_sim.kernels.ops.program.AccessProgram`, so the source and the trace describe the
same accesses (tests/kernels/test_trace_matches_kernel.py checks this on a device). ``texel_reuse``
(smartmem_sim/kernels/ops/program.py: per-lane texel registers or a fetch on every read) is chosen per build, for a
device, and the source and the trace follow it together.

Output tiling (a MatMul/Gemm or row-reduction work-item computing TX x TY output texels,
smartmem_sim/kernels/ops/program.py) is chosen per plan step, by :attr:`~smartmem_sim.layout.plan.Step.tile`
(the compiler's tiles pass sets it); :func:`tile_plan` sets it on every MatMul/Gemm step of a plan (e.g.
``execute(tile_plan(plan, (4, 1)), ...)``), and every consumer of the plan (execute, the trace generator,
SimulatedCost, kernel hashes) follows it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from math import prod

import numpy as np

import smartmem_sim.kernels.ops  # noqa: F401  (registers the operator bodies)
from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.builder import MATMUL_OPS, TILED_OPS, build_program
from smartmem_sim.kernels.ops.program import AccessProgram
from smartmem_sim.kernels.render.opencl import render_shared
from smartmem_sim.kernels.trace.generate import item_accesses, scheduled_trace
from smartmem_sim.layout.image import ImageLayout
from smartmem_sim.layout.plan import Plan, Step
from smartmem_sim.memsim.surfaces import ELEM_BYTES, TEXEL_BYTES
from smartmem_sim.memsim.surfaces import Buffer as SimBuffer
from smartmem_sim.memsim.surfaces import Image2D as SimImage
from smartmem_sim.memsim.trace import Trace


@dataclass(frozen=True)
class KernelDef:
    """One kernel launch of a plan step."""

    step: str
    output: str  # stored tensor written
    program: AccessProgram
    storage: str  # "fp32" or "fp16"
    source: str
    entry: str  # the kernel function's name in ``source`` (a hash of the text; identical kernels share it)
    texel_reuse: bool = True  # the source keeps per-lane texel registers (smartmem_sim/kernels/ops/program.py)

    @property
    def name(self) -> str:
        """The kernel's name in reports and timelines (from its plan step)."""
        return self.program.name

    @property
    def global_size(self) -> tuple[int, int]:
        """The global size to launch: the program's grid rounded up to whole work-groups (the work-items
        past the grid return at once; AccessProgram.launch_size)."""
        return self.program.launch_size

    @property
    def local_size(self) -> tuple[int, int]:
        return self.program.local_size

    @property
    def args(self) -> tuple[str, ...]:
        """Stored tensor names, in kernel parameter order."""
        return tuple(s.tensor for s in self.program.surfaces)

    def surfaces(self) -> dict[str, int]:
        """Kernel parameter name -> its index (the ids an instrumented build logs)."""
        return {s.param: i for i, s in enumerate(self.program.surfaces)}

    def trace(self, cores: int, wave_size: int, surface_ids: Mapping[str, int] | None = None,
              values: Mapping[str, np.ndarray] | None = None) -> Trace:
        """The kernel's accesses in issue order (smartmem_sim/kernels/trace/generate.py); ``surface_ids`` maps stored
        tensor names to ids of the caller's SurfaceTable (default: parameter order); ``values`` holds the
        contents of index tensors that data-dependent reads need (default: the generator's stand-in)."""
        ids = None if surface_ids is None else np.array([surface_ids[t] for t in self.args], np.int32)
        acc = item_accesses(self.program, self.storage, values, texel_reuse=self.texel_reuse)
        return scheduled_trace(acc, self.program, cores, wave_size, ids)


def step_kernels(plan: Plan, step: Step, constants: Mapping[str, np.ndarray] | None = None, *,
                 texel_reuse: bool = True) -> list[KernelDef]:
    """The kernels of one step (``constants``: values of weight tensors some operators need at
    generation time, e.g. Slice starts or Gather indices, by stored tensor name; ``texel_reuse``: with
    or without the per-lane texel registers)."""
    out = []
    for i, name in enumerate(step.outputs):
        prog = build_program(plan, step, i, constants)
        entry, source = render_shared(prog, plan.storage, texel_reuse=texel_reuse)
        out.append(KernelDef(step.id, name, prog, plan.storage, source, entry, texel_reuse))
    return out


def plan_kernels(plan: Plan, constants: Mapping[str, np.ndarray] | None = None, *,
                 texel_reuse: bool = True) -> list[KernelDef]:
    """Every kernel of the plan, in execution order."""
    plan.validate()
    return [k for step in plan.steps for k in step_kernels(plan, step, constants, texel_reuse=texel_reuse)]


def plan_surfaces(plan: Plan) -> tuple[dict[str, int], list[SimImage | SimBuffer]]:
    """memsim surfaces of every stored tensor (ids in ``plan.tensors`` order), for a SurfaceTable."""
    ids, surfaces = {}, []
    for name, t in plan.tensors.items():
        ids[name] = len(surfaces)
        if isinstance(t.layout, ImageLayout):
            surfaces.append(SimImage(t.layout.width, t.layout.height, plan.storage, name))
        else:
            surfaces.append(SimBuffer(prod(t.shape) * ELEM_BYTES[plan.storage], name))
    return ids, surfaces


def plan_trace(plan: Plan, cores: int, wave_size: int, constants: Mapping[str, np.ndarray] | None = None,
               values: Mapping[str, np.ndarray] | None = None, *, texel_reuse: bool = True
               ) -> tuple[list[tuple[KernelDef, Trace]], list[SimImage | SimBuffer]]:
    """Per kernel, its trace against the plan's surface numbering, and the surfaces themselves
    (``values``: contents of runtime index tensors by stored tensor name, see KernelDef.trace)."""
    if plan.storage not in TEXEL_BYTES:
        raise KernelError(f"plan storage {plan.storage!r} unknown")
    ids, surfaces = plan_surfaces(plan)
    kernels = plan_kernels(plan, constants, texel_reuse=texel_reuse)
    return [(k, k.trace(cores, wave_size, ids, values)) for k in kernels], surfaces


def tile_plan(plan: Plan, tile: Sequence[int], op_types: Sequence[str] = MATMUL_OPS) -> Plan:
    """A copy of ``plan`` whose steps of ``op_types`` (default MatMul and Gemm; any of TILED_OPS, which adds
    the row reductions) compute ``tile = (TX, TY)`` output texels per work-item; other steps, tensors and
    weights are shared. A buffer output's texels form one row: its steps keep TY = 1 (``(TX, 1)``). ``(1, 1)``
    gives back the untiled kernels."""
    if len(tuple(tile)) != 2:
        raise KernelError(f"tile must be (TX, TY), got {tile!r}")
    tx, ty = (int(t) for t in tile)
    bad = sorted(set(op_types) - set(TILED_OPS))
    if bad:
        raise KernelError(f"op types {bad} cannot be tiled; only {', '.join(TILED_OPS)}")

    def one(step: Step) -> Step:
        if step.op_type not in op_types:
            return step
        on_image = all(isinstance(plan.tensors[o].layout, ImageLayout) for o in step.outputs)
        return replace(step, tile=(tx, ty if on_image else 1))

    return replace(plan, steps=[one(s) for s in plan.steps])
