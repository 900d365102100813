"""The pass order of every policy, in one list, and ``compile_model``.

Policies (smartmem_sim/compiler/passes/* docstrings give the details):
- ``naive`` (MNN-like): default layouts, every layout operator a copy kernel, implicit conversions
  where an operator reduces over a dim that is not in the lanes, no fusion.
- ``fusion`` (DNNFusion-like): element-wise chains fused as epilogues, layout operators that keep
  the default storage become free views, the rest stay copies; default layouts.
- ``smartmem`` (the paper): classify, decide every edge by its pair of groups, eliminate layout
  operators into index maps (inverse or forward), fuse, choose layouts by the reduction-dimension
  heuristic (2 dims per layout, extra copies beyond), re-group Add-like ops whose inputs differ.
- ``search`` (ours): smartmem's moves, then the layouts of the tensors on edges touching an ILD&Var
  operator re-chosen by a search that asks a CostModel (smartmem_sim/compiler/search/; exact variable elimination
  where the graph allows, coordinate descent beyond). Pass ``cost=``; the default is the analytical model.

Ablation policies (the paper's Fig 8/9 steps over DNNFusion; ``smartmem`` itself is the last step):
- ``smartmem-elim``: smartmem's classification, edge rules, elimination into index maps and fusion, but every
  tensor keeps its default layout (no reduction-dimension selection, no conversions, no extra copies).
- ``smartmem-select``: + the reduction-dimension layout selection on a 1-D view of memory: a layout serves
  one reduction dim (the most requested fills the RGBA lanes), every further dim gets an extra copy.
- ``smartmem-untuned``: ``smartmem`` without tile tuning (every MatMul/Gemm computes one output texel per
  work-item), so the figure shows what tuning buys.
- ``smartmem``: + the 2.5D mapping: one layout serves two reduction dims (lanes + the innermost texture
  row axis), extra copies only beyond two.

Tiles (smartmem_sim/compiler/passes/tiles.py): in every policy each row reduction (Softmax, LayerNorm, ...)
computes a block of output texels along its row and its row's statistics once (the block that fetches least;
MNN runs one work-group per row). Tile tuning: every policy but ``naive`` (MNN's image MatMul is untiled) and
``smartmem-untuned`` gives each MatMul/Gemm the output block per work-item its cost model prices fastest, and
each row reduction the cheapest of its block, half of it and one texel; without ``cost=`` the analytical model,
which does not see tiles, keeps MatMuls at one texel and row blocks as they are.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartmem_sim.compiler.costs.model import CostModel
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.ir import Graph
from smartmem_sim.compiler.passes import (
    classify,
    decisions,
    eliminate,
    fuse,
    layouts,
    lower,
    mnn,
    reductions,
    statistics,
    tiles,
)
from smartmem_sim.compiler.search.policy import search_layouts
from smartmem_sim.layout.plan import STORAGE_TYPES, Plan

POLICIES = ("naive", "fusion", "smartmem", "search")
# the paper's ablation steps before full smartmem, and smartmem without tile tuning
ABLATION_POLICIES = ("smartmem-elim", "smartmem-select", "smartmem-untuned")
ALL = POLICIES + ABLATION_POLICIES
SMARTMEM_MOVES = ("smartmem", "search", *ABLATION_POLICIES)  # policies that make smartmem's elimination moves
TUNED = ("fusion", "smartmem", "search", "smartmem-elim", "smartmem-select")  # tile tuning (tiles.py)


@dataclass
class Context:
    """What the passes hand to each other."""

    graph: Graph
    policy: str
    storage: str
    cls: Any = None
    elim: Any = None
    fusion: Any = None
    plan: Plan | None = None
    notes: dict = field(default_factory=dict)  # (node or step id, tensor) -> layout-pass reason
    changed: dict = field(default_factory=dict)  # node -> (group, reason) after layout selection
    cost: Any = None  # CostModel the search policy asks
    search_candidates: int = 3  # candidate layouts per searched tensor

    @property
    def moves(self) -> str:
        """The policy whose elimination/fusion/edge decisions apply (search and the ablation steps make
        smartmem's moves)."""
        return "smartmem" if self.policy in SMARTMEM_MOVES else self.policy


def _regroup(c: Context) -> None:
    families = {nid: info.op_class.family for nid, info in c.cls.nodes.items()}
    for nid, reason in layouts.group_changes(c.plan, families).items():
        group = classify.describe(c.cls.nodes[nid].op_type, inputs_share_layout=False).group
        c.changed[nid] = (group, reason)


PASSES: list[tuple[str, tuple[str, ...], Callable[[Context], None]]] = [
    # normalizations whose statistics span many elements -> reductions + element-wise ops (all policies)
    ("split_statistics", ALL, lambda c: statistics.split_statistics(c.graph)),
    # constants become weights; every node gets its group, mapping type and (Fixed) layout operators
    ("classify", ALL, lambda c: setattr(c, "cls", classify.classify_graph(c.graph))),
    # each layout operator: copy (naive), free view or copy (fusion), inverse or forward fold (smartmem)
    ("eliminate", ALL, lambda c: setattr(c, "elim", eliminate.plan_elimination(c.graph, c.cls, c.moves))),
    # element-wise consumers that become epilogues of their producer's kernel (not in naive)
    ("fuse", ALL, lambda c: setattr(c, "fusion", fuse.plan_fusion(c.graph, c.cls, c.elim, c.moves))),
    # IR + decisions -> Plan with default layouts, output views materialized
    ("lower", ALL, lambda c: _lower(c)),
    # weights are prepacked offline in the layout their readers' reduction dims prefer
    ("prepack_weights", ALL, lambda c: layouts.prepack_weights(c.plan)),
    # naive: implicit conversion copies where a reader's reduction dim is not in the lanes
    ("convert", ("naive",), lambda c: c.notes.update(layouts.insert_conversions(c.plan))),
    # smartmem: reduction-dimension layout heuristic, 2 dims per 2.5D layout, extra copies beyond
    ("select_layouts", ("smartmem", "search", "smartmem-untuned"),
     lambda c: c.notes.update(layouts.select_layouts(c.plan))),
    # smartmem-select: the same heuristic with one reduction dim per layout (no 2.5D mapping), extra copies beyond
    ("select_layouts_1d", ("smartmem-select",), lambda c: c.notes.update(_select_one_dim_per_layout(c.plan))),
    # images past the image2d limit become buffers (what a device must do; search starts from legal layouts)
    ("fit_images", ALL, lambda c: c.notes.update(layouts.fit_image_limits(c.plan))),
    # naive: MNN's execution of copies (Raster: 3 launches through buffers unless it can blit image to image)
    # and of batched MatMuls (over buffers, between copies); smartmem_sim/compiler/passes/mnn.py
    ("mnn_raster", ("naive",), lambda c: c.notes.update(mnn.raster_copies(c.plan))),
    ("mnn_batched_matmul", ("naive",), lambda c: c.notes.update(mnn.batched_matmuls(c.plan))),
    # search: re-choose layouts on ILD&Var edges, each step priced by the CostModel (smartmem's are candidate 0)
    ("search_layouts", ("search",), lambda c: c.notes.update(search_layouts(c.plan, c.cost, c.search_candidates))),
    # every policy: a reduction over many elements with few outputs becomes partial results plus their reduction
    ("split_reductions", ALL, lambda c: c.notes.update(reductions.split_long_reductions(c.plan))),
    # every policy: each row reduction (Softmax, LayerNorm, ...) computes a block of texels along its row, whose
    # statistics it computes once (MNN's one work-group per row); the block that fetches least. After the search,
    # which therefore prices row reductions at one texel per work-item (a block depends on the layout it chooses)
    ("row_tiles", ALL, lambda c: tiles.row_tiles(c.plan)),
    # naive: MNN's convolutions compute 4 output texels per work-item (docs/BASELINES.md, naive rule 7)
    ("mnn_conv_tiles", ("naive",), lambda c: tiles.conv_tiles(c.plan, c.cost)),
    # tuned compilers: each MatMul/Gemm's and Conv's output block per work-item, and each row block, priced by
    # the CostModel
    ("tune_tiles", TUNED, lambda c: tiles.tune_tiles(c.plan, c.cost)),
    # smartmem: Add-like ops whose inputs ended up in different layouts change group (ILD&Var)
    ("regroup", SMARTMEM_MOVES, _regroup),
    # one EdgeDecision with a reason per IR edge
    ("decisions", ALL, lambda c: setattr(c.plan, "decisions", decisions.edge_decisions(
        c.graph, c.cls, c.elim, c.fusion, c.moves, _by_node(c), c.changed))),
    # every operand reads a tensor written earlier, with matching shapes
    ("validate", ALL, lambda c: c.plan.validate()),
]


def _select_one_dim_per_layout(plan: Plan) -> dict[tuple[str, str], str]:
    """layouts.select_layouts with one reduction dim per layout: the most requested dim of a tensor fills the
    lanes, each further dim is served by an extra copy written before its first reader (the paper's selection
    step without the 2.5D mapping that lets one image serve a second dim along a texture axis)."""
    # TODO(lead): a `dims_per_layout` argument of layouts.select_layouts would replace this function; it uses
    # that module's helpers so the two stay one rule.
    notes: dict[tuple[str, str], str] = {}
    copies: dict[int, list] = {}
    for name, entries in layouts._preferences(plan).items():
        t = plan.tensors[name]
        if t.kind == "weight" or not t.on_image:
            continue
        ranked = layouts._ranked(entries)
        layouts._relayout(plan, name, layouts.reduction_layout(t.shape, ranked[:1]))
        for d in ranked[1:]:
            readers = sorted({i for dd, i in entries if dd == d})
            reason = (f"extra copy (smartmem-select, 1 dim per layout): '{name}' is read along {len(ranked)} "
                      f"reduction dims {ranked}; its layout serves dim {ranked[0]}, so dim {d} gets its own copy")
            copy_name, cp = layouts._copy_step(plan, plan.tensors[name], layouts.reduction_layout(t.shape, [d]), reason)
            copies.setdefault(readers[0], []).append(cp)
            for i in readers:
                step = plan.steps[i]
                for pos, op in enumerate(step.inputs):
                    r = layouts.reduction_dim(plan, step, pos)
                    if op is not None and op.tensor == name and r is not None and \
                            layouts.stored_dim(op.index_map, r) == d:
                        step = layouts._retarget(step, pos, copy_name)
                        notes[(step.id, name)] = reason
                plan.steps[i] = step
    layouts._add_copies(plan, copies)
    return notes


def _lower(c: Context) -> None:
    c.plan = lower.lower(c.graph, c.cls, c.elim, c.fusion, c.moves, c.storage)
    c.plan.policy = c.policy


def _by_node(c: Context) -> dict[tuple[str, str], str]:
    """Layout-pass notes keyed by (step id, stored tensor) -> keyed by (IR node, IR tensor)."""
    out = {}
    steps = {s.id: s for s in c.plan.steps}
    for (sid, tensor), reason in c.notes.items():
        step = steps.get(sid)
        source = c.plan.tensors[tensor].source or tensor if tensor in c.plan.tensors else tensor
        for nid in (step.nodes if step else (sid,)):
            out[(nid, source)] = reason
    return out


def compile_model(graph: Graph, policy: str, storage: str = "fp32", cost: CostModel | None = None,
                  search_candidates: int = 3) -> Plan:
    """Run the policy's passes on (a clone of) ``graph`` and return its Plan. ``cost`` prices layouts for
    the ``search`` policy (default: ``AnalyticalCost("adreno740")``), which tries up to
    ``search_candidates`` layouts per tensor; other policies ignore both."""
    return compile_with_graph(graph, policy, storage, cost, search_candidates)[0]


def compile_with_graph(graph: Graph, policy: str, storage: str = "fp32", cost: CostModel | None = None,
                       search_candidates: int = 3) -> tuple[Plan, Graph]:
    """:func:`compile_model`, and the graph the plan's node ids refer to: the clone after the passes that
    rewrite the graph (split_statistics turns some normalizations into standard operators), which
    smartmem_sim.compiler.plan_onnx needs to write the plan as ONNX."""
    if policy not in ALL:
        raise CompilerError(f"unknown policy '{policy}'; choose one of {', '.join(ALL)}")
    if storage not in STORAGE_TYPES:
        raise CompilerError(f"storage '{storage}' is not one of {STORAGE_TYPES}")
    if not isinstance(graph, Graph):
        raise CompilerError(f"compile_model needs a smartmem_sim.compiler.ir.Graph (use smartmem_sim.compiler.frontend.load_model), "
                            f"got {type(graph).__name__}")
    if cost is not None and not isinstance(cost, CostModel):
        raise CompilerError(f"cost must be a smartmem_sim.compiler.costs.model.CostModel, got {type(cost).__name__}")
    if isinstance(search_candidates, bool) or not isinstance(search_candidates, int) or search_candidates < 1:
        raise CompilerError(f"search_candidates must be a positive integer, got {search_candidates!r}")
    if (policy == "search" or policy in TUNED) and cost is None:
        from smartmem_sim.compiler.costs import AnalyticalCost

        cost = AnalyticalCost("adreno740")
    ctx = Context(graph.clone(), policy, storage, cost=cost, search_candidates=search_candidates)
    for _name, policies, run in PASSES:
        if policy in policies:
            run(ctx)
    return ctx.plan, ctx.graph
