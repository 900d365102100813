"""Convolution (1-D/2-D/3-D spatial; grouped, depthwise, strided, dilated, padded, auto_pad) and the
sliding-window helper pooling shares. Padded positions are guarded reads (``Let``): a work-item whose
window hangs over the border skips those reads, in the kernel and in the trace alike."""
from __future__ import annotations

from collections.abc import Sequence

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, register
from smartmem_sim.kernels.ops.program import Let, Phase
from smartmem_sim.layout.expr import Expr, Var, bounds
from smartmem_sim.layout.simplify import simplify_all


def window_params(ctx: LaneContext, in_spatial: Sequence[int], kernel: Sequence[int]):
    """strides, dilations and begin pads of a sliding window (ONNX Conv/Pool attributes)."""
    nd = len(in_spatial)
    strides = [int(s) for s in ctx.attr("strides", [1] * nd)]
    dil = [int(d) for d in ctx.attr("dilations", [1] * nd)]
    auto = ctx.attr("auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin = []
        for i in range(nd):
            out = -(-in_spatial[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in_spatial[i])
            begin.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
    elif auto == "VALID":
        begin = [0] * nd
    else:
        pads = [int(p) for p in ctx.attr("pads", [0] * (2 * nd))]
        begin = pads[:nd]
    return strides, dil, begin


def window(ctx: LaneContext, out_spatial: Sequence[Expr], in_spatial: Sequence[int], kernel: Sequence[int]):
    """Loop variables over the window and the input coordinates they read, with guards where the
    window may leave the input."""
    strides, dil, begin = window_params(ctx, in_spatial, kernel)
    loops, coords, lets = [], [], []
    for i, (o, n, k) in enumerate(zip(out_spatial, in_spatial, kernel, strict=True)):
        kv = ctx.loop(k, "w")
        loops.append(kv)
        e = simplify_all([o * strides[i] + kv * dil[i] - begin[i]])[0]
        lo, hi = bounds(e)
        if lo >= 0 and hi < n:
            coords.append(e)
            continue
        v = Var(ctx.fresh("q"), n)
        lets.append(Let(v, e))
        coords.append(v)
    return loops, coords, lets


@register("Conv")
def conv_body(ctx: LaneContext, out):
    x_shape, w_shape = ctx.shape(0), ctx.shape(1)
    if len(x_shape) < 3 or len(w_shape) != len(x_shape):
        raise KernelError(f"step '{ctx.step.id}': Conv needs X (N, C, ...) and W (M, C/group, ...) of one rank, "
                          f"got {x_shape} and {w_shape}")
    groups = int(ctx.attr("group", 1))
    M, Cg = w_shape[0], w_shape[1]
    if M % groups or Cg * groups != x_shape[1]:
        raise KernelError(f"step '{ctx.step.id}': Conv with group={groups}: W {w_shape} does not fit X {x_shape}")
    n, m, *o = out
    kernel = w_shape[2:]
    c = ctx.loop(Cg, "c")
    wloops, coords, lets = window(ctx, o, x_shape[2:], kernel)
    channel = simplify_all([(m // (M // groups)) * Cg + c])[0]
    rx = ctx.read(0, (n, channel, *coords), lets=tuple(lets), prefix="x")
    rw = ctx.read(1, (m, c, *wloops), prefix="w")
    acc = ctx.fresh("acc")
    phases = []
    init = "0.0f"
    if len(ctx.inputs) > 2 and ctx.inputs[2] is not None:
        rb = ctx.read(2, (m,), prefix="bias")
        phases.append(Phase(reads=(rb,)))
        init = rb.value
    phases.append(Phase(loops=(c, *wloops), reads=(rx, rw), before=f"float {acc} = {init};",
                        body=f"{acc} += {rx.value}*{rw.value};"))
    return phases, acc
