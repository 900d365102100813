"""What an operator body sees while one lane of its kernel is built (:class:`LaneContext`), and the registry
of bodies by ONNX op type (:data:`BODIES`). The driver that calls the bodies is smartmem_sim/kernels/ops/builder.py;
the bodies live in the family modules beside this one (element-wise math in elementwise.py, which the driver
also uses for fused epilogues)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.program import IndexFrom, Let, Phase, Read
from smartmem_sim.layout.expr import Const, Expr, Var, substitute
from smartmem_sim.layout.plan import Operand
from smartmem_sim.layout.simplify import simplify_all

if TYPE_CHECKING:
    from smartmem_sim.kernels.ops.builder import _ProgramBuilder

Body = Callable[["LaneContext", tuple[Expr, ...]], tuple[list[Phase], str]]
BODIES: dict[str, Body] = {}


def register(*op_types: str) -> Callable[[Body], Body]:
    def deco(fn: Body) -> Body:
        for t in op_types:
            BODIES[t] = fn
        return fn

    return deco


class LaneContext:
    """What an operator body sees while building one lane: the step, its operands, fresh names, reads."""

    def __init__(self, builder: _ProgramBuilder):
        self._b = builder
        self.step = builder.step
        self.attrs: Mapping = builder.step.attrs
        self.out_shape: tuple[int, ...] = builder.op_out_shape
        self.output_index = builder.output_index
        self._counter = 0
        self.issued: list[str] = []  # every fresh name, in order (the per-lane C identifiers, loops aside)

    # ---- names and loops
    def fresh(self, prefix: str = "t") -> str:
        self._counter += 1
        name = f"{prefix}{self._counter}"
        self.issued.append(name)
        return name

    def add_helper(self, c_code: str) -> None:
        """C code (functions, ``__constant`` tables) the kernel's phases use, placed before the kernel."""
        self._b.helpers.append(c_code)

    def loop(self, extent: int, prefix: str = "k") -> Var:
        if extent < 1:
            raise KernelError(f"step '{self.step.id}': a reduction loop of extent {extent}")
        return Var(self.fresh(prefix), int(extent))

    # ---- operands
    @property
    def inputs(self) -> tuple[Operand, ...]:
        return self.step.inputs

    def shape(self, i: int) -> tuple[int, ...]:
        return self.step.inputs[i].shape

    def has_input(self, i: int) -> bool:
        return i < len(self.step.inputs) and self.step.inputs[i] is not None

    def is_known(self, i: int) -> bool:
        """Whether input ``i`` is a weight whose value the caller passed (see :meth:`constant`)."""
        op = self.step.inputs[i]
        return (op is not None and self._b.plan.tensors[op.tensor].kind == "weight"
                and op.tensor in self._b.constants)

    @property
    def storage(self) -> str:
        return self._b.plan.storage

    def constant(self, i: int) -> np.ndarray:
        """The value of input ``i``, which must be a weight the caller passed (axes, pads, indices...)."""
        op = self.step.inputs[i]
        stored = self._b.plan.tensors[op.tensor]
        if stored.kind != "weight" or op.tensor not in self._b.constants:
            raise KernelError(f"step '{self.step.id}' ({self.step.op_type}): input {i} ('{op.tensor}') must be a "
                              "constant whose value is known when the kernel is generated")
        value = np.asarray(self._b.constants[op.tensor])
        return value[tuple(op.index_map.evaluate_grid())] if op.index_map.src_shape else value

    def attr(self, name: str, default=None):
        return self.step.attrs.get(name, default)

    def read(self, operand: Operand | int, coords: Sequence[Expr], lets: Sequence[Let] = (), fill: str = "0.0f",
             prefix: str = "v", indices: Sequence[IndexFrom] = ()) -> Read:
        """A read of an operand at the operator's coordinates ``coords`` (through its index map)."""
        op = self.step.inputs[operand] if isinstance(operand, int) else operand
        if len(coords) != len(op.index_map.variables):
            raise KernelError(f"step '{self.step.id}': {len(coords)} coordinates for operand '{op.tensor}' of "
                              f"rank {len(op.index_map.variables)}")
        values = {v.name: c for v, c in zip(op.index_map.variables, coords, strict=True)}
        stored = simplify_all(substitute(e, values) for e in op.index_map.exprs)
        return Read(self.fresh(prefix), self._b.surface(op.tensor), tuple(stored), tuple(lets), fill, tuple(indices))

    def broadcast_read(self, operand: Operand | int, out: Sequence[Expr], prefix: str = "v") -> Read:
        """Read an operand broadcast (numpy rules) to coordinates ``out`` of a larger shape."""
        op = self.step.inputs[operand] if isinstance(operand, int) else operand
        return self.read(op, broadcast_coords(op.shape, out), prefix=prefix)


def broadcast_coords(shape: Sequence[int], out: Sequence[Expr]) -> tuple[Expr, ...]:
    """Coordinates into ``shape`` of the element that numpy broadcasting maps to ``out``."""
    if len(shape) > len(out):
        raise KernelError(f"cannot broadcast shape {tuple(shape)} to rank {len(out)}")
    off = len(out) - len(shape)
    return tuple(Const(0) if n == 1 else out[off + i] for i, n in enumerate(shape))
