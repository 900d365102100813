"""The cost-model interface: what one kernel of a plan costs on a device, given its tensors' layouts.

A :class:`CostModel` evaluates one plan step (one kernel launch per output) with the layouts the plan
gives its tensors, or with other layouts for some of them (``layouts``: stored tensor name -> layout).
It knows nothing of search: smartmem_sim/compiler/search/ asks it, and smartmem_sim/simulation.py sums it over a plan.
Implementations live in smartmem_sim/compiler/costs/ (a memsim-backed one and a cheap analytical one).

Units: seconds, bytes, counts of accesses/misses (floats, because sampled counts are scaled).
"""
from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.layout.image import TensorLayout
from smartmem_sim.layout.plan import COPY, Plan, Step, StoredTensor
from smartmem_sim.layout.signature import step_tensors


@dataclass(frozen=True)
class LevelCost:
    """Counters of one cache level for one kernel (summed over the level's copies)."""

    name: str
    accesses: float
    misses: float
    bytes_filled: float  # bytes fetched from the level below


@dataclass(frozen=True)
class KernelCost:
    """Predicted cost of one step on one device.

    ``rel_error`` is the stated error bound of ``seconds`` from sampling (about two standard errors of
    the per-window estimates; 0 when every work-group was simulated or the model is analytical).
    ``sampled`` is the share of work-groups simulated (1.0 = exact)."""

    step: str
    op_type: str
    seconds: float
    dram_bytes: float
    levels: tuple[LevelCost, ...] = ()
    launches: int = 1
    compute_seconds: float = 0.0
    sampled: float = 1.0
    rel_error: float = 0.0

    @property
    def is_transform(self) -> bool:
        """True for a COPY kernel: a layout transformation the plan executes."""
        return self.op_type == COPY

    def level(self, name: str) -> LevelCost:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise CompilerError(f"kernel cost of '{self.step}': no cache level '{name}' "
                            f"(levels: {', '.join(lv.name for lv in self.levels)})")

    def renamed(self, step: str, op_type: str) -> KernelCost:
        """The same numbers for another step with the same signature (memo hits)."""
        return replace(self, step=step, op_type=op_type)


class CostModel(ABC):
    """Evaluates one step x layouts on one device (see the module docstring).

    ``keyed_by_signature``: True when ``evaluate`` depends only on what :func:`step_signature` captures
    (operator, attributes, index maps, layouts, shapes; not tensor or step names), so callers may reuse
    a result for every step of the same signature. A model reading anything else sets it False."""

    device: str = ""
    keyed_by_signature: bool = True

    @abstractmethod
    def evaluate(self, plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None = None) -> KernelCost:
        """Cost of ``step`` of ``plan`` when the stored tensors named in ``layouts`` take those layouts
        (the others keep the plan's)."""

    def evaluate_table(self, plan: Plan, step: Step, options: Mapping[str, Sequence[TensorLayout]]) -> np.ndarray:
        """Seconds of ``step`` for every combination of the layouts in ``options`` (tensor -> layouts to
        try): an array with one axis per tensor, in the order of ``options``; entry ``[j, k, ...]`` is
        ``evaluate(plan, step, {first: options[first][j], ...}).seconds``. Models may override this with
        something faster than one ``evaluate`` per entry; the numbers must be the same."""
        names = list(options)
        table = np.empty([len(options[n]) for n in names])
        for idx in itertools.product(*(range(len(options[n])) for n in names)):
            layouts = {n: options[n][j] for n, j in zip(names, idx, strict=True)}
            table[idx] = self.evaluate(plan, step, layouts).seconds
        return table

    def evaluate_plan(self, plan: Plan) -> list[KernelCost]:
        """Every step's cost, in plan order (kernels are independent: each starts with cold caches)."""
        return [self.evaluate(plan, step) for step in plan.steps]


# ---------------------------------------------------------------- helpers shared by implementations

def check_layouts(plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None) -> dict[str, StoredTensor]:
    """The step's stored tensors with ``layouts`` applied; raise CompilerError for a layout that names an
    unknown tensor or does not match its shape."""
    out: dict[str, StoredTensor] = {}
    for name in step_tensors(step):
        if name not in plan.tensors:
            raise CompilerError(f"cost of step '{step.id}': tensor '{name}' is not in plan '{plan.model}'")
        out[name] = plan.tensors[name]
    for name, layout in (layouts or {}).items():
        if name not in plan.tensors:
            raise CompilerError(f"cost of step '{step.id}': layout given for unknown tensor '{name}'")
        if not isinstance(layout, TensorLayout):
            raise CompilerError(f"cost of step '{step.id}': layout of '{name}' must be an ImageLayout or "
                                f"BufferLayout, got {type(layout).__name__}")
        if tuple(layout.shape) != tuple(plan.tensors[name].shape):
            raise CompilerError(f"cost of step '{step.id}': layout '{layout.name}' of '{name}' is for "
                                f"{tuple(layout.shape)}, the tensor is {plan.tensors[name].shape}")
        if name in out:
            out[name] = replace(out[name], layout=layout)
    return out


def plan_with_layouts(plan: Plan, step: Step, tensors: Mapping[str, StoredTensor]) -> Plan:
    """A one-step plan holding only ``step`` and its tensors (layouts applied), for kernel generation."""
    return Plan(plan.model, plan.policy, plan.storage, dict(tensors), [step], [], [],
                weights={n: plan.weights[n] for n in tensors if n in plan.weights})
