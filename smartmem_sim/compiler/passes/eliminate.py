"""Pass 2: what happens to every layout operator (a node of a Fixed group: Reshape, Transpose,
Flatten, Squeeze, Unsqueeze, DepthToSpace, SpaceToDepth, Slice, Split, Gather on constant indices,
Expand, Tile), per policy.

Modes:

* ``copy``: a COPY kernel materializes the result (naive: always, MNN executes every transform;
  fusion: whenever the move is not free).
* ``free`` (fusion): the operator keeps the default layout's storage identical: every element of the
  result, stored in the default layout of its own shape, would sit at the address where the
  input's default layout already holds it (e.g. Unsqueeze of a trailing 1, or a Reshape that
  only merges/splits dims that the default layout linearizes the same way). The consumer reads
  the input through the operator's inverse map; no kernel. Checked numerically, element by element.
* ``inverse`` (smartmem): eliminated by folding into every consumer's operand index map
  (output coords -> input coords; defined for every layout operator).
* ``forward`` (smartmem): eliminated by folding into the producer's output map (the producer writes
  each element where the operator would have moved it). Chosen when the edge rule says "eliminate
  2nd" (a Var producer), the operator is a bijection, the producer is a single-output kernel (or a
  forward-folded layout operator) whose result has this operator as its sole consumer and is not a
  graph output. Otherwise the operator folds into its consumers (``inverse``). Forward folding
  makes the stored tensor have the shape the consumers read, so the reduction-dimension layout
  heuristic sees their reduction dims directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.ir import Graph
from smartmem_sim.compiler.passes.classify import Classification
from smartmem_sim.compiler.passes.layouts import default_layout
from smartmem_sim.kernels.ops.builder import writable_through
from smartmem_sim.layout.errors import LayoutError

MODES = ("copy", "free", "inverse", "forward")


@dataclass(frozen=True)
class Elimination:
    node: str
    mode: str  # one of MODES
    reason: str


def is_free(op, in_shape: tuple[int, ...], dtype) -> bool:
    """True when ``op`` leaves the default layout's storage identical (see the module docstring)."""
    inv = op.inverse(in_shape)
    src, dst = default_layout(in_shape, dtype), default_layout(inv.src_shape, dtype)
    if type(src) is not type(dst) or src.address_extents() != dst.address_extents():
        return False
    if int(np.prod(in_shape)) != int(np.prod(inv.src_shape)):
        return False  # drops or repeats elements: not a move of storage
    grid = tuple(np.indices(inv.src_shape, dtype=np.int64))
    here = dst.locate(grid)
    there = src.locate(inv.evaluate(grid))
    return all(np.array_equal(a, b) for a, b in zip(here, there, strict=False))


def _bijective(op, shape) -> bool:
    try:
        op.forward(shape)
    except LayoutError:
        return False
    return True


def plan_elimination(graph: Graph, cls: Classification, policy: str) -> dict[str, Elimination]:
    """Mode and reason for every layout-operator node (key: node id)."""
    out: dict[str, Elimination] = {}
    outputs = set(graph.outputs)
    for nid in graph.topological_order():
        info = cls.nodes.get(nid)
        if info is None or not info.is_layout:
            continue
        node = graph.node(nid)
        src = info.data_inputs[0]
        shape, dtype = graph.tensor(src).shape, graph.tensor(src).dtype
        if policy == "naive":
            out[nid] = _naive_mode(graph, cls, nid, outputs)
        elif policy == "fusion":
            if len(info.layout_ops) == 1 and info.op_type != "Transpose" and is_free(info.layout_ops[0], shape, dtype):
                out[nid] = Elimination(nid, "free", "fusion: the default layout stores the result exactly where the "
                                                     "input already is, so the operator is only an index map")
            else:
                out[nid] = Elimination(nid, "copy", "fusion (DNNFusion-like): layouts stay default and this "
                                                     f"{info.op_type} moves elements to other default-layout addresses, "
                                                     "so it is executed as a copy")
        elif policy == "smartmem":
            out[nid] = _smartmem_mode(graph, cls, out, nid, src, shape, outputs)
        else:
            raise CompilerError(f"eliminate: unknown policy '{policy}'")
        if node.op_type == "Split" and out[nid].mode == "forward":  # pragma: no cover - never chosen for Split
            raise CompilerError(f"node '{nid}': Split cannot be folded forward")
    return out


def _naive_mode(graph: Graph, cls: Classification, nid: str, outputs: set[str]) -> Elimination:
    """MNN executes every layout operator, but composes a chain of them into one Raster
    (source/geometry/GeometryComputer.cpp Context::getRasterCacheCreateRecursive; docs/BASELINES.md naive
    rule 3): an operator whose only reader is another layout operator is folded into that one's copy."""
    outs = [o for o in graph.node(nid).outputs if o]
    readers = [c for o in outs for c in graph.consumers(o)]
    if (len(outs) == 1 and outs[0] not in outputs and readers
            and all(cls.nodes.get(c) is not None and cls.nodes[c].is_layout for c in readers)):
        return Elimination(nid, "inverse", "naive (MNN-like): composed with the layout operator that reads it into "
                                           "one Raster, as MNN merges chains of layout operators")
    return Elimination(nid, "copy", "naive (MNN-like): every layout operator is executed (a Raster)")


def _smartmem_mode(graph, cls, done, nid, src, shape, outputs) -> Elimination:
    info = cls.nodes[nid]
    prod = graph.producer(src)
    why_not = None
    if len(info.layout_ops) != 1:
        why_not = "it has several outputs"
    elif not _bijective(info.layout_ops[0], shape):
        why_not = f"{info.op_type} here is not a bijection (it drops or repeats elements)"
    elif prod is None or prod in cls.constant_nodes:
        why_not = "its input is a graph input or a constant, which no kernel writes"
    elif src in outputs:
        why_not = f"its input '{src}' is also a graph output"
    elif graph.consumers(src) != [nid]:
        why_not = f"its input '{src}' has other consumers"
    else:
        pinfo = cls.nodes[prod]
        if pinfo.is_layout and done[prod].mode != "forward":
            why_not = f"its producer '{prod}' is itself folded into consumers"
        elif not pinfo.is_layout and len([o for o in graph.node(prod).outputs if o]) != 1:
            why_not = f"its producer '{prod}' writes several outputs"
        elif not writable_through(info.layout_ops[0].forward(shape)):
            why_not = ("its forward map mixes coordinates (not digits of one coordinate each), which a kernel "
                       "cannot invert to write through")
    if why_not is None:
        return Elimination(nid, "forward", f"eliminated: folded forward into the output map of the kernel that "
                                           f"writes '{src}' (bijective, sole consumer)")
    return Elimination(nid, "inverse", f"eliminated: folded into every consumer's input index map; not forward "
                                       f"because {why_not}")
