"""A cheap analytical cost model: a few lines of arithmetic per step, no trace. For tests and quick searches;
the simulator (smartmem_sim/compiler/costs/simulated.py) is the oracle.

Per step (``E`` = elements of the operator's output, ``T`` = texel bytes, ``L`` = line bytes of the first level):

- every operand ``o`` is walked along its *inner dim* (the operator's reduction dim of that input, else the
  operand's last dim) mapped into the stored tensor; ``R_o`` = the reduction extent (1 if none);
- element reads ``n_o = E * R_o``; on an image, one texel load serves 4 of them when the inner dim is the
  lane dim (``u_o = 4``), else 1; a buffer load serves 1 element. L1 accesses = ``n_o / u_o``;
- the walk is *friendly* when the inner dim is the lane dim or the innermost dim of the stored x (or of a
  buffer's order); DRAM bytes = footprint_o * (1 if friendly else 2), the 2 standing for lines whose
  neighbours along the wrong axis are evicted before use; the output's footprint is written once;
- L1 misses = DRAM-side bytes / L; L2 and deeper misses = DRAM bytes / L;
- seconds = max(L1 bytes / (L1 bandwidth * cores), DRAM bytes / DRAM bandwidth, E * max(R) / ALU lanes)
  / clock + launch overhead (per output).

These constants are rough by design; nothing calibrates them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import prod

import numpy as np

from smartmem_sim import memsim
from smartmem_sim.compiler.costs.device import priced_device
from smartmem_sim.compiler.costs.model import CostModel, KernelCost, LevelCost, check_layouts
from smartmem_sim.compiler.passes.layouts import reduction_dim, stored_dim
from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout
from smartmem_sim.layout.plan import Operand, Plan, Step, StoredTensor
from smartmem_sim.memsim.surfaces import ELEM_BYTES

UNFRIENDLY_FACTOR = 2.0


class AnalyticalCost(CostModel):
    """The module's formula on ``device`` (a profile name or a memsim DeviceProfile with an [execution] table)."""

    def __init__(self, device: str | memsim.DeviceProfile = "adreno740"):
        self.dev = priced_device(device)
        self.device = self.dev.name

    def evaluate(self, plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None = None) -> KernelCost:
        tensors = check_layouts(plan, step, layouts)
        terms = _Terms(plan, step, tensors[step.outputs[0]])
        l1_accesses = l1_bytes = dram = 0.0
        for t, walk in terms.walks:
            a, b, d = _read(tensors[t].layout, *walk, terms.texel, terms.elem)
            l1_accesses += a
            l1_bytes += b
            dram += d
        for name in step.outputs:
            dram += _footprint(tensors[name].layout, terms.texel, terms.elem)
        prof = self.dev
        compute = terms.n_out * terms.reduce_max / self.dev.execution.alu_lanes
        seconds = float(self._seconds(l1_bytes, dram, compute)) + self.dev.execution.launch_overhead_s * len(step.outputs)
        line = prof.levels[0].line
        levels = [LevelCost(prof.levels[0].name, l1_accesses, dram / line, dram)]
        levels += [LevelCost(lv.name, dram / line, dram / line, dram) for lv in prof.levels[1:]]
        return KernelCost(step.id, step.op_type, seconds, dram, tuple(levels), len(step.outputs),
                          compute / prof.clock_hz)

    def evaluate_table(self, plan: Plan, step: Step, options: Mapping[str, Sequence[TensorLayout]]) -> np.ndarray:
        """The formula over every combination at once: each operand's and output's terms depend on its
        own tensor's layout only, so they are vectors along that tensor's axis, added in the same order
        as :meth:`evaluate` adds scalars (so every entry equals ``evaluate``'s seconds bit for bit)."""
        tensors = check_layouts(plan, step, {n: ls[0] for n, ls in options.items()})
        for name, ls in options.items():
            for layout in ls[1:]:
                check_layouts(plan, step, {name: layout})
        names = list(options)
        rank = len(names)

        def along(name: str, values: list[float]) -> np.ndarray:
            shape = [1] * rank
            shape[names.index(name)] = len(values)
            return np.asarray(values, dtype=float).reshape(shape)

        terms = _Terms(plan, step, tensors[step.outputs[0]])
        l1_bytes = dram = np.zeros([1] * rank)
        for t, walk in terms.walks:
            if t in options:
                reads = [_read(layout, *walk, terms.texel, terms.elem) for layout in options[t]]
                l1_bytes = l1_bytes + along(t, [r[1] for r in reads])
                dram = dram + along(t, [r[2] for r in reads])
            else:
                _, b, d = _read(tensors[t].layout, *walk, terms.texel, terms.elem)
                l1_bytes, dram = l1_bytes + b, dram + d
        for name in step.outputs:
            if name in options:
                dram = dram + along(name, [_footprint(lt, terms.texel, terms.elem) for lt in options[name]])
            else:
                dram = dram + _footprint(tensors[name].layout, terms.texel, terms.elem)
        compute = terms.n_out * terms.reduce_max / self.dev.execution.alu_lanes
        shape = [len(options[n]) for n in names]
        seconds = self._seconds(np.broadcast_to(l1_bytes, shape), np.broadcast_to(dram, shape), compute)
        return seconds + self.dev.execution.launch_overhead_s * len(step.outputs)

    def _seconds(self, l1_bytes, dram, compute: float):
        """max(L1 cycles, DRAM cycles, compute cycles) / clock; scalars or arrays."""
        prof = self.dev
        l1 = prof.levels[0]
        l1_cycles = l1_bytes / (l1.bandwidth_bytes_per_cycle * (prof.cores if l1.per_core else 1))
        bw = prof.dram.bandwidth_bytes_per_s
        dram_cycles = dram / (bw / prof.clock_hz) if bw else dram * 0
        return np.maximum(np.maximum(l1_cycles, dram_cycles), compute) / prof.clock_hz


