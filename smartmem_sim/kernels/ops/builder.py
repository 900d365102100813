"""Turn one plan Step (and one of its outputs) into an :class:`AccessProgram`.

The driver does what every kernel shares: the grid over the output image or buffer, each lane's logical
output coordinates (the output layout's inverse, then the inverse of the step's ``output_map``), the
lane's validity condition, the fused epilogues and the write. An operator module supplies only the
*body*: a function ``body(ctx, out) -> (phases, result)`` that, given the operator's output coordinates
``out`` (index expressions of ``gx``/``gy``), says what it reads in which loops and how it combines the
values (see smartmem_sim/kernels/ops/program.py). Bodies register themselves by ONNX op type in :data:`BODIES`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from math import prod

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.program import (
    LANES,
    AccessProgram,
    IndexFrom,
    LaneCode,
    Let,
    Phase,
    Read,
    Surface,
)
from smartmem_sim.layout.expr import Add, Const, Expr, FloorDiv, Mod, Var, bounds, evaluate, substitute
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.plan import Operand, Plan, Step
from smartmem_sim.layout.simplify import linear, simplify_all

Body = Callable[["LaneContext", tuple[Expr, ...]], tuple[list[Phase], str]]
BODIES: dict[str, Body] = {}
MAX_GROUP_ITEMS = 64  # work-items per work-group (fits every device we have, phones included)


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


class _ProgramBuilder:
    def __init__(self, plan: Plan, step: Step, output_index: int, constants: Mapping[str, np.ndarray]):
        self.plan = plan
        self.step = step
        self.output_index = output_index
        self.constants = constants
        out_name = step.outputs[output_index]
        if out_name not in plan.tensors:
            raise KernelError(f"step '{step.id}' writes unknown tensor '{out_name}'")
        self.out_tensor = plan.tensors[out_name]
        self.out_map = step.output_map(output_index)
        self.op_out_shape = tuple(self.out_map.src_shape) if self.out_map is not None else tuple(self.out_tensor.shape)
        self.surfaces: list[Surface] = []
        self._index: dict[str, int] = {}
        self.helpers: list[str] = []

    def surface(self, tensor: str, write: bool = False) -> int:
        if tensor in self._index:
            if write or self.surfaces[self._index[tensor]].write:
                raise KernelError(f"step '{self.step.id}' reads and writes '{tensor}'; kernels cannot work in place")
            return self._index[tensor]
        if tensor not in self.plan.tensors:
            raise KernelError(f"step '{self.step.id}' reads unknown tensor '{tensor}'")
        self._index[tensor] = len(self.surfaces)
        self.surfaces.append(Surface(f"surf{len(self.surfaces)}", tensor, self.plan.tensors[tensor].layout, write))
        return self._index[tensor]


def _pick_local(n: int, cap: int) -> int:
    for d in range(min(n, cap), 0, -1):
        if n % d == 0:
            return d
    return 1


def _kernel_name(step: Step, output_index: int) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", f"k_{step.id}")
    return base + (f"_o{output_index}" if output_index else "")


def _digit(atom: Expr) -> tuple[str, int, int] | None:
    """``atom`` as a digit ``(var // stride) % radix`` of one variable: (name, stride, radix), or None."""
    stride, radix = 1, None
    node = atom
    if isinstance(node, Mod):
        radix, node = node.den, node.num
    if isinstance(node, FloorDiv):
        stride, node = node.den, node.num
    if isinstance(node, Mod) and radix is None:  # (v % m) // s
        if node.den % stride:
            return None
        radix, node = node.den // stride, node.num
    if not isinstance(node, Var):
        return None
    top = -(-node.extent // stride)
    return node.name, stride, min(radix, top) if radix is not None else top


def _split_whole_vars(terms: dict, const: int) -> tuple[dict, int]:
    """``c*v + k*(v//s)`` -> ``c*(v%s) + (k + c*s)*(v//s)``: simplification merges a digit back into its
    variable (e.g. Swin's window partition); split it again so every term is one digit."""
    out = dict(terms)
    for atom, coef in terms.items():
        if not isinstance(atom, Var):
            continue
        strides = [a.den for a in terms if isinstance(a, FloorDiv) and a.num == atom]
        if len(strides) != 1:
            continue
        st = strides[0]
        del out[atom]
        low, high = Mod(atom, st), FloorDiv(atom, st)
        out[low] = out.get(low, 0) + coef
        out[high] = out.get(high, 0) + coef * st
    return out, const


def _invert_symbolic(m: IndexMap, stored: Sequence[Expr]) -> tuple[Expr, ...]:
    parts: dict[str, list[Expr]] = {v.name: [] for v in m.variables}
    for d, e in enumerate(m.exprs):
        terms, const = _split_whole_vars(*linear(e))
        if const:
            raise KernelError(f"output map {m}: coordinate {d} has an offset; kernels cannot write through it")
        for atom, coef in terms.items():
            dig = _digit(atom)
            if dig is None or coef < 1:
                raise KernelError(f"output map {m}: term {atom} of coordinate {d} is not a digit of one "
                                  "coordinate; kernels cannot write through it")
            name, stride, radix = dig
            parts[name].append(((stored[d] // coef) % radix) * stride)
    return simplify_all(Add(p) if len(p) > 1 else (p[0] if p else Const(0)) for p in parts.values())


def _invert_output_map(m: IndexMap, stored: Sequence[Expr]) -> tuple[Expr, ...]:
    """Operator coordinates of the element the output map sends to stored coordinates ``stored``.

    The output maps of eliminated Transpose/Reshape chains are bijections whose stored coordinates are
    mixed-radix numbers made of *digits* ``(v // stride) % radix`` of the operator's coordinates. Each
    digit is read back from its stored coordinate as ``(d // coefficient) % radix`` and every operator
    coordinate is reassembled from its digits; the inverse is checked on every element.
    """
    if not _inverts_on_every_element(m):
        raise KernelError(f"output map {m} is not a bijection made of coordinate digits; kernels cannot write "
                          "through it")
    return _invert_symbolic(m, stored)


CHECK_BLOCK = 1 << 20  # elements per block of the inverse's check, which bounds its memory on huge tensors


@lru_cache(maxsize=1024)
def _inverts_on_every_element(m: IndexMap) -> bool:
    """The digit inverse of ``m`` gives back every element's coordinates (checked block by block; the
    result is kept per map, as every policy and device of a run builds the same kernels)."""
    probe = [Var(f"sm_d{d}", n) for d, n in enumerate(m.dst_shape)]
    check = _invert_symbolic(m, probe)
    for grid in _coordinate_blocks(m.src_shape):
        image = m.evaluate(grid)
        env = {p.name: image[d] for d, p in enumerate(probe)}
        if not all(np.array_equal(np.broadcast_to(evaluate(e, env), g.shape), g)
                   for e, g in zip(check, grid, strict=True)):
            return False
    return True


def _coordinate_blocks(shape: Sequence[int]):
    """The coordinates of every element of ``shape`` (row-major), at most CHECK_BLOCK elements at a time."""
    total = prod(shape)
    if total <= CHECK_BLOCK:
        yield tuple(np.indices(shape).reshape(len(shape), -1))
        return
    for lo in range(0, total, CHECK_BLOCK):
        yield np.unravel_index(np.arange(lo, min(total, lo + CHECK_BLOCK), dtype=np.int64), shape)


def build_program(plan: Plan, step: Step, output_index: int = 0,
                  constants: Mapping[str, np.ndarray] | None = None) -> AccessProgram:
    """The access program of ``step``'s output ``output_index`` (one kernel launch)."""
    body = BODIES.get(step.op_type)
    if body is None:
        raise KernelError(f"step '{step.id}': no kernel for op type '{step.op_type}'; supported: {sorted(BODIES)}")
    b = _ProgramBuilder(plan, step, output_index, constants or {})
    out_sid = b.surface(b.out_tensor.name, write=True)
    layout = b.out_tensor.layout
    if isinstance(layout, ImageLayout):
        gx, gy = Var("gx", layout.width), Var("gy", layout.height)
        local = _pick_local(layout.width, 16)
        local_size = (local, _pick_local(layout.height, MAX_GROUP_ITEMS // local))
        (xv, yv, lv), inv = layout.inverse_exprs(("gx", "gy", "lane"))
    elif isinstance(layout, BufferLayout):
        n = prod(layout.shape)
        gx, gy = Var("gx", -(-n // LANES)), Var("gy", 1)
        local_size = (_pick_local(gx.extent, MAX_GROUP_ITEMS), 1)
        offset = Var("off", LANES * gx.extent)
        (ov,), inv = layout.inverse_exprs(("off",))
    else:
        raise KernelError(f"step '{step.id}': output '{b.out_tensor.name}' has an unknown layout {type(layout).__name__}")
    lane = Var("lane", LANES)
    if isinstance(layout, ImageLayout):
        count = LANES if layout.lane_dim is not None else 1  # a lane-less layout uses lane 0 only
        stored = simplify_all(substitute(e, {"lane": lane if count > 1 else 0}) for e in inv)
        valid = ((stored[layout.lane_dim], layout.shape[layout.lane_dim]),) if layout.lane_dim is not None else ()
    else:
        count = LANES
        off = simplify_all([gx * LANES + lane])[0]
        stored = simplify_all(substitute(e, {offset.name: off}) for e in inv)
        valid = ((off, prod(layout.shape)),)
    valid = tuple((e, n) for e, n in valid if bounds(e)[1] >= n)  # drop conditions that always hold
    op_coords = stored if b.out_map is None else _invert_output_map(b.out_map, stored)
    ctx = LaneContext(b)
    phases, result = body(ctx, tuple(op_coords))
    phases = list(phases)
    for epi in step.epilogue if output_index == 0 else ():
        from smartmem_sim.kernels.ops.elementwise import epilogue_phase  # one module owns element-wise math
        phase, result = epilogue_phase(ctx, epi, tuple(op_coords), result)
        phases.append(phase)
    helpers = "\n".join(b.helpers)
    loop_names = {v.name for p in phases for v in p.loops}
    per_lane = tuple(n for n in ctx.issued if n not in loop_names)
    clash = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", helpers)) & set(per_lane)
    if clash:
        raise KernelError(f"step '{step.id}': helper code names {sorted(clash)}, which are per-lane variables; "
                          "name helpers with a prefix (e.g. f'tab_{ctx.fresh()}')")
    return AccessProgram(_kernel_name(step, output_index), tuple(b.surfaces), out_sid, (gx, gy), local_size,
                         LaneCode(count, valid, tuple(phases), result, per_lane), step=step.id, helpers=helpers)

