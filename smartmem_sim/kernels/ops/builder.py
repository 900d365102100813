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
from collections.abc import Mapping, Sequence
from functools import lru_cache
from math import prod

import numpy as np
from onnx import numpy_helper

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import BODIES, Body, LaneContext, broadcast_coords, register  # noqa: F401
from smartmem_sim.kernels.ops.elementwise import epilogue_phase
from smartmem_sim.kernels.ops.program import (
    LANES,
    AccessProgram,
    LaneCode,
    Surface,
)
from smartmem_sim.layout.expr import Add, Const, Expr, FloorDiv, Mod, Var, bounds, evaluate, substitute
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.plan import Plan, Step, is_stripped_initializer
from smartmem_sim.layout.simplify import linear, simplify_all

MAX_GROUP_ITEMS = 64  # work-items per work-group (fits every device we have, phones included)
MATMUL_OPS = ("MatMul", "Gemm")
# row reductions: a tile along the normalized row shares its statistics (program.py, shared phases)
ROW_OPS = ("Softmax", "LogSoftmax", "LayerNormalization", "RMSNormalization", "GroupNormalization",
           "InstanceNormalization")
CONV_OPS = ("Conv",)
TILED_OPS = MATMUL_OPS + ROW_OPS + CONV_OPS  # op types whose kernels may compute a tile of output texels per work-item
MAX_TILE_TEXELS = 16  # texels per tile at most (x 4 lanes of partial sums in registers)


def check_tile(step: Step, on_image: bool) -> tuple[int, int]:
    """The step's tile ``(TX, TY)``, checked: positive integers, TILED_OPS only when not (1, 1), at most
    MAX_TILE_TEXELS texels, TY = 1 on a buffer output (its texel grid is one row)."""
    tile = step.tile
    if (not isinstance(tile, tuple | list) or len(tile) != 2
            or any(isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 1 for t in tile)):
        raise KernelError(f"step '{step.id}': tile must be two positive integers (TX, TY), got {tile!r}")
    tx, ty = int(tile[0]), int(tile[1])
    if (tx, ty) == (1, 1):
        return 1, 1
    if step.op_type not in TILED_OPS:
        raise KernelError(f"step '{step.id}': tile {tx}x{ty} for op type '{step.op_type}'; only {', '.join(TILED_OPS)} "
                          "kernels are tiled")
    if tx * ty > MAX_TILE_TEXELS:
        raise KernelError(f"step '{step.id}': tile {tx}x{ty} has more than {MAX_TILE_TEXELS} texels")
    if not on_image and ty != 1:
        raise KernelError(f"step '{step.id}': tile {tx}x{ty} on a buffer output; a buffer's work-items form one "
                          "row, so TY must be 1")
    return tx, ty


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


# Work-group widths tried when the grid's divisors give a poor work-group, most preferred first: 16 wide (a
# row of texels long enough for coalesced buffer access, 4 rows for the 2-D texture cache), then the
# neighbours. A choice within PAD_SLACK of the least padded area among them wins.
GROUP_WIDTHS = (16, 8, 32, 4, 64, 2, 1)
PAD_SLACK = 1.10
# A divisor work-group is kept when it fills at least this share of the 32-wide warps it occupies (NVIDIA's
# warp; Adreno's and Mali's waves are other widths, and MAX_GROUP_ITEMS is the only device-free choice): 48
# work-items (two warps, 75%) stay, 16 (half a warp) or 40 (62%) are padded to a full work-group.
WARP = 32
MIN_WARP_USE = 0.75


