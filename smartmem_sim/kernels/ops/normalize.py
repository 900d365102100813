"""Normalizations: Softmax/LogSoftmax (opset 13 axis semantics), LayerNormalization, RMSNormalization,
GroupNormalization (per-channel scale as opset 21, per-group as opset 18), InstanceNormalization and
BatchNormalization (inference). Each work-item lane recomputes its row's statistics with reduction loops
(two passes: mean, then variance about the mean, for accuracy), then reads its own element. That costs
about 2n reads per output for statistics over n elements; where n is large the compiler has already split
Softmax and InstanceNormalization into reductions and element-wise operators
(smartmem_sim/compiler/passes/statistics.py)."""
from __future__ import annotations

from collections.abc import Sequence

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, broadcast_coords, register
from smartmem_sim.kernels.ops.elementwise import flit
from smartmem_sim.kernels.ops.program import Phase
from smartmem_sim.layout.expr import Expr, Var
from smartmem_sim.layout.simplify import simplify_all


def _axis(ctx: LaneContext, rank: int, default: int) -> int:
    axis = int(ctx.attr("axis", default))
    if not -rank <= axis < rank:
        raise KernelError(f"step '{ctx.step.id}': axis {axis} out of range for rank {rank}")
    return axis % rank


def replace(out: Sequence[Expr], dims: Sequence[int], loops: Sequence[Var | Expr]) -> tuple[Expr, ...]:
    """``out`` with the coordinates of ``dims`` replaced by ``loops``."""
    res = list(out)
    for d, v in zip(dims, loops, strict=True):
        res[d] = v
    return tuple(res)


def mean_var_phases(ctx: LaneContext, coords_of, loops: Sequence[Var]) -> tuple[list[Phase], str, str]:
    """Two passes over ``loops`` reading input 0 at ``coords_of(loops)``: mean, then variance."""
    count = 1
    for v in loops:
        count *= v.extent
    mean, var = ctx.fresh("mean"), ctx.fresh("var")
    r1 = ctx.read(0, coords_of(loops), prefix="x")
    loops2 = tuple(ctx.loop(v.extent, "j") for v in loops)
    r2 = ctx.read(0, coords_of(loops2), prefix="x")
    return [
        Phase(loops=tuple(loops), reads=(r1,), before=f"float {mean} = 0.0f;", body=f"{mean} += {r1.value};",
              after=f"{mean} *= {flit(1.0 / count)};"),
        Phase(loops=loops2, reads=(r2,), before=f"float {var} = 0.0f;",
              body=f"{var} += ({r2.value} - {mean})*({r2.value} - {mean});", after=f"{var} *= {flit(1.0 / count)};"),
    ], mean, var


@register("Softmax", "LogSoftmax")
def softmax_body(ctx: LaneContext, out):
    shape = ctx.shape(0)
    axis = _axis(ctx, len(shape), -1)
    mx, total = ctx.fresh("mx"), ctx.fresh("sum")
    k1, k2 = ctx.loop(shape[axis]), ctx.loop(shape[axis])
    r1 = ctx.read(0, replace(out, [axis], [k1]), prefix="x")
    r2 = ctx.read(0, replace(out, [axis], [k2]), prefix="x")
    own = ctx.read(0, out, prefix="x")
    phases = [
        Phase(loops=(k1,), reads=(r1,), before=f"float {mx} = -INFINITY;", body=f"{mx} = fmax({mx}, {r1.value});"),
        Phase(loops=(k2,), reads=(r2,), before=f"float {total} = 0.0f;", body=f"{total} += exp({r2.value} - {mx});"),
        Phase(reads=(own,)),
    ]
    if ctx.step.op_type == "LogSoftmax":
        return phases, f"({own.value} - {mx} - log({total}))"
    return phases, f"(exp({own.value} - {mx})/{total})"


def _scale_bias(ctx: LaneContext, first: int, coords, phases: list[Phase], value: str) -> str:
    out = value
    if len(ctx.inputs) > first and ctx.inputs[first] is not None:
        rs = ctx.read(first, coords(ctx.shape(first)), prefix="g")
        phases.append(Phase(reads=(rs,)))
        out = f"({out}*{rs.value})"
    if len(ctx.inputs) > first + 1 and ctx.inputs[first + 1] is not None:
        rb = ctx.read(first + 1, coords(ctx.shape(first + 1)), prefix="b")
        phases.append(Phase(reads=(rb,)))
        out = f"({out} + {rb.value})"
    return out