class _Terms:
    """What of a step the formula needs that no layout changes: the operator's output elements, the
    largest reduction extent and, per read operand, its tensor and walk (inner stored dim, element reads)."""

    def __init__(self, plan: Plan, step: Step, out_t: StoredTensor):
        self.elem = ELEM_BYTES[plan.storage]
        self.texel = 4 * self.elem
        op_shape = tuple(step.output_map(0).src_shape) if step.output_map(0) is not None else out_t.shape
        self.n_out = prod(op_shape)
        self.reduce_max = 1
        operands: list[tuple[Operand, int | None]] = [(op, reduction_dim(plan, step, i))
                                                      for i, op in enumerate(step.inputs) if op is not None]
        operands += [(op, None) for e in step.epilogue for op in e.operands]
        self.walks: list[tuple[str, tuple[int | None, int]]] = []
        for op, r in operands:
            extent = op.shape[r] if r is not None and op.shape else 1
            self.reduce_max = max(self.reduce_max, extent)
            inner = r if r is not None else (len(op.shape) - 1 if op.shape else None)
            d = stored_dim(op.index_map, inner) if inner is not None else None
            self.walks.append((op.tensor, (d, self.n_out * extent)))


def _read(layout: TensorLayout, d: int | None, reads: int, texel: int, elem: int) -> tuple[float, float, float]:
    """(L1 accesses, L1 bytes, DRAM bytes) of ``reads`` element reads walking stored dim ``d``."""
    image = isinstance(layout, ImageLayout)
    lanes = 4 if image and d is not None and d == layout.lane_dim else 1
    size = texel if image else elem
    friendly = 1.0 if _friendly(layout, d) else UNFRIENDLY_FACTOR
    return reads / lanes, reads / lanes * size, _footprint(layout, texel, elem) * friendly


def _footprint(layout: TensorLayout, texel: int, elem: int) -> float:
    if isinstance(layout, ImageLayout):
        return float(layout.width * layout.height * texel)
    return float(prod(layout.shape) * elem)


def _friendly(layout: TensorLayout, d: int | None) -> bool:
    if d is None:
        return True
    if isinstance(layout, ImageLayout):
        return d == layout.lane_dim or (bool(layout.width_dims) and d == layout.width_dims[-1])
    if isinstance(layout, BufferLayout):
        return d == layout.order[-1]
    return False