def _keeps(items: int, grid_items: int) -> bool:
    """Whether a divisor work-group of ``items`` is kept: the whole grid, or at least WARP work-items that use
    MIN_WARP_USE of the warps they occupy."""
    return items == grid_items or (items >= WARP and items / (-(-items // WARP) * WARP) >= MIN_WARP_USE)


def pick_local_2d(width: int, height: int, items: int = MAX_GROUP_ITEMS) -> tuple[int, int]:
    """The work-group shape of a ``width`` x ``height`` grid of work-items: the largest divisors (at most 16
    along x, then ``items`` in all), as before, where they make a work-group of at least WARP work-items
    that uses MIN_WARP_USE of its warps, or the whole grid; otherwise a work-group of ``items``
    (GROUP_WIDTHS, padded area within PAD_SLACK of the least), the launch rounded up to it
    (AccessProgram.launch_size). A prime grid side (ViT's 197 tokens, CLIP's 77) had given work-groups of
    1-16 work-items, which leave most of a warp idle and cap the groups an SM holds: on the H100, kernels
    with groups under 32 work-items took 28% of ViT's measured kernel time (three policies)."""
    if width < 1 or height < 1 or items < 1:
        raise KernelError(f"work-group of a {width}x{height} grid of {items} items: sizes must be >= 1")
    lx = _pick_local(width, 16)
    ly = _pick_local(height, items // lx)
    if _keeps(lx * ly, width * height):
        return lx, ly
    if width * height <= items:
        return width, height
    shapes = [(w, items // w) for w in GROUP_WIDTHS if items % w == 0]
    area = {s: -(-width // s[0]) * s[0] * (-(-height // s[1]) * s[1]) for s in shapes}
    least = min(area.values())
    return next(s for s in shapes if area[s] <= PAD_SLACK * least)


def pick_local_1d(n: int, items: int = MAX_GROUP_ITEMS) -> int:
    """The work-group size of a 1-D grid of ``n`` work-items: the largest divisor of ``n`` up to ``items``
    where pick_local_2d would keep it, else ``items`` with the launch rounded up."""
    d = _pick_local(n, items)
    return d if _keeps(d, n) else items  # (n <= items: d == n)


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


def writable_through(m: IndexMap) -> bool:
    """Whether a kernel can write its output through the output map ``m`` (its digit inverse exists and holds
    on every element); the compiler asks before folding a layout operator forward."""
    try:
        return _inverts_on_every_element(m)
    except KernelError:
        return False


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
    tx, ty = check_tile(step, isinstance(layout, ImageLayout))
    if isinstance(layout, ImageLayout):
        gx, gy = Var("gx", layout.width), Var("gy", layout.height)
        grid = (Var("gx", -(-layout.width // tx)), Var("gy", -(-layout.height // ty)))  # work-items
        local_size = pick_local_2d(grid[0].extent, grid[1].extent)
        (xv, yv, lv), inv = layout.inverse_exprs(("gx", "gy", "lane"))
    elif isinstance(layout, BufferLayout):
        n = prod(layout.shape)
        gx, gy = Var("gx", -(-n // LANES)), Var("gy", 1)
        grid = (Var("gx", -(-gx.extent // tx)), gy)
        local_size = (pick_local_1d(grid[0].extent), 1)
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
    try:
        op_coords = stored if b.out_map is None else _invert_output_map(b.out_map, stored)
    except KernelError as exc:  # name the model and the step, whose output map it is
        raise KernelError(f"model '{plan.model}', step '{step.id}' ({step.op_type}, {plan.policy}): {exc}; "
                          "compile it under another policy (e.g. --policy fusion)") from None
    ctx = LaneContext(b)
    phases, result = body(ctx, tuple(op_coords))
    phases = list(phases)
    for epi in step.epilogue if output_index == 0 else ():
        phase, result = epilogue_phase(ctx, epi, tuple(op_coords), result)
        phases.append(phase)
    helpers = "\n".join(b.helpers)
    loop_names = {v.name for p in phases for v in p.loops}
    per_lane = tuple(n for n in ctx.issued if n not in loop_names)
    clash = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", helpers)) & set(per_lane)
    if clash:
        raise KernelError(f"step '{step.id}': helper code names {sorted(clash)}, which are per-lane variables; "
                          "name helpers with a prefix (e.g. f'tab_{ctx.fresh()}')")
    prog = AccessProgram(_kernel_name(step, output_index), tuple(b.surfaces), out_sid, grid, local_size,
                         LaneCode(count, valid, tuple(phases), result, per_lane), step=step.id, helpers=helpers,
                         tile=(tx, ty))
    if prog.tiled and any(r.indices for p in phases for r in p.reads):
        raise KernelError(f"step '{step.id}': a tiled kernel cannot make data-dependent reads")
    return prog


def step_constants(plan: Plan, step: Step) -> dict[str, np.ndarray]:
    """The values of a step's weight inputs that the plan carries (stripped weights left out): what some
    bodies need when the kernel is generated (axes, pads, Gather indices), as :func:`build_program` takes them."""
    names = {op.tensor for op in step.inputs if op is not None}
    return {n: numpy_helper.to_array(plan.weights[n]) for n in names
            if n in plan.weights and not is_stripped_initializer(plan.weights[n])}
