"""Pass 1: what every node of the IR is.

* Constant subgraphs: a node whose inputs are all constants (initializers, or outputs of such
  nodes) is weight preprocessing, not a kernel (e.g. the Transpose of a stripped Linear weight that
  the front end could not fold without data). ``constant_values`` computes those tensors once,
  with onnx's reference implementation, or as stripped placeholders when a weight has no data.
* Groups: every other node gets its SmartMem group and DNNFusion mapping type from the table
  (smartmem_sim/compiler/data/op_groups.toml), with ``static_params`` True when its shape/axes/indices inputs
  are constants. The operand-dependent case (Add-like ops whose inputs end up in different
  layouts) is decided after layout selection (smartmem_sim/compiler/passes/layouts.py).
* Layout operators: a node of a Fixed group becomes one ``smartmem_sim.layout.ops.LayoutOp`` per
  output, built from its (constant) parameters, so later passes can fold it as an index map.
  Split is one Slice per output; Identity/Dropout an identity Transpose.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.groups import Group, OpClass, describe
from smartmem_sim.compiler.ir import Graph, Node, is_stripped_initializer
from smartmem_sim.compiler.passes._onnx_node import run_node
from smartmem_sim.layout import ops as lops

# Inputs that are parameters (shape, axes, starts, indices ...) rather than data, by op type.
PARAM_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Slice": (1, 2, 3, 4), "Gather": (1,),
    "Expand": (1,), "Tile": (1,), "Split": (1,),
}
# Families whose members are element-wise (one output element from the same coordinates of each input).
ELEMENTWISE_FAMILIES = frozenset({"elementwise_unary", "elementwise_nary"})


@dataclass(frozen=True)
class NodeInfo:
    """A non-constant node: its classification and, for a Fixed-group node, its layout operators."""

    node: str
    op_type: str
    op_class: OpClass
    data_inputs: tuple[str, ...]  # tensors read as data (parameters and omitted inputs excluded)
    layout_ops: tuple[lops.LayoutOp, ...] = ()  # one per output, only for Fixed-group nodes

    @property
    def group(self) -> Group:
        return self.op_class.group

    @property
    def is_layout(self) -> bool:
        return bool(self.layout_ops)

    @property
    def is_elementwise(self) -> bool:
        return self.op_class.family in ELEMENTWISE_FAMILIES


@dataclass
class Classification:
    """Result of the pass: constants, and the info of every other node by id."""

    constant_nodes: set[str]
    constant_tensors: set[str]  # initializers plus outputs of constant nodes
    nodes: dict[str, NodeInfo]


def constant_nodes(graph: Graph) -> tuple[set[str], set[str]]:
    """(ids of nodes computing only from constants, every constant tensor name)."""
    const = set(graph.initializers)
    nodes: set[str] = set()
    for node in graph.nodes():
        ins = [i for i in node.inputs if i]
        if ins and all(i in const for i in ins):
            nodes.add(node.id)
            const.update(o for o in node.outputs if o)
    return nodes, const


def _const(graph: Graph, name: str, node: Node) -> np.ndarray:
    if not graph.is_constant(name) or graph.is_stripped(name):
        raise CompilerError(f"node '{node.id}' ({node.op_type}): its parameter input '{name}' must be a constant "
                            "with data (run the front end's constant folding on the model)")
    return graph.constant_value(name)


def _opt_const(graph: Graph, node: Node, k: int) -> np.ndarray | None:
    if k < len(node.inputs) and node.inputs[k]:
        return _const(graph, node.inputs[k], node)
    return None


def _ints(a: np.ndarray | None) -> tuple[int, ...] | None:
    return None if a is None else tuple(int(v) for v in np.asarray(a).reshape(-1))


def c_name(text: str) -> str:
    """A C identifier made from a node id (names Gather tables in OpenCL)."""
    name = re.sub(r"\W", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"t_{name}"


def layout_ops_of(graph: Graph, node: Node) -> tuple[lops.LayoutOp, ...]:
    """The layout operator of each output of a Fixed-group node, from its constant parameters."""
    op = node.op_type
    shape = graph.tensor(node.inputs[0]).shape
    if op == "Reshape":
        if node.attr("allowzero", 0):
            target = _ints(_const(graph, node.inputs[1], node))
            if 0 in target:
                raise CompilerError(f"node '{node.id}': Reshape with allowzero=1 and a 0 in the target is not supported")
        return (lops.Reshape(_ints(_const(graph, node.inputs[1], node))),)
    if op == "Flatten":
        return (lops.Flatten(int(node.attr("axis", 1))),)
    if op in ("Squeeze", "Unsqueeze"):
        axes = _ints(_opt_const(graph, node, 1))
        if axes is None and node.attr("axes") is not None:
            axes = tuple(int(a) for a in node.attr("axes"))
        if op == "Squeeze":
            return (lops.Squeeze(axes),)
        if axes is None:
            raise CompilerError(f"node '{node.id}': Unsqueeze needs axes")
        return (lops.Unsqueeze(axes),)
    if op == "Transpose":
        perm = node.attr("perm")
        return (lops.Transpose(None if perm is None else tuple(int(p) for p in perm)),)
    if op == "DepthToSpace":
        mode = node.attr("mode", b"DCR")
        return (lops.DepthToSpace(int(node.attr("blocksize")), mode.decode() if isinstance(mode, bytes) else mode),)
    if op == "SpaceToDepth":
        return (lops.SpaceToDepth(int(node.attr("blocksize"))),)
    if op == "Slice":
        return (lops.Slice(_ints(_const(graph, node.inputs[1], node)), _ints(_const(graph, node.inputs[2], node)),
                           _ints(_opt_const(graph, node, 3)), _ints(_opt_const(graph, node, 4))),)
    if op == "Split":
        axis = int(node.attr("axis", 0)) % len(shape)
        sizes = _ints(_opt_const(graph, node, 1))
        if sizes is None and node.attr("split") is not None:
            sizes = tuple(int(s) for s in node.attr("split"))
        outs = [o for o in node.outputs]
        if sizes is None:
            sizes = tuple(graph.tensor(o).shape[axis] for o in outs)
        starts = np.cumsum((0,) + tuple(sizes))
        return tuple(lops.Slice((int(starts[k]),), (int(starts[k + 1]),), (axis,)) for k in range(len(outs)))
    if op == "Gather":
        return (lops.Gather(_const(graph, node.inputs[1], node), int(node.attr("axis", 0)), c_name(f"{node.id}_idx")),)
    if op == "Expand":
        return (lops.Expand(_ints(_const(graph, node.inputs[1], node))),)
    if op == "Tile":
        return (lops.Tile(_ints(_const(graph, node.inputs[1], node))),)
    if op in ("Identity", "Dropout"):
        return (lops.Transpose(tuple(range(len(shape)))),)
    raise CompilerError(f"node '{node.id}': {op} is in a Fixed group but has no layout operator; "
                        "add it to smartmem_sim/compiler/passes/classify.py:layout_ops_of")


def classify_graph(graph: Graph) -> Classification:
    """Classify every node (see the module docstring). Raises CompilerError naming a node whose op is
    not in the group table or whose fixed-layout parameters are not constant."""
    const_nodes, const = constant_nodes(graph)
    infos: dict[str, NodeInfo] = {}
    for node in graph.nodes():
        if node.id in const_nodes:
            continue
        params = PARAM_INPUTS.get(node.op_type, ())
        static = all(node.inputs[k] in const for k in params if k < len(node.inputs) and node.inputs[k])
        attrs = {k: node.attr(k) for k in node.attrs}
        cls = describe(node.op_type, static_params=static, attrs=attrs, node_name=node.id)
        data = tuple(t for k, t in enumerate(node.inputs) if t and not (static and k in params))
        ops = layout_ops_of(graph, node) if cls.group.is_fixed else ()
        infos[node.id] = NodeInfo(node.id, node.op_type, cls, data, ops)
    return Classification(const_nodes, const, infos)


def stripped_proto(name: str, shape: tuple[int, ...], dtype: np.dtype) -> onnx.TensorProto:
    """A tensor with dims and type but no data (a weight of a structure-only model)."""
    t = onnx.TensorProto()
    t.name = name
    t.dims.extend(shape)
    t.data_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return t


def constant_values(graph: Graph, names: set[str], cls: Classification) -> dict[str, onnx.TensorProto]:
    """The proto of every constant tensor in ``names``: an initializer as stored, or the output of a
    constant node computed now (stripped when any weight it depends on has no data)."""
    out: dict[str, onnx.TensorProto] = {}
    values: dict[str, np.ndarray | None] = {}

    def value(t: str) -> np.ndarray | None:
        if t in values:
            return values[t]
        if t in graph.initializers:
            init = graph.initializers[t]
            values[t] = None if is_stripped_initializer(init) else numpy_helper.to_array(init)
            return values[t]
        nid = graph.producer(t)
        node = graph.node(nid)
        ins = [value(i) if i else None for i in node.inputs]
        if any(v is None for v, i in zip(ins, node.inputs, strict=False) if i):
            res: list[np.ndarray | None] = [None] * len(node.outputs)
        else:
            attrs = {k: node.attr(k) for k in node.attrs}
            res = run_node(node.op_type, attrs, ins, len(node.outputs), node.domain, where=f"node '{nid}'")
        for o, r in zip(node.outputs, res, strict=False):
            if o:
                values[o] = r
        return values[t]

    for t in sorted(names):
        if t in graph.initializers:
            out[t] = graph.initializers[t]
            continue
        v = value(t)
        info = graph.tensor(t)
        out[t] = stripped_proto(t, info.shape, info.dtype) if v is None else numpy_helper.from_array(
            np.asarray(v, dtype=info.dtype).reshape(info.shape), t)
    return out
