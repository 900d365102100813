"""The compiler's graph IR: operator nodes on a networkx DiGraph, tensors with static shapes.

A :class:`Graph` holds

* ``tensors``: every value by name -> :class:`Tensor` (static ``shape`` tuple, numpy ``dtype``);
* ``initializers``: constant tensors by name -> ``onnx.TensorProto``, kept by reference (never copied
  or decoded on import; a stripped weight has dims and data type but no data);
* ``inputs`` / ``outputs``: the graph's runtime inputs and outputs, as tensor names, in order;
* the operators, as :class:`Node` objects stored on the nodes of ``nx`` (a ``networkx.DiGraph``).
  An edge ``u -> v`` means an output of ``u`` is an input of ``v``; its ``tensors`` attribute is the
  set of tensor names that flow along it.

Node ids are the ONNX node names, made unique (an empty name becomes ``<op_type>_<n>``; a repeat gets
``__2``, ``__3`` ...). They are stable across clone, export and re-import, so reports can cite them.

Walking::

    g.producer("x")          # node id that writes tensor x, or None for inputs/initializers
    g.consumers("x")         # node ids that read x, in topological order
    g.predecessors(nid) / g.successors(nid)
    g.topological_order()    # node ids, deterministic (ties broken by insertion order)

Editing (later passes eliminate Reshape/Transpose and insert copies)::

    g.add_node("Transpose", ["x"], ["x_t"], {"perm": [0, 2, 1]}, name="copy_x")
    g.remove_node(nid, reconnect=("in", "out"))   # consumers of "out" now read "in"
    g.replace_uses("old", "new")                  # every consumer (and graph output) of old reads new
    g.replace_node(nid, "Identity", ...)           # same id, new op
    h = g.clone()                                  # deep copy of structure; initializers shared

Every editing method keeps the producer/consumer indices and the DiGraph edges consistent and raises
:class:`smartmem_sim.compiler.errors.CompilerError` on a dangling or duplicate tensor.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import onnx
from onnx import helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.layout.plan import is_stripped_initializer  # noqa: F401  (the compiler's name for it)


@dataclass
class Tensor:
    """A value in the graph. ``shape`` is static (ints) once the front end has run."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def elem_type(self) -> int:
        """The ONNX TensorProto data type."""
        return helper.np_dtype_to_tensor_dtype(self.dtype)


@dataclass
class Node:
    """One operator. ``attrs`` maps attribute name -> onnx.AttributeProto (kept as protos, so that
    export is lossless); use :meth:`attr` for decoded values."""

    id: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, onnx.AttributeProto] = field(default_factory=dict)
    domain: str = ""

    def attr(self, name: str, default: Any = None) -> Any:
        proto = self.attrs.get(name)
        return default if proto is None else helper.get_attribute_value(proto)


def _attr_protos(attrs: Mapping[str, Any] | None) -> dict[str, onnx.AttributeProto]:
    out: dict[str, onnx.AttributeProto] = {}
    for key, value in (attrs or {}).items():
        out[key] = value if isinstance(value, onnx.AttributeProto) else helper.make_attribute(key, value)
    return out


