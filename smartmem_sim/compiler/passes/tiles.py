"""Tile tuning: every MatMul/Gemm kernel computes the block of output texels per work-item that the cost model
prices fastest, as a tuned compiler chooses its tiles (DNNFusion and SmartMem generate tuned kernels;
docs/BASELINES.md, fusion rule 5). MNN's image MatMul computes one texel per work-item (naive rule 8), so
``naive`` is not tuned.

The candidates keep a work-item at four output texels or fewer (16 outputs), the block MNN's and CLBlast's
small-GPU kernels use; memsim does not model register pressure, so larger blocks would be priced as free.
A buffer output's texels form one row, so its candidates have TY = 1. Ties keep the smaller tile (the
analytical cost model does not see tiles, so under it nothing changes).
"""
from __future__ import annotations

from dataclasses import replace

from smartmem_sim.compiler.costs.model import CostModel
from smartmem_sim.kernels.ops.builder import TILED_OPS
from smartmem_sim.layout.image import ImageLayout
from smartmem_sim.layout.plan import Plan

CANDIDATES = ((1, 1), (2, 1), (1, 2), (2, 2), (4, 1), (1, 4))
# Greedy order, to price 3-4 tiles instead of 6 (compile time: `search` on a tiny twin within 5 s): a square
# block first; if it beats one texel, the two elongated blocks of the same area, else the two half blocks.
FIRST, IF_BLOCK_WINS, IF_BLOCK_LOSES = ((1, 1), (2, 2)), ((4, 1), (1, 4)), ((2, 1), (1, 2))


def tune_tiles(plan: Plan, cost: CostModel, candidates=CANDIDATES) -> dict[str, tuple[int, int]]:
    """Set each tileable step's tile to the cheapest candidate under ``cost``; returns {step id: tile} for the
    steps whose tile changed (every step's tile is in ``plan.to_dict()``)."""
    chosen: dict[str, tuple[int, int]] = {}
    steps = []
    for step in plan.steps:
        if step.op_type not in TILED_OPS:
            steps.append(step)
            continue
        on_image = all(isinstance(plan.tensors[o].layout, ImageLayout) for o in step.outputs)
        options = [t for t in candidates if on_image or t[1] == 1]
        if tuple(step.tile) not in options:
            options = [tuple(step.tile), *options]  # a tile set before (naive's batched MatMul) stays a candidate
        best = _cheapest(plan, step, cost, options)
        if best != tuple(step.tile):
            chosen[step.id] = best
        steps.append(replace(step, tile=best))
    plan.steps = steps
    return chosen


def _cheapest(plan: Plan, step, cost: CostModel, options) -> tuple[int, int]:
    def price(tiles):
        return [(cost.evaluate(plan, replace(step, tile=t)).seconds, t[0] * t[1], t) for t in tiles if t in options]

    if tuple(options) != CANDIDATES:  # a buffer output or a preset tile: price every option
        return min(price(options))[2]
    first = price(FIRST)
    block_wins = first[1][0] < first[0][0]
    return min(first + price(IF_BLOCK_WINS if block_wins else IF_BLOCK_LOSES))[2]
