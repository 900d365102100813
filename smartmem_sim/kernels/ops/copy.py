"""Data-movement kernels: the plan's COPY (a gather through the operand's index map, which covers layout
conversions and Transpose/Reshape copies), explicit layout operators (Transpose, Reshape, Flatten,
Squeeze, Unsqueeze, Expand, Tile, Slice), Concat, Split and constant Pad (Gather: smartmem_sim/kernels/ops/indexing.py).

Every one reads its input at index expressions of the output coordinates; operators whose parameters
are inputs (Slice starts/ends, Pad pads) need those inputs as known constants."""
from __future__ import annotations

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, register
from smartmem_sim.kernels.ops.elementwise import flit
from smartmem_sim.kernels.ops.program import Let, Phase
from smartmem_sim.layout import ops as L
from smartmem_sim.layout.expr import Expr, Var, substitute
from smartmem_sim.layout.maps import reshape_exprs
from smartmem_sim.layout.plan import COPY
from smartmem_sim.layout.simplify import simplify_all


def through(layout_op: L.LayoutOp, in_shape, out: tuple[Expr, ...]) -> tuple[Expr, ...]:
    """Input coordinates that a layout operator's output coordinates ``out`` come from."""
    m = layout_op.inverse(in_shape)
    return simplify_all(substitute(e, {v.name: c for v, c in zip(m.variables, out, strict=True)}) for e in m.exprs)


def _one(ctx: LaneContext, coords) -> tuple[list[Phase], str]:
    r = ctx.read(0, coords)
    return [Phase(reads=(r,))], r.value


@register(COPY)
def copy_body(ctx: LaneContext, out):
    if len(ctx.inputs) != 1:
        raise KernelError(f"step '{ctx.step.id}': a Copy reads one operand, got {len(ctx.inputs)}")
    if ctx.shape(0) != ctx.out_shape:
        raise KernelError(f"step '{ctx.step.id}': Copy operand shape {ctx.shape(0)} differs from its output "
                          f"{ctx.out_shape}; the operand's index map must have the output's shape as source")
    return _one(ctx, out)


@register("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape_body(ctx: LaneContext, out):
    return _one(ctx, simplify_all(reshape_exprs(out, ctx.out_shape, ctx.shape(0))))


@register("Transpose")
def transpose_body(ctx: LaneContext, out):
    perm = ctx.attr("perm")
    return _one(ctx, through(L.Transpose(None if perm is None else tuple(perm)), ctx.shape(0), out))


@register("Expand")
def expand_body(ctx: LaneContext, out):
    r = ctx.broadcast_read(0, out)
    return [Phase(reads=(r,))], r.value


@register("Tile")
def tile_body(ctx: LaneContext, out):
    repeats = tuple(int(v) for v in ctx.constant(1).ravel())
    return _one(ctx, through(L.Tile(repeats), ctx.shape(0), out))


def _ints(ctx: LaneContext, i: int, attr: str | None = None):
    if ctx.has_input(i):
        return tuple(int(v) for v in ctx.constant(i).ravel())
    return None if attr is None or ctx.attr(attr) is None else tuple(int(v) for v in ctx.attr(attr))


@register("Slice")
def slice_body(ctx: LaneContext, out):
    op = L.Slice(_ints(ctx, 1, "starts"), _ints(ctx, 2, "ends"), _ints(ctx, 3, "axes"), _ints(ctx, 4))
    return _one(ctx, through(op, ctx.shape(0), out))


def _axis(ctx: LaneContext, rank: int) -> int:
    axis = int(ctx.attr("axis", 0))
    if not -rank <= axis < rank:
        raise KernelError(f"step '{ctx.step.id}': axis {axis} out of range for rank {rank}")
    return axis % rank


@register("Concat")
def concat_body(ctx: LaneContext, out):
    axis = _axis(ctx, len(ctx.out_shape))
    reads, offset = [], 0
    for i in range(len(ctx.inputs)):
        n = ctx.shape(i)[axis]
        along = Var(ctx.fresh("cat"), n)
        coords = tuple(along if d == axis else c for d, c in enumerate(out))
        reads.append(ctx.read(i, coords, lets=(Let(along, simplify_all([out[axis] - offset])[0]),)))
        offset += n
    if offset != ctx.out_shape[axis]:
        raise KernelError(f"step '{ctx.step.id}': Concat inputs add up to {offset} along axis {axis}, output has "
                          f"{ctx.out_shape[axis]}")
    # exactly one guard holds; the others read nothing and hold 0.0f
    return [Phase(reads=tuple(reads))], "(" + " + ".join(r.value for r in reads) + ")"


@register("Split")
def split_body(ctx: LaneContext, out):
    axis = _axis(ctx, len(ctx.out_shape))
    plan, step = ctx._b.plan, ctx.step
    sizes = []
    for k, name in enumerate(step.outputs):
        m = step.output_map(k)
        sizes.append((tuple(m.src_shape) if m is not None else plan.tensors[name].shape)[axis])
    offset = sum(sizes[: ctx.output_index])
    coords = tuple(simplify_all([c + offset])[0] if d == axis else c for d, c in enumerate(out))
    return _one(ctx, coords)


@register("Pad")
def pad_body(ctx: LaneContext, out):
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", b"constant"):
        raise KernelError(f"step '{ctx.step.id}': Pad mode '{mode}' is not supported (only constant)")
    shape = ctx.shape(0)
    pads = _ints(ctx, 1, "pads")
    axes = _ints(ctx, 3) or tuple(range(len(shape)))
    value = float(ctx.constant(2).ravel()[0]) if ctx.has_input(2) and ctx.inputs[2].tensor else float(ctx.attr("value", 0.0))
    begin = [0] * len(shape)
    for k, a in enumerate(axes):
        begin[a % len(shape)] = pads[k]
    lets, coords = [], []
    for d, n in enumerate(shape):
        if begin[d] == 0 and ctx.out_shape[d] == n:
            coords.append(out[d])
            continue
        v = Var(ctx.fresh("p"), n)
        lets.append(Let(v, simplify_all([out[d] - begin[d]])[0]))
        coords.append(v)
    r = ctx.read(0, tuple(coords), lets=tuple(lets), fill=flit(value))
    return [Phase(reads=(r,))], r.value
