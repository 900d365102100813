"""Reductions (ReduceMean/Sum/Max/Min/Prod/SumSquare/L2 over constant axes, keepdims either way) and
pooling (MaxPool, AveragePool with or without counting pads, GlobalAveragePool, GlobalMaxPool)."""
from __future__ import annotations

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, register
from smartmem_sim.kernels.ops.conv import window, window_params
from smartmem_sim.kernels.ops.elementwise import flit
from smartmem_sim.kernels.ops.program import Let, Phase
from smartmem_sim.layout.expr import Var

# op -> (initial value, update "acc = f(acc, v)", final "g(acc, count)")
REDUCERS = {
    "ReduceSum": ("0.0f", "{a} += {v};", "{a}"),
    "ReduceMean": ("0.0f", "{a} += {v};", "({a}*{inv})"),
    "ReduceMax": ("-INFINITY", "{a} = fmax({a}, {v});", "{a}"),
    "ReduceMin": ("INFINITY", "{a} = fmin({a}, {v});", "{a}"),
    "ReduceProd": ("1.0f", "{a} *= {v};", "{a}"),
    "ReduceSumSquare": ("0.0f", "{a} += {v}*{v};", "{a}"),
    "ReduceL2": ("0.0f", "{a} += {v}*{v};", "sqrt({a})"),
}


def _reduce_axes(ctx: LaneContext, rank: int) -> list[int]:
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        axes = [int(a) for a in ctx.constant(1).ravel()]
    else:
        axes = ctx.attr("axes")
        axes = None if axes is None else [int(a) for a in axes]
    if not axes:
        if int(ctx.attr("noop_with_empty_axes", 0)):
            return []
        return list(range(rank))
    for a in axes:
        if not -rank <= a < rank:
            raise KernelError(f"step '{ctx.step.id}': axis {a} out of range for rank {rank}")
    return sorted({a % rank for a in axes})


@register(*REDUCERS)
def reduce_body(ctx: LaneContext, out):
    shape = ctx.shape(0)
    axes = _reduce_axes(ctx, len(shape))
    keep = int(ctx.attr("keepdims", 1))
    loops = {d: ctx.loop(shape[d]) for d in axes}
    coords, k = [], 0
    for d in range(len(shape)):
        if d in loops:
            coords.append(loops[d])
            k += keep
        else:
            coords.append(out[k])
            k += 1
    r = ctx.read(0, tuple(coords), prefix="x")
    init, update, final = REDUCERS[ctx.step.op_type]
    count = 1
    for v in loops.values():
        count *= v.extent
    acc = ctx.fresh("acc")
    phase = Phase(loops=tuple(loops[d] for d in axes), reads=(r,), before=f"float {acc} = {init};",
                  body=update.format(a=acc, v=r.value))
    return [phase], final.format(a=acc, inv=flit(1.0 / count))


@register("GlobalAveragePool", "GlobalMaxPool")
def global_pool_body(ctx: LaneContext, out):
    shape = ctx.shape(0)
    loops = [ctx.loop(n, "s") for n in shape[2:]]
    r = ctx.read(0, (out[0], out[1], *loops), prefix="x")
    acc = ctx.fresh("acc")
    count = 1
    for n in shape[2:]:
        count *= n
    if ctx.step.op_type == "GlobalMaxPool":
        return [Phase(loops=tuple(loops), reads=(r,), before=f"float {acc} = -INFINITY;",
                      body=f"{acc} = fmax({acc}, {r.value});")], acc
    return [Phase(loops=tuple(loops), reads=(r,), before=f"float {acc} = 0.0f;", body=f"{acc} += {r.value};")], \
        f"({acc}*{flit(1.0 / count)})"


@register("MaxPool", "AveragePool")
def pool_body(ctx: LaneContext, out):
    shape = ctx.shape(0)
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    if len(ctx.step.outputs) > 1 and ctx.output_index > 0:
        raise KernelError(f"step '{ctx.step.id}': MaxPool's Indices output is not supported")
    loops, coords, lets = window(ctx, out[2:], shape[2:], kernel)
    is_max = ctx.step.op_type == "MaxPool"
    r = ctx.read(0, (out[0], out[1], *coords), lets=tuple(lets), fill="-INFINITY" if is_max else "0.0f", prefix="x")
    acc, cnt = ctx.fresh("acc"), ctx.fresh("cnt")
    if is_max:
        return [Phase(loops=tuple(loops), reads=(r,), before=f"float {acc} = -INFINITY;",
                      body=f"{acc} = fmax({acc}, {r.value});")], acc
    window_size = 1
    for k in kernel:
        window_size *= k
    if int(ctx.attr("count_include_pad", 0)):
        return _average_counting_pads(ctx, out, loops, r, acc, shape, kernel, window_size)
    return [Phase(loops=tuple(loops), reads=(r,), before=f"float {acc} = 0.0f; int {cnt} = 0;",
                  body=f"{acc} += {r.value}; {cnt} += ok_{r.value};")], f"({acc}/(float){cnt})"



def _average_counting_pads(ctx: LaneContext, out, loops, r, acc: str, shape, kernel, window_size: int):
    """count_include_pad=1: divide by the taps inside the *padded* input. That is the window size, except
    where ceil_mode lets a last window run past the end padding (ONNX then counts only the taps inside)."""
    strides, dil, begin = window_params(ctx, shape[2:], kernel)
    nd = len(kernel)
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * nd))]
    auto = ctx.attr("auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    defs, factors = [], []
    for i in range(nd):
        n_out, n_in = ctx.out_shape[2 + i], shape[2 + i]
        end = pads[nd + i] if auto in ("NOTSET", "VALID") else max(
            0, (n_out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - n_in - begin[i])
        first = np.arange(n_out)[:, None] * strides[i] + np.arange(kernel[i])[None, :] * dil[i] - begin[i]
        count = ((first >= -begin[i]) & (first < n_in + end)).sum(axis=1)
        if (count == kernel[i]).all():
            continue
        o = Var(ctx.fresh("o"), n_out)
        defs.append(Let(o, out[2 + i]))
        name = f"pool_count_{ctx.fresh('t')}_{''.join(c if c.isalnum() else '_' for c in ctx.step.id)}"
        ctx.add_helper(f"__constant float {name}[{n_out}] = {{{', '.join(flit(float(c)) for c in count)}}};")
        factors.append(f"{name}[{o.name}]")
    phase = Phase(loops=tuple(loops), reads=(r,), before=f"float {acc} = 0.0f;", body=f"{acc} += {r.value};",
                  defs=tuple(defs))
    if not factors:
        return [phase], f"({acc}*{flit(1.0 / window_size)})"
    return [phase], f"({acc}/({'*'.join(factors)}))"
