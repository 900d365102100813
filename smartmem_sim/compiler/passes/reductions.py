"""Long reductions over few outputs become two kernels (when, and why: smartmem_sim/compiler/data/reductions.toml).
Runs for every policy alike, after the layouts are chosen.

A Reduce step over ``n`` elements per output (its reduced axes, flattened row-major: element ``f``) with
``n >= min_elements`` and at most ``max_outputs`` outputs becomes:

- a *partial* step, the same kind of reduction over an operand of shape ``(*kept, m, P)`` whose element
  ``(k, j, p)`` is element ``f = j*P + p`` of output ``k``: each of the ``P`` partial results reduces the
  ``m = n / P`` elements ``p, p + P, p + 2P, ...`` (strided chunks, so neighbouring work-items read
  neighbouring elements), written to a new tensor ``(*kept, P)`` whose lanes run along ``P``;
- the original step, now reducing the ``P`` partial results (same axes, output, epilogue and output map).

``P`` is the divisor of ``n`` nearest ``sqrt(n)`` (both loops equally long), a multiple of 4 where ``n`` has
one. The partial and final reductions compose exactly in real arithmetic: sum of sums, max of maxes, mean
of means (the chunks are equally long), L2 of L2s, the sum of sums of squares.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cache
from math import isqrt, log, prod
from pathlib import Path

import numpy as np
from onnx import numpy_helper

from smartmem_sim.compiler.data_tables import read_toml
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.passes.layouts import _const_ints, reduction_layout, within_image_limit
from smartmem_sim.layout.image import BufferLayout
from smartmem_sim.layout.maps import IndexMap, delinearize
from smartmem_sim.layout.plan import Operand, Plan, Step, StoredTensor

TABLE = Path(__file__).resolve().parents[1] / "data" / "reductions.toml"
# op type -> (partial step's op type, final step's op type)
STAGES = {
    "ReduceSum": ("ReduceSum", "ReduceSum"),
    "ReduceMean": ("ReduceMean", "ReduceMean"),
    "ReduceMax": ("ReduceMax", "ReduceMax"),
    "ReduceMin": ("ReduceMin", "ReduceMin"),
    "ReduceProd": ("ReduceProd", "ReduceProd"),
    "ReduceSumSquare": ("ReduceSumSquare", "ReduceSum"),
    "ReduceL2": ("ReduceL2", "ReduceL2"),
}
MIN_LOOP = 16  # neither kernel's loop shorter than this (else the split buys nothing)


@cache
def thresholds() -> tuple[int, int]:
    """(min_elements, max_outputs) from the table."""
    table = read_toml(TABLE, "reductions table")
    want = {"min_elements", "max_outputs"}
    if set(table) != want or not all(isinstance(table[k], int) and table[k] >= 1 for k in want):
        raise CompilerError(f"reductions table {TABLE}: needs exactly {sorted(want)}, positive integers "
                            f"(got keys {sorted(table)})")
    return table["min_elements"], table["max_outputs"]


def partial_count(n: int) -> int | None:
    """The number of partial results for ``n`` elements per output: the divisor of ``n`` nearest sqrt(n) in
    ratio, a multiple of 4 where ``n`` has one; None when no divisor leaves both loops >= MIN_LOOP."""
    divisors = {d for k in range(1, isqrt(n) + 1) if n % k == 0 for d in (k, n // k)}
    fits = [d for d in divisors if d >= MIN_LOOP and n // d >= MIN_LOOP]
    quads = [d for d in fits if d % 4 == 0]
    pool = quads or fits
    if not pool:
        return None
    return min(pool, key=lambda d: (abs(log(d) - log(n) / 2), d))


def _axes(plan: Plan, step: Step, rank: int) -> list[int] | None:
    """The step's reduced axes (sorted, non-negative), or None when they are not all known constants."""
    if len(step.inputs) > 1 and step.inputs[1] is not None:
        axes = _const_ints(plan, step.inputs[1])
        if axes is None:
            return None
    else:
        axes = step.attrs.get("axes")
        axes = None if axes is None else [int(a) for a in axes]
    if not axes:
        return None if int(step.attrs.get("noop_with_empty_axes", 0)) else list(range(rank))
    return sorted({a % rank for a in axes})


