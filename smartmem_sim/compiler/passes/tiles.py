"""Tiles: how many output texels one work-item computes.

MatMul/Gemm and Conv (tune_tiles): every MatMul/Gemm and Conv kernel computes the block of output texels per
work-item that the cost model prices fastest, as a tuned compiler chooses its tiles (DNNFusion and SmartMem
generate tuned kernels; docs/BASELINES.md, fusion rule 5). A Conv prices two: one texel and the candidate
block that fetches fewest texels (texel_fetches; ties: the larger block, then the narrower along x, which keeps
a warp's neighbouring work-items on neighbouring texels). Convolutions are most of a CNN's kernels, and four
prices each took the paper grid past its 10 minutes (720 s against 551 s). MNN's image MatMul computes one
texel per work-item (naive rule 8), so ``naive``'s MatMuls are not tuned; its convolutions get MNN's blocks of
4 texels (conv_tiles, naive rule 7): the one a cost model prices faster, as MNN's tuner times them, where the
caller gives one, else the one that fetches fewer texels (the commands compile one naive plan for every device).

The candidates keep a work-item at four output texels or fewer (16 outputs), the block MNN's and CLBlast's
small-GPU kernels use; memsim does not model register pressure, so larger blocks would be priced as free.
A buffer output's texels form one row, so its candidates have TY = 1. Ties keep the smaller tile (the
analytical cost model does not see tiles, so under it nothing changes).

Row reductions (row_tiles, every policy): Softmax, LayerNorm and the other normalizations of
smartmem_sim/kernels/ops/builder.py's ROW_OPS get the 1-D block along the output's x or y axis that makes the
kernel fetch the fewest texels, counted from the access program (read groups x loop trips, no texel
registers), up to MAX_TILE_TEXELS; ties keep the smaller block. A block along the normalized row computes the
row's statistics once for all its texels (kernels/ops/program.py, shared phases), which is what every
library does: MNN runs one work-group per row of texels, three passes over the row (docs/BASELINES.md, naive
rule 10), so ``naive`` gets it too. A row longer than a block is read once per block and statistic. The
tuned policies then price the block, one texel, and half the block with their cost model (tune_tiles), ties
keeping the block.
"""
from __future__ import annotations

from dataclasses import replace
from math import prod

from smartmem_sim.compiler.costs.model import CostModel
from smartmem_sim.kernels.ops.builder import (
    CONV_OPS,
    MATMUL_OPS,
    MAX_TILE_TEXELS,
    ROW_OPS,
    build_program,
    step_constants,
)
from smartmem_sim.kernels.ops.program import keyed_read_groups
from smartmem_sim.layout.image import ImageLayout
from smartmem_sim.layout.plan import Plan, Step
from smartmem_sim.layout.signature import step_signature

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
        if step.op_type in ROW_OPS and tuple(step.tile) != (1, 1):
            best = _cheapest_row(plan, step, cost)
            if best != tuple(step.tile):
                chosen[step.id] = best
            steps.append(replace(step, tile=best))
            continue
        if step.op_type not in MATMUL_OPS + CONV_OPS:
            steps.append(step)
            continue
        on_image = all(isinstance(plan.tensors[o].layout, ImageLayout) for o in step.outputs)
        options = [t for t in candidates if on_image or t[1] == 1]
        if step.op_type in CONV_OPS:
            best = _cheapest_conv(plan, step, cost, options)
        else:
            if tuple(step.tile) not in options:
                options = [tuple(step.tile), *options]  # a tile set before (naive's batched MatMul) stays one
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


def _cheapest_conv(plan: Plan, step: Step, cost: CostModel, options) -> tuple[int, int]:
    """One texel or the block of ``options`` that fetches fewest texels (texel_fetches), whichever ``cost`` prices
    fastest (module docstring: two prices per Conv, not the MatMuls' four)."""
    blocks = [t for t in options if t != (1, 1)]
    if not blocks:
        return (1, 1)
    block = min(blocks, key=lambda t: (texel_fetches(plan, step, t), -t[0] * t[1], t[0]))
    return _first_cheapest(plan, step, cost, [(1, 1), block])


