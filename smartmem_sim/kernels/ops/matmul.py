"""MatMul (batched, numpy broadcasting of the batch dims, 1-D operands) and Gemm (transA/transB, alpha,
beta, broadcast C): one reduction loop over K per output element."""
from __future__ import annotations

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, broadcast_coords, register
from smartmem_sim.kernels.ops.elementwise import flit
from smartmem_sim.kernels.ops.program import Phase
from smartmem_sim.layout.expr import Const


@register("MatMul")
def matmul_body(ctx: LaneContext, out):
    a_shape, b_shape = ctx.shape(0), ctx.shape(1)
    if len(a_shape) < 1 or len(b_shape) < 1:
        raise KernelError(f"step '{ctx.step.id}': MatMul of scalars")
    K = a_shape[-1]
    if (b_shape[-2] if len(b_shape) > 1 else b_shape[0]) != K:
        raise KernelError(f"step '{ctx.step.id}': MatMul {a_shape} x {b_shape}: inner dims differ")
    # the output's coordinates with the dims that 1-D operands drop put back (as 0)
    full = list(out)
    if len(b_shape) == 1:
        full.append(Const(0))
    if len(a_shape) == 1:
        full.insert(len(full) - 1, Const(0))
    batch, m, n = full[:-2], full[-2], full[-1]
    k = ctx.loop(K)
    if len(a_shape) == 1:
        a_coords = (k,)
    else:
        a_coords = (*broadcast_coords(a_shape[:-2], batch), m, k)
    if len(b_shape) == 1:
        b_coords = (k,)
    else:
        b_coords = (*broadcast_coords(b_shape[:-2], batch), k, n)
    ra, rb = ctx.read(0, a_coords, prefix="a"), ctx.read(1, b_coords, prefix="b")
    acc = ctx.fresh("acc")
    return [Phase(loops=(k,), reads=(ra, rb), before=f"float {acc} = 0.0f;", body=f"{acc} += {ra.value}*{rb.value};")], acc


@register("Gemm")
def gemm_body(ctx: LaneContext, out):
    m, n = out
    ta, tb = int(ctx.attr("transA", 0)), int(ctx.attr("transB", 0))
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    a_shape = ctx.shape(0)
    K = a_shape[0] if ta else a_shape[1]
    k = ctx.loop(K)
    ra = ctx.read(0, (k, m) if ta else (m, k), prefix="a")
    rb = ctx.read(1, (n, k) if tb else (k, n), prefix="b")
    acc = ctx.fresh("acc")
    phases = [Phase(loops=(k,), reads=(ra, rb), before=f"float {acc} = 0.0f;", body=f"{acc} += {ra.value}*{rb.value};")]
    result = f"{flit(alpha)}*{acc}"
    if len(ctx.inputs) > 2 and ctx.inputs[2] is not None:
        rc = ctx.broadcast_read(2, out, prefix="c")
        phases.append(Phase(reads=(rc,)))
        result = f"({result} + {flit(beta)}*{rc.value})"
    return phases, result
