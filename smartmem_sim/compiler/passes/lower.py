"""Pass 4: IR + decisions (classification, eliminations, fusions) -> Plan.

Walks the nodes in topological order and keeps, for every IR tensor that can be read, a *view*:
the stored tensor that holds its values and the index map from the tensor's coordinates to the
stored tensor's (identity for a stored tensor; a folded layout-operator chain otherwise).

* A kernel (any non-layout operator) opens a step. While its result is *pending* (nobody has read
  it yet) the step can still grow: an element-wise consumer chosen by fuse.py becomes an epilogue
  (its other inputs are read through views composed with the numpy broadcast from the step's
  result coordinates), and a layout operator folded ``forward`` extends the step's output map
  (operator coords -> coords of the chain's result). A step is *sealed* when a reader needs its
  result (or at the end): its current result becomes a stored tensor and the step is appended to
  the plan, so steps are in an order where every operand was written earlier.
* A layout operator in mode ``copy`` becomes a COPY step (out[c] = in[inverse(c)]); in mode
  ``free`` or ``inverse`` its output becomes a view (inverse map composed with its input's view),
  and the node id is recorded in the reading operand's ``absorbed``.
* Constants (initializers and constant subgraphs) become ``weight`` stored tensors whose protos
  go to ``Plan.weights``; graph inputs are ``input`` stored tensors.
* A graph output that is only a view (not a stored tensor of its own name and shape) is
  materialized by a COPY step whose reason says so.

Every stored tensor gets the policy-independent default layout here (smartmem_sim/compiler/passes/layouts.py);
the layout pass replaces layouts afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.ir import Graph
from smartmem_sim.compiler.passes.classify import Classification, constant_values
from smartmem_sim.compiler.passes.eliminate import Elimination
from smartmem_sim.compiler.passes.fuse import FusionPlan
from smartmem_sim.compiler.passes.layouts import default_layout
from smartmem_sim.layout import ops as lops
from smartmem_sim.layout.expr import Const
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.plan import COPY, Epilogue, Operand, Plan, Step, StoredTensor


@dataclass(frozen=True)
class View:
    stored: str
    index_map: IndexMap  # IR tensor coords -> stored tensor coords
    absorbed: tuple[str, ...] = ()

    def operand(self) -> Operand:
        return Operand(self.stored, self.index_map, self.absorbed)


@dataclass
class _Open:
    root: str
    op_type: str
    attrs: dict[str, Any]
    inputs: tuple[Operand | None, ...]
    op_shape: tuple[int, ...]
    cur: str
    out_map: IndexMap | None = None
    nodes: list[str] = field(default_factory=list)
    epilogue: list[Epilogue] = field(default_factory=list)
    absorbed_output: list[str] = field(default_factory=list)
    reason: str = ""


def decoded_attrs(node) -> dict[str, Any]:
    out = {}
    for k in node.attrs:
        v = node.attr(k)
        if k in ("body", "then_branch", "else_branch") or hasattr(v, "node"):
            raise CompilerError(f"node '{node.id}' ({node.op_type}): operators with subgraphs are not supported")
        out[k] = v
    return out


class _Lowering:
    def __init__(self, graph: Graph, cls: Classification, elim: dict[str, Elimination], fusion: FusionPlan,
                 policy: str, storage: str):
        self.g, self.cls, self.elim, self.fusion = graph, cls, elim, fusion
        self.policy, self.storage = policy, storage
        self.tensors: dict[str, StoredTensor] = {}
        self.steps: list[Step] = []
        self.views: dict[str, View] = {}
        self.open: dict[str, _Open] = {}  # root node id -> open step
        self.pending: dict[str, str] = {}  # IR tensor -> root of the open step computing it
        self.weights: set[str] = set()
        for name in graph.inputs:
            self._store(name, "input")

    # ---------------------------------------------------------------- stored tensors and views
    def _store(self, name: str, kind: str, shape=None, dtype=None, source: str = "") -> None:
        t = self.g.tensor(source or name) if shape is None else None
        shape = t.shape if t is not None else tuple(shape)
        dtype = np.dtype(t.dtype if t is not None else dtype)
        if name in self.tensors:
            raise CompilerError(f"lower: stored tensor '{name}' is written twice")
        self.tensors[name] = StoredTensor(name, shape, default_layout(shape, dtype), kind, dtype.name, source or name)
        self.views.setdefault(name, View(name, IndexMap.identity(shape)))

    def read(self, t: str) -> View:
        if t in self.pending:
            self._seal(self.pending[t])
        if t in self.views:
            return self.views[t]
        if t in self.cls.constant_tensors:
            self._store(t, "weight")
            self.weights.add(t)
            return self.views[t]
        raise CompilerError(f"lower: tensor '{t}' is read before any step writes it")

    # ---------------------------------------------------------------- steps
    def _seal(self, root: str) -> None:
        s = self.open.pop(root)
        for t in [t for t, r in self.pending.items() if r == root]:
            del self.pending[t]
        kind = "output" if s.cur in self.g.outputs else "intermediate"
        self._store(s.cur, kind)
        maps = (s.out_map,) if s.out_map is not None else ()
        self.steps.append(Step(root, s.op_type, tuple(s.nodes), s.inputs, (s.cur,), s.attrs, maps,
                               tuple(s.epilogue), s.reason, absorbed_output=tuple(s.absorbed_output)))

    def _copy(self, sid: str, nid: str, src: View, inverse: IndexMap, out: str, reason: str,
              source: str = "") -> None:
        op = Operand(src.stored, inverse.then(src.index_map), src.absorbed)
        self.steps.append(Step(sid, COPY, (nid,), (op,), (out,), reason=reason))
        source = source or out
        kind = "output" if source in self.g.outputs else "intermediate"
        self._store(out, kind, inverse.src_shape, self.g.tensor(source).dtype, source)

    def layout_node(self, nid: str) -> None:
        info, node, e = self.cls.nodes[nid], self.g.node(nid), self.elim[nid]
        src = info.data_inputs[0]
        shape = self.g.tensor(src).shape
        outs = [o for o in node.outputs if o][: len(info.layout_ops)]
        if e.mode == "forward" and src in self.pending and self.open[self.pending[src]].cur == src:
            s = self.open[self.pending.pop(src)]
            fwd = info.layout_ops[0].forward(shape)
            s.out_map = fwd if s.out_map is None else s.out_map.then(fwd)
            s.cur = outs[0]
            s.absorbed_output.append(nid)
            s.reason += f"; writes through the forward map of {info.op_type} '{nid}'"
            self.pending[outs[0]] = s.root
            return
        view = self.read(src)
        for k, (op, out) in enumerate(zip(info.layout_ops, outs, strict=False)):
            inv = op.inverse(shape)
            if e.mode == "copy":
                self._copy(nid if len(outs) == 1 else f"{nid}#{k}", nid, view, inv, out, e.reason)
            else:
                self.views[out] = View(view.stored, inv.then(view.index_map), view.absorbed + (nid,))

    def kernel_node(self, nid: str) -> None:
        node, info = self.g.node(nid), self.cls.nodes[nid]
        fused = self.fusion.fused.get(nid)
        if fused is not None and self.pending.get(fused.tensor) == fused.kernel:
            self._epilogue(nid, fused)
            return
        inputs = tuple(self.read(t).operand() if t else None for t in node.inputs)
        outs = [o for o in node.outputs if o]
        reason = f"{info.group} kernel ({info.op_class.family})"
        if len(outs) != 1:
            self.steps.append(Step(nid, node.op_type, (nid,), inputs, tuple(outs), decoded_attrs(node), reason=reason))
            for o in outs:
                self._store(o, "output" if o in self.g.outputs else "intermediate")
            return
        self.open[nid] = _Open(nid, node.op_type, decoded_attrs(node), inputs, self.g.tensor(outs[0]).shape, outs[0],
                               nodes=[nid], reason=reason)
        self.pending[outs[0]] = nid

    def _epilogue(self, nid: str, fused) -> None:
        node = self.g.node(nid)
        s = self.open[fused.kernel]
        del self.pending[fused.tensor]
        cur_shape = self.g.tensor(fused.tensor).shape
        to_cur = s.out_map if s.out_map is not None else IndexMap.identity(s.op_shape)
        operands = []
        for t in node.inputs:
            if t == fused.tensor:
                continue
            view = self.read(t)
            shape = self.g.tensor(t).shape
            bcast = lops.Expand(cur_shape).inverse(shape)  # cur coords -> coords of t (numpy broadcasting)
            operands.append(Operand(view.stored, to_cur.then(bcast).then(view.index_map), view.absorbed))
        if fused.kernel not in self.open:  # reading an operand sealed this very step: cannot happen (see fuse.py)
            raise CompilerError(f"lower: kernel '{fused.kernel}' was sealed while fusing '{nid}'")
        s.epilogue.append(Epilogue(nid, node.op_type, decoded_attrs(node), tuple(operands), fused.result_first))
        s.nodes.append(nid)
        s.cur = node.outputs[0]
        self.pending[s.cur] = s.root

    def finish(self) -> list[str]:
        for root in list(self.open):
            if root in self.open:
                self._seal(root)
        outputs = []
        for o in self.g.outputs:
            view = self.read(o)
            stored = self.tensors[view.stored]
            if view.stored == o and stored.shape == self.g.tensor(o).shape and _is_identity(view.index_map):
                outputs.append(o)
                continue
            reason = (f"graph output '{o}' is a view of '{view.stored}' through folded layout operators "
                      f"{list(view.absorbed)}; the caller reads outputs in their own shape, so it is materialized")
            src = View(view.stored, IndexMap.identity(view.index_map.dst_shape), view.absorbed)
            name = o if o not in self.tensors else f"{o}@output"
            self._copy(f"materialize_{o}", self.g.producer(o) or o, src, view.index_map, name, reason, source=o)
            outputs.append(name)
        return outputs


def _is_identity(m: IndexMap) -> bool:
    return m.src_shape == m.dst_shape and all(e == v or (v.extent == 1 and e == Const(0))
                                              for e, v in zip(m.exprs, m.variables, strict=False))


def lower(graph: Graph, cls: Classification, elim: dict[str, Elimination], fusion: FusionPlan, policy: str,
          storage: str = "fp32") -> Plan:
    """The Plan of ``graph`` under the decisions (default layouts; see the module docstring)."""
    lw = _Lowering(graph, cls, elim, fusion, policy, storage)
    for nid in graph.topological_order():
        if nid in cls.constant_nodes:
            continue
        if cls.nodes[nid].is_layout:
            lw.layout_node(nid)
        else:
            lw.kernel_node(nid)
    outputs = lw.finish()
    weights = constant_values(graph, lw.weights, cls)
    return Plan(graph.name, policy, storage, lw.tensors, lw.steps, list(graph.inputs), outputs, weights=weights)