def _cheapest_row(plan: Plan, step: Step, cost: CostModel) -> tuple[int, int]:
    """The block row_tiles chose, half of it, or one texel, whichever ``cost`` prices fastest (a tie keeps the
    first of them in that order)."""
    block = tuple(step.tile)
    half = tuple(max(1, t // 2) for t in block)
    return _first_cheapest(plan, step, cost, list(dict.fromkeys([block, half, (1, 1)])))


def _first_cheapest(plan: Plan, step: Step, cost: CostModel, options) -> tuple[int, int]:
    """The tile of ``options`` that ``cost`` prices fastest; a tie keeps the earlier one."""
    priced = [(cost.evaluate(plan, replace(step, tile=t)).seconds, i) for i, t in enumerate(options)]
    return options[min(priced)[1]]


def texel_fetches(plan: Plan, step: Step, tile: tuple[int, int]) -> int:
    """Texels (elements, from a buffer) the step's first kernel fetches with ``tile``, without texel
    registers: per work-item, each read's groups times its phase's loop trips."""
    prog = build_program(plan, replace(step, tile=tile), 0, step_constants(plan, step))
    per_item = 0
    for p in prog.lanes.phases:
        trips = prod(v.extent for v in p.loops)
        per_item += trips * sum(len(keyed_read_groups(prog, r)) for r in p.reads)
    return per_item * prog.global_size[0] * prog.global_size[1]


# by kernel signature: a network repeats its blocks. Bounded (oldest out first) so a long-lived process, a
# sweep worker or a notebook compiling many models, does not grow it without end; the whole zoo has a few
# hundred distinct row steps.
_ROW_TILES: dict[str, tuple[int, int]] = {}
ROW_TILES_KEPT = 4096


def row_tile(plan: Plan, step: Step) -> tuple[int, int]:
    """The 1-D block (k, 1) or (1, k), k <= MAX_TILE_TEXELS, with the fewest fetches (module docstring); only
    the axis along which a 2-texel block fetches less than one texel is scanned."""
    return _by_signature(_ROW_TILES, plan, step, lambda: _fewest_fetches(plan, step))


def _by_signature(memo: dict, plan: Plan, step: Step, choose) -> tuple[int, int]:
    """``choose()`` once per kernel signature of the untiled step, in ``memo`` (at most ROW_TILES_KEPT entries,
    oldest out first)."""
    key = step_signature(plan, replace(step, tile=(1, 1)), plan.tensors)
    if key not in memo:
        if len(memo) >= ROW_TILES_KEPT:
            del memo[next(iter(memo))]
        memo[key] = choose()
    return memo[key]


def _fewest_fetches(plan: Plan, step: Step) -> tuple[int, int]:
    on_image = all(isinstance(plan.tensors[o].layout, ImageLayout) for o in step.outputs)
    best = (texel_fetches(plan, step, (1, 1)), 1, (1, 1))
    for axis in (0, 1) if on_image else (0,):
        def tile(k, axis=axis):
            return (k, 1) if axis == 0 else (1, k)
        two = texel_fetches(plan, step, tile(2))
        if two >= best[0]:  # the row does not lie along this axis
            continue
        best = min(best, (two, 2, tile(2)))
        for k in _block_lengths(_texels_along(plan, step, axis)):
            best = min(best, (texel_fetches(plan, step, tile(k)), k, tile(k)))
    return best[2]


def _texels_along(plan: Plan, step: Step, axis: int) -> int:
    lay = plan.tensors[step.outputs[0]].layout
    if isinstance(lay, ImageLayout):
        return lay.width if axis == 0 else lay.height
    return -(-prod(lay.shape) // 4)


def _block_lengths(extent: int) -> list[int]:
    """Block lengths worth counting: those that cut ``extent`` texels into 1-4 blocks of near-equal length, and
    the multiples of 2 and 4 that keep a block on whole texels of a lane-packed input (the counts are of
    symbolic read groups, which merge where the index arithmetic divides evenly)."""
    ks = {3, 4, 6, 8, 12, 16} | {-(-extent // n) for n in range(1, 5)}
    return sorted(k for k in ks if 3 <= k <= MAX_TILE_TEXELS)


def row_tiles(plan: Plan) -> dict[str, tuple[int, int]]:
    """Give every row reduction of ``plan`` its row_tile; returns {step id: tile} where it is not one texel."""
    chosen = {}
    steps = []
    for step in plan.steps:
        if step.op_type in ROW_OPS:
            step = replace(step, tile=row_tile(plan, step))
            if step.tile != (1, 1):
                chosen[step.id] = step.tile
        steps.append(step)
    plan.steps = steps
    return chosen


# MNN's convolution blocks (docs/BASELINES.md, naive rule 7): 4 output texels per work-item along w (c4h1w4) or
# h (c4h4w1) of its nc4hw4 image, the faster of the two after MNN's tuning; depthwise along w only.
MNN_CONV_BLOCKS = ((4, 1), (1, 4))
_CONV_TILES: dict[str, tuple[int, int]] = {}


def conv_tile(plan: Plan, step: Step, cost: CostModel | None = None) -> tuple[int, int]:
    """MNN's block for a Conv step: (4, 1) for a depthwise Conv or a buffer output; else the one of
    MNN_CONV_BLOCKS that ``cost`` prices faster, as MNN's tuner times both (without a cost model, or where it
    prices both alike, the one that fetches fewer texels; a tie keeps (4, 1))."""
    if cost is not None:
        return _mnn_block(plan, step, cost)
    return _by_signature(_CONV_TILES, plan, step, lambda: _mnn_block(plan, step, None))


def _mnn_block(plan: Plan, step: Step, cost: CostModel | None) -> tuple[int, int]:
    on_image = all(isinstance(plan.tensors[o].layout, ImageLayout) for o in step.outputs)
    w = plan.tensors[step.inputs[1].tensor].shape if len(step.inputs) > 1 and step.inputs[1] else ()
    depthwise = len(w) > 1 and w[1] == 1 and int(step.attrs.get("group", 1)) > 1
    if not on_image or depthwise:
        return MNN_CONV_BLOCKS[0]

    def price(t):
        return cost.evaluate(plan, replace(step, tile=t)).seconds if cost is not None else 0.0
    return min(MNN_CONV_BLOCKS, key=lambda t: (price(t), texel_fetches(plan, step, t), t[1]))


def conv_tiles(plan: Plan, cost: CostModel | None = None) -> dict[str, tuple[int, int]]:
    """Give every Conv step of ``plan`` its conv_tile under ``cost`` (naive: MNN's blocks); returns {step id:
    tile}."""
    chosen = {}
    steps = []
    for step in plan.steps:
        if step.op_type in CONV_OPS:
            step = replace(step, tile=conv_tile(plan, step, cost))
            chosen[step.id] = step.tile
        steps.append(step)
    plan.steps = steps
    return chosen
