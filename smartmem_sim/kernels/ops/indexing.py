"""Operators that index by data: Gather and GatherElements (constant indices become index arithmetic with a
``__constant`` table; runtime indices are read first, then the element they name) and TopK (values and
indices of the k largest/smallest along an axis).

A runtime index is stored as a float like every tensor (kernels compute in float), so it is exact up to
2^24 in fp32 storage and up to 2048 in fp16 storage; smartmem_sim.kernels.execute refuses to *run* an fp16 plan that
indexes a longer axis (the kernels and traces are still generated, for simulation).
The kernel converts it as ONNX does (a negative index counts from the end) and clamps it into range, so
even a bad index cannot read outside the tensor (onnxruntime rejects such an index instead).
"""
from __future__ import annotations

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, register
from smartmem_sim.kernels.ops.copy import through
from smartmem_sim.kernels.ops.program import IndexFrom, Let, Phase
from smartmem_sim.layout import ops as L
from smartmem_sim.layout.expr import Lookup, Var
from smartmem_sim.layout.maps import linearize


def _axis(ctx: LaneContext, rank: int, default: int = 0) -> int:
    axis = int(ctx.attr("axis", default))
    if not -rank <= axis < rank:
        raise KernelError(f"step '{ctx.step.id}' ({ctx.step.op_type}): axis {axis} out of range for rank {rank}")
    return axis % rank


def _table_name(ctx: LaneContext) -> str:
    return "idx_" + "".join(c if c.isalnum() else "_" for c in ctx.step.id)


@register("Gather")
def gather_body(ctx: LaneContext, out):
    data_shape = ctx.shape(0)
    axis = _axis(ctx, len(data_shape))
    if ctx.is_known(1):
        op = L.Gather(ctx.constant(1).astype("int64"), axis, _table_name(ctx))
        r = ctx.read(0, through(op, data_shape, out))
        return [Phase(reads=(r,))], r.value
    q = len(ctx.shape(1))
    extent = data_shape[axis]
    ri = ctx.read(1, out[axis:axis + q], prefix="i")
    along = Var(ctx.fresh("g"), extent)
    rd = ctx.read(0, (*out[:axis], along, *out[axis + q:]), indices=(IndexFrom(along, ri.value),))
    return [Phase(reads=(ri, rd))], rd.value


@register("GatherElements")
def gather_elements_body(ctx: LaneContext, out):
    data_shape, idx_shape = ctx.shape(0), ctx.shape(1)
    if len(data_shape) != len(idx_shape):
        raise KernelError(f"step '{ctx.step.id}' (GatherElements): data {data_shape} and indices {idx_shape} "
                          "differ in rank")
    axis = _axis(ctx, len(data_shape))
    extent = data_shape[axis]
    if ctx.is_known(1):
        idx = ctx.constant(1).astype("int64")
        if idx.size and (idx.min() < -extent or idx.max() >= extent):
            raise KernelError(f"step '{ctx.step.id}' (GatherElements): indices {idx.min()}..{idx.max()} out of "
                              f"range for axis {axis} of size {extent}")
        idx = (idx + extent) % extent
        along = Lookup(idx.ravel().tolist(), linearize(out, idx_shape), _table_name(ctx))
        r = ctx.read(0, tuple(along if d == axis else c for d, c in enumerate(out)))
        return [Phase(reads=(r,))], r.value
    ri = ctx.read(1, out, prefix="i")
    along = Var(ctx.fresh("g"), extent)
    rd = ctx.read(0, tuple(along if d == axis else c for d, c in enumerate(out)),
                  indices=(IndexFrom(along, ri.value),))
    return [Phase(reads=(ri, rd))], rd.value


@register("TopK")
def topk_body(ctx: LaneContext, out):
    """Output ``j`` along the axis is the element whose rank is ``j``: rank(i) counts the elements that
    come before element ``i`` (larger, or equal with a smaller index, for ``largest``; ONNX's order).
    O(n^2) reads per output element; the networks we run take TopK over a few dozen routing scores."""
    shape = ctx.shape(0)
    axis = _axis(ctx, len(shape), -1)
    n = shape[axis]
    k = int(ctx.constant(1).ravel()[0]) if ctx.is_known(1) else ctx.out_shape[axis]
    if k != ctx.out_shape[axis] or not 1 <= k <= n:
        raise KernelError(f"step '{ctx.step.id}' (TopK): k={k} does not fit an axis of {n} and an output of "
                          f"{ctx.out_shape[axis]}")
    largest = int(ctx.attr("largest", 1))
    j = Var(ctx.fresh("j"), k)
    i, t = ctx.loop(n, "i"), ctx.loop(n, "t")
    ri = ctx.read(0, tuple(i if d == axis else c for d, c in enumerate(out)), prefix="x")
    rt = ctx.read(0, tuple(t if d == axis else c for d, c in enumerate(out)), prefix="x")
    cnt, best, where = ctx.fresh("cnt"), ctx.fresh("best"), ctx.fresh("at")
    before = "<" if not largest else ">"
    body = (f"if ({t.name} == 0) {cnt} = 0;\n"
            f"{cnt} += ({rt.value} {before} {ri.value} || ({rt.value} == {ri.value} && {t.name} < {i.name})) ? 1 : 0;\n"
            f"if ({t.name} == {n - 1} && {cnt} == {j.name}) {{ {best} = {ri.value}; {where} = {i.name}; }}")
    phase = Phase(loops=(i, t), reads=(ri, rt), before=f"int {cnt} = 0; float {best} = 0.0f; int {where} = 0;",
                  body=body, defs=(Let(j, out[axis]),))
    return [phase], best if ctx.output_index == 0 else f"(float){where}"