class Graph:
    """Operator graph with static tensor shapes. See the module docstring for the API."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.nx = nx.DiGraph()
        self.tensors: dict[str, Tensor] = {}
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        # Model-level data export needs: {domain: version}, ir_version, metadata_props.
        self.opsets: dict[str, int] = {"": 13}
        self.ir_version: int = 8
        self.metadata: dict[str, str] = {}
        self._producer: dict[str, str] = {}
        self._consumers: dict[str, list[str]] = {}
        self._order: dict[str, int] = {}  # node id -> insertion counter (deterministic tie-breaking)
        self._counter = 0

    # -- tensors -------------------------------------------------------------------------------
    def add_tensor(self, name: str, shape: Sequence[int], dtype: Any) -> Tensor:
        """Declare (or redeclare) a tensor's static shape and dtype."""
        if not name:
            raise CompilerError("a tensor needs a non-empty name")
        dims = tuple(int(d) for d in shape)
        if any(d < 0 for d in dims):
            raise CompilerError(f"tensor '{name}': shape {dims} has a negative dim")
        t = Tensor(name, dims, np.dtype(dtype))
        self.tensors[name] = t
        return t

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise CompilerError(f"graph '{self.name}' has no tensor '{name}'") from None

    def is_constant(self, name: str) -> bool:
        """True for initializers (weights and folded constants)."""
        return name in self.initializers

    def is_stripped(self, name: str) -> bool:
        """True for an initializer shipped without data (structure-only model)."""
        init = self.initializers.get(name)
        return init is not None and is_stripped_initializer(init)

    def constant_value(self, name: str) -> np.ndarray:
        """Decode an initializer (fails for a stripped one)."""
        if name not in self.initializers:
            raise CompilerError(f"tensor '{name}' is not a constant")
        if self.is_stripped(name):
            raise CompilerError(f"initializer '{name}' is stripped (no data); materialize weights first")
        return onnx.numpy_helper.to_array(self.initializers[name])

    def add_initializer(self, proto: onnx.TensorProto) -> None:
        """Add a constant tensor, kept by reference."""
        if proto.name in self._producer:
            raise CompilerError(f"initializer '{proto.name}' is already written by node '{self._producer[proto.name]}'")
        self.initializers[proto.name] = proto
        dtype = helper.tensor_dtype_to_np_dtype(proto.data_type)
        self.add_tensor(proto.name, tuple(proto.dims), dtype)

    # -- nodes ---------------------------------------------------------------------------------
    def unique_id(self, name: str, op_type: str) -> str:
        base = name or f"{op_type}_{self._counter}"
        nid, k = base, 1
        while nid in self.nx:
            k += 1
            nid = f"{base}__{k}"
        return nid

    def add_node(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        attrs: Mapping[str, Any] | None = None,
        name: str = "",
        domain: str = "",
    ) -> str:
        """Add an operator; returns its id (``name`` made unique). Inputs must exist (or be "" for an
        omitted optional input); outputs must not be written by another node."""
        for t in inputs:
            if t and t not in self.tensors:
                raise CompilerError(f"node '{name or op_type}': input tensor '{t}' does not exist; add it first")
        for t in outputs:
            if not t:
                continue
            if t in self._producer or t in self.initializers or t in self.inputs:
                raise CompilerError(f"node '{name or op_type}': output tensor '{t}' is already defined")
        nid = self.unique_id(name, op_type)
        node = Node(nid, op_type, list(inputs), list(outputs), _attr_protos(attrs), domain)
        self._order[nid] = self._counter
        self._counter += 1
        self.nx.add_node(nid, op=node)
        for t in node.outputs:
            if t:
                self._producer[t] = nid
        for t in node.inputs:
            if t:
                self._consumers.setdefault(t, []).append(nid)
        self._link(nid)
        return nid

    def node(self, nid: str) -> Node:
        try:
            return self.nx.nodes[nid]["op"]
        except KeyError:
            raise CompilerError(f"graph '{self.name}' has no node '{nid}'") from None

    def nodes(self) -> list[Node]:
        """All operators, in topological order."""
        return [self.node(n) for n in self.topological_order()]

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __contains__(self, nid: object) -> bool:
        return nid in self.nx

    def remove_node(self, nid: str, reconnect: tuple[str, str] | None = None) -> None:
        """Delete a node. Its outputs must be unused unless ``reconnect=(src, dst)`` says that the uses
        of output ``dst`` should read ``src`` instead (how a pass eliminates a Reshape or Identity)."""
        node = self.node(nid)
        keep = None
        if reconnect is not None:
            src, keep = reconnect
            if keep not in node.outputs:
                raise CompilerError(f"node '{nid}' does not write '{keep}'")
            if src not in self.tensors:
                raise CompilerError(f"remove_node('{nid}'): tensor '{src}' does not exist")
        for t in node.outputs:
            if t and t != keep and (self._consumers.get(t) or t in self.outputs):
                raise CompilerError(f"cannot remove node '{nid}': its output '{t}' is still used")
        self._unregister(node)
        self.nx.remove_node(nid)
        self._order.pop(nid, None)
        if reconnect is not None:
            self.replace_uses(keep, reconnect[0])
        for t in node.outputs:
            if t and self._producer.get(t) is None and t not in self.inputs and t not in self.initializers:
                self.tensors.pop(t, None)

    def replace_node(
        self,
        nid: str,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str] | None = None,
        attrs: Mapping[str, Any] | None = None,
        domain: str = "",
    ) -> None:
        """Swap the operator at ``nid`` for another, keeping the id (and by default the outputs)."""
        old = self.node(nid)
        for t in inputs:
            if t and t not in self.tensors:
                raise CompilerError(f"node '{nid}': input tensor '{t}' does not exist")
        self._unregister(old)
        new = Node(nid, op_type, list(inputs), list(old.outputs if outputs is None else outputs),
                   _attr_protos(attrs), domain)
        self.nx.nodes[nid]["op"] = new
        self._register(new)

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer of tensor ``old`` (and the graph outputs) read ``new`` instead. The node
        that writes ``new`` keeps reading ``old``, so inserting a copy is: add it, then replace_uses."""
        if new not in self.tensors:
            raise CompilerError(f"replace_uses: tensor '{new}' does not exist")
        writer = self._producer.get(new)
        for cid in list(self._consumers.get(old, [])):
            if cid == writer:
                continue
            node = self.node(cid)
            self._unregister(node)
            node.inputs = [new if t == old else t for t in node.inputs]
            self._register(node)
        if old in self.outputs:
            if self._producer.get(old) is None and old not in self.inputs and old not in self.initializers:
                # `old` is being removed (remove_node with reconnect): keep the graph's output name by
                # making the writer of `new` write it.
                self._rename_into_output(new, old)
            else:
                self.outputs = [new if o == old else o for o in self.outputs]

    def _rename_into_output(self, new: str, out: str) -> None:
        prod = self._producer.get(new)
        if prod is None or new in self.outputs:
            # An input or constant cannot be renamed: route it through an Identity.
            shape, dtype = self.tensors[new].shape, self.tensors[new].dtype
            self.tensors.pop(out, None)
            self.add_tensor(out, shape, dtype)
            self.add_node("Identity", [new], [out], name=f"{out}_identity")
            return
        node = self.node(prod)
        self._unregister(node)
        node.outputs = [out if t == new else t for t in node.outputs]
        self.tensors[out] = Tensor(out, self.tensors[new].shape, self.tensors[new].dtype)
        self.tensors.pop(new, None)
        self._register(node)
        for cid in list(self._consumers.get(new, [])):
            c = self.node(cid)
            self._unregister(c)
            c.inputs = [out if t == new else t for t in c.inputs]
            self._register(c)

    # -- walking -------------------------------------------------------------------------------
    def producer(self, tensor: str) -> str | None:
        return self._producer.get(tensor)

    def consumers(self, tensor: str) -> list[str]:
        return sorted(set(self._consumers.get(tensor, [])), key=self._order.__getitem__)

    def predecessors(self, nid: str) -> list[str]:
        return sorted(self.nx.predecessors(nid), key=self._order.__getitem__)

    def successors(self, nid: str) -> list[str]:
        return sorted(self.nx.successors(nid), key=self._order.__getitem__)

    def topological_order(self) -> list[str]:
        try:
            return list(nx.lexicographical_topological_sort(self.nx, key=self._order.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(self.nx)
            raise CompilerError(f"graph '{self.name}' has a cycle through nodes {[u for u, _ in cycle]}") from None

    def op_types(self) -> list[str]:
        return [self.node(n).op_type for n in self.topological_order()]

    def clone(self) -> Graph:
        """An independent copy of the structure; initializer protos are shared (they are read-only)."""
        g = Graph(self.name)
        g.nx = nx.DiGraph()
        for nid in self.nx.nodes:
            node = self.node(nid)
            g.nx.add_node(nid, op=Node(nid, node.op_type, list(node.inputs), list(node.outputs),
                                       {k: copy.deepcopy(v) for k, v in node.attrs.items()}, node.domain))
        for u, v, data in self.nx.edges(data=True):
            g.nx.add_edge(u, v, tensors=set(data["tensors"]))
        g.tensors = {k: Tensor(t.name, t.shape, t.dtype) for k, t in self.tensors.items()}
        g.initializers = dict(self.initializers)
        g.inputs, g.outputs = list(self.inputs), list(self.outputs)
        g.opsets, g.ir_version, g.metadata = dict(self.opsets), self.ir_version, dict(self.metadata)
        g._producer = dict(self._producer)
        g._consumers = {k: list(v) for k, v in self._consumers.items()}
        g._order, g._counter = dict(self._order), self._counter
        return g

    def validate(self) -> None:
        """Check that every input is defined and every graph output is produced or passed through."""
        defined = set(self.inputs) | set(self.initializers) | set(self._producer)
        for nid in self.topological_order():
            for t in self.node(nid).inputs:
                if t and t not in defined:
                    raise CompilerError(f"node '{nid}' reads undefined tensor '{t}'")
        for t in self.outputs:
            if t not in defined:
                raise CompilerError(f"graph output '{t}' is not produced by any node")

    # -- internals -----------------------------------------------------------------------------
    def _register(self, node: Node) -> None:
        for t in node.outputs:
            if t:
                self._producer[t] = node.id
        for t in node.inputs:
            if t:
                self._consumers.setdefault(t, []).append(node.id)
        self._link(node.id)

    def _unregister(self, node: Node) -> None:
        for t in node.outputs:
            if t and self._producer.get(t) == node.id:
                del self._producer[t]
        for t in node.inputs:
            users = self._consumers.get(t)
            if users and node.id in users:
                users.remove(node.id)
        for u in list(self.nx.predecessors(node.id)):
            self.nx.remove_edge(u, node.id)
        for v in list(self.nx.successors(node.id)):
            self.nx.remove_edge(node.id, v)
        # Re-add edges that other nodes still justify (node's outputs read by its old successors are
        # gone from the producer map, so those edges stay removed).

    def _link(self, nid: str) -> None:
        node = self.node(nid)
        for t in node.inputs:
            src = self._producer.get(t) if t else None
            if src is not None:
                self._add_edge(src, nid, t)
        for t in node.outputs:
            for cid in self._consumers.get(t, []) if t else []:
                self._add_edge(nid, cid, t)

    def _add_edge(self, u: str, v: str, tensor: str) -> None:
        if self.nx.has_edge(u, v):
            self.nx.edges[u, v]["tensors"].add(tensor)
        else:
            self.nx.add_edge(u, v, tensors={tensor})


def iter_edges(g: Graph) -> Iterable[tuple[str, str, str]]:
    """(producer id, consumer id, tensor name) for every data edge, in topological order of consumers."""
    for v in g.topological_order():
        for t in g.node(v).inputs:
            u = g.producer(t) if t else None
            if u is not None:
                yield u, v, t