def _trailing_norm(ctx: LaneContext):
    """(epsilon, normalized dims, one loop per normalized dim) of a norm over the dims from ``axis`` on."""
    shape = ctx.shape(0)
    axis = _axis(ctx, len(shape), -1)
    dims = list(range(axis, len(shape)))
    return float(ctx.attr("epsilon", 1e-5)), dims, [ctx.loop(shape[d]) for d in dims]


@register("LayerNormalization")
def layernorm_body(ctx: LaneContext, out):
    eps, dims, loops = _trailing_norm(ctx)
    phases, mean, var = mean_var_phases(ctx, lambda lv: replace(out, dims, lv), loops)
    if ctx.output_index == 1:  # optional output Mean (normalized dims kept as size 1)
        return phases, mean
    if ctx.output_index == 2:  # optional output InvStdDev
        return phases, f"rsqrt({var} + {flit(eps)})"
    own = ctx.read(0, out, prefix="x")
    phases.append(Phase(reads=(own,)))
    value = f"(({own.value} - {mean})*rsqrt({var} + {flit(eps)}))"
    # scale and bias broadcast against the normalized dims
    return phases, _scale_bias(ctx, 1, lambda s: _tail(out, s), phases, value)


def _tail(out: Sequence[Expr], shape: Sequence[int]) -> tuple[Expr, ...]:
    return broadcast_coords(shape, out)


@register("RMSNormalization")
def rmsnorm_body(ctx: LaneContext, out):
    eps, dims, loops = _trailing_norm(ctx)
    count = 1
    for v in loops:
        count *= v.extent
    ms = ctx.fresh("ms")
    r = ctx.read(0, replace(out, dims, loops), prefix="x")
    own = ctx.read(0, out, prefix="x")
    phases = [Phase(loops=tuple(loops), reads=(r,), before=f"float {ms} = 0.0f;", body=f"{ms} += {r.value}*{r.value};",
                    after=f"{ms} *= {flit(1.0 / count)};"), Phase(reads=(own,))]
    value = f"({own.value}*rsqrt({ms} + {flit(eps)}))"
    return phases, _scale_bias(ctx, 1, lambda s: _tail(out, s), phases, value)


@register("GroupNormalization")
def groupnorm_body(ctx: LaneContext, out):
    shape = ctx.shape(0)
    groups = int(ctx.attr("num_groups"))
    eps = float(ctx.attr("epsilon", 1e-5))
    C = shape[1]
    if C % groups:
        raise KernelError(f"step '{ctx.step.id}': {C} channels do not split into {groups} groups")
    per = C // groups
    group = simplify_all([out[1] // per])[0]
    cl = ctx.loop(per, "c")
    spatial = [ctx.loop(n, "s") for n in shape[2:]]

    def coords(lv):
        return (out[0], simplify_all([group * per + lv[0]])[0], *lv[1:])

    phases, mean, var = mean_var_phases(ctx, coords, [cl, *spatial])
    own = ctx.read(0, out, prefix="x")
    phases.append(Phase(reads=(own,)))
    value = f"(({own.value} - {mean})*rsqrt({var} + {flit(eps)}))"
    per_group = ctx.shape(1)[0] == groups and groups != C
    return phases, _scale_bias(ctx, 1, lambda s: ((group,) if per_group else (out[1],)), phases, value)


@register("InstanceNormalization")
def instancenorm_body(ctx: LaneContext, out):
    shape = ctx.shape(0)
    eps = float(ctx.attr("epsilon", 1e-5))
    dims = list(range(2, len(shape)))
    loops = [ctx.loop(shape[d], "s") for d in dims]
    phases, mean, var = mean_var_phases(ctx, lambda lv: replace(out, dims, lv), loops)
    own = ctx.read(0, out, prefix="x")
    phases.append(Phase(reads=(own,)))
    value = f"(({own.value} - {mean})*rsqrt({var} + {flit(eps)}))"
    return phases, _scale_bias(ctx, 1, lambda s: (out[1],), phases, value)


@register("BatchNormalization")
def batchnorm_body(ctx: LaneContext, out):
    eps = float(ctx.attr("epsilon", 1e-5))
    c = (out[1],)
    reads = [ctx.read(0, out, prefix="x")] + [ctx.read(i, c, prefix="p") for i in (1, 2, 3, 4)]
    x, s, b, m, v = (r.value for r in reads)
    return [Phase(reads=tuple(reads))], f"(({x} - {m})*rsqrt({v} + {flit(eps)})*{s} + {b})"
