"""A cheap analytical cost model: a few lines of arithmetic per step, no trace. For tests and quick searches;
the simulator (compiler/costs/simulated.py) is the oracle.

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

from collections.abc import Mapping
from math import prod

from compiler.cost import CostModel, KernelCost, LevelCost, check_layouts
from compiler.costs.device import Device, load_device
from compiler.layout.image import BufferLayout, ImageLayout, TensorLayout
from compiler.passes.layouts import reduction_dim, stored_dim
from compiler.plan import Operand, Plan, Step, StoredTensor

ELEM_BYTES = {"fp32": 4, "fp16": 2}
UNFRIENDLY_FACTOR = 2.0


class AnalyticalCost(CostModel):
    """The module's formula on ``device`` (a profile name or a Device)."""

    def __init__(self, device: str | Device = "adreno740"):
        self.dev = device if isinstance(device, Device) else load_device(device)
        self.device = self.dev.name

    def evaluate(self, plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None = None) -> KernelCost:
        tensors = check_layouts(plan, step, layouts)
        prof = self.dev.profile
        elem = ELEM_BYTES[plan.storage]
        texel = 4 * elem
        line = prof.levels[0].line
        out_t = tensors[step.outputs[0]]
        op_shape = tuple(step.output_map(0).src_shape) if step.output_map(0) is not None else out_t.shape
        n_out = prod(op_shape)
        l1_accesses = l1_bytes = dram = 0.0
        reduce_max = 1
        operands: list[tuple[Operand, int | None]] = [(op, reduction_dim(plan, step, i))
                                                      for i, op in enumerate(step.inputs) if op is not None]
        operands += [(op, None) for e in step.epilogue for op in e.operands]
        for op, r in operands:
            t = tensors[op.tensor]
            extent = op.shape[r] if r is not None and op.shape else 1
            reduce_max = max(reduce_max, extent)
            inner = r if r is not None else (len(op.shape) - 1 if op.shape else None)
            d = stored_dim(op.index_map, inner) if inner is not None else None
            reads = n_out * extent
            lanes = 4 if isinstance(t.layout, ImageLayout) and d is not None and d == t.layout.lane_dim else 1
            size = texel if isinstance(t.layout, ImageLayout) else elem
            l1_accesses += reads / lanes
            l1_bytes += reads / lanes * size
            dram += _footprint(t, texel, elem) * (1.0 if _friendly(t.layout, d) else UNFRIENDLY_FACTOR)
        for name in step.outputs:
            dram += _footprint(tensors[name], texel, elem)
        compute = n_out * reduce_max / self.dev.alu_lanes
        l1 = prof.levels[0]
        l1_cycles = l1_bytes / (l1.bandwidth_bytes_per_cycle * (prof.cores if l1.per_core else 1))
        dram_cycles = dram / (prof.dram.bandwidth_bytes_per_s / prof.clock_hz) if prof.dram.bandwidth_bytes_per_s else 0
        seconds = max(l1_cycles, dram_cycles, compute) / prof.clock_hz
        seconds += self.dev.launch_overhead_s * len(step.outputs)
        levels = [LevelCost(l1.name, l1_accesses, dram / line, dram)]
        levels += [LevelCost(lv.name, dram / line, dram / line, dram) for lv in prof.levels[1:]]
        return KernelCost(step.id, step.op_type, seconds, dram, tuple(levels), len(step.outputs),
                          compute / prof.clock_hz)


def _footprint(t: StoredTensor, texel: int, elem: int) -> float:
    if isinstance(t.layout, ImageLayout):
        return float(t.layout.width * t.layout.height * texel)
    return float(prod(t.shape) * elem)


def _friendly(layout: TensorLayout, d: int | None) -> bool:
    if d is None:
        return True
    if isinstance(layout, ImageLayout):
        return d == layout.lane_dim or (bool(layout.width_dims) and d == layout.width_dims[-1])
    if isinstance(layout, BufferLayout):
        return d == layout.order[-1]
    return False