def _partial_layout(shape: tuple[int, ...]):
    lay = reduction_layout(shape, [len(shape) - 1])
    return lay if within_image_limit(lay) else BufferLayout(shape, None, "linear")


def _split(plan: Plan, step: Step, axes: list[int], P: int) -> tuple[Step, Step, str]:
    x = step.inputs[0]
    shape = x.shape
    rank = len(shape)
    kept = [d for d in range(rank) if d not in axes]
    n = prod(shape[a] for a in axes)
    m = n // P
    first, final = STAGES[step.op_type]

    def chunked(v):  # (*kept, j, p) -> operand coordinates
        coords: list = [None] * rank
        for d, var in zip(kept, v[:len(kept)], strict=True):
            coords[d] = var
        j, p = v[len(kept):]
        for a, e in zip(axes, delinearize(j * P + p, [shape[a] for a in axes]), strict=True):
            coords[a] = e
        return coords

    src1 = (*(shape[d] for d in kept), m, P)
    map1 = IndexMap.build(src1, shape, chunked).then(x.index_map)
    partial = f"{step.outputs[0]}/partial"
    pshape = (*(shape[d] for d in kept), P)
    out = plan.tensors[step.outputs[0]]
    plan.tensors[partial] = StoredTensor(partial, pshape, _partial_layout(pshape), "intermediate", out.dtype, partial)
    inputs1: tuple = (Operand(x.tensor, map1, x.absorbed),)
    attrs1 = {k: v for k, v in step.attrs.items() if k not in ("axes", "keepdims")}
    attrs1["keepdims"] = 0
    if len(step.inputs) > 1 and step.inputs[1] is not None:
        name = f"{step.id}/partial_axes"
        proto = numpy_helper.from_array(np.array([len(kept)], np.int64), name)
        old = plan.tensors[step.inputs[1].tensor]
        plan.weights[name] = proto
        plan.tensors[name] = StoredTensor(name, (1,), BufferLayout((1,), None, old.layout.name), "weight", "int64", name)
        inputs1 += (Operand(name, IndexMap.identity((1,))),)
    else:
        attrs1["axes"] = [len(kept)]
    reason = (f"long reduction: {n} elements per output, {prod(pshape) // P} outputs; {P} partial results per "
              f"output ({m} strided elements each) in '{partial}', then {final} over them")
    stage1 = Step(f"{step.id}/partial", first, (), inputs1, (partial,), attrs1, reason=reason)

    src2 = tuple(P if d == axes[0] else 1 if d in axes else shape[d] for d in range(rank))
    names = [f"i{d}" for d in range(rank)]
    map2 = IndexMap.build(src2, pshape, lambda v: [*(v[d] for d in kept), v[axes[0]]], names)
    stage2 = replace(step, op_type=final, inputs=(Operand(partial, map2), *step.inputs[1:]),
                     reason=(step.reason + "; " if step.reason else "") + reason)
    return stage1, stage2, reason


def split_long_reductions(plan: Plan) -> dict[tuple[str, str], str]:
    """Split, in place, every Reduce step of ``plan`` over at least min_elements elements per output with at
    most max_outputs outputs (module docstring). Returns {(step id, partial tensor): reason}."""
    min_elements, max_outputs = thresholds()
    steps: list[Step] = []
    notes: dict[tuple[str, str], str] = {}
    for step in plan.steps:
        x = step.inputs[0] if step.inputs else None
        axes = _axes(plan, step, len(x.shape)) if step.op_type in STAGES and x is not None and x.shape else None
        if axes is None:
            steps.append(step)
            continue
        n = prod(x.shape[a] for a in axes)
        outputs = prod(x.shape) // n
        P = partial_count(n) if n >= min_elements and outputs <= max_outputs else None
        if P is None:
            steps.append(step)
            continue
        stage1, stage2, reason = _split(plan, step, axes, P)
        steps += [stage1, stage2]
        notes[(stage1.id, stage1.outputs[0])] = reason
    plan.steps = steps
    return notes
