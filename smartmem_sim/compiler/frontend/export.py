"""Between ONNX and the IR: ``to_graph`` (a cleaned ModelProto -> Graph) and ``export_model``
(Graph -> a valid ModelProto that onnxruntime runs and Netron opens)."""
from __future__ import annotations

import onnx
from onnx import helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend.opset import STANDARD_DOMAINS
from smartmem_sim.compiler.ir import Graph


def to_graph(model: onnx.ModelProto, name: str = "model") -> Graph:
    """Build the IR from a model that ``clean_model`` produced (every tensor has a static shape)."""
    g = Graph(name)
    g.opsets = {("" if op.domain == "ai.onnx" else op.domain): int(op.version) for op in model.opset_import}
    g.ir_version = int(model.ir_version)
    g.metadata = {p.key: p.value for p in model.metadata_props}
    for t in model.graph.initializer:
        g.add_initializer(t)
    typed = {vi.name: vi for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output)}
    for vi in model.graph.input:
        _declare(g, vi, name)
        g.inputs.append(vi.name)
    for node in model.graph.node:
        for o in node.output:
            if o:
                if o not in typed:
                    raise CompilerError(f"{name}: tensor '{o}' of node '{node.name}' has no shape; clean the model first")
                _declare(g, typed[o], name)
        g.add_node(node.op_type, list(node.input), list(node.output),
                   {a.name: a for a in node.attribute}, name=node.name,
                   domain="" if node.domain in STANDARD_DOMAINS else node.domain)
    g.outputs = [vi.name for vi in model.graph.output]
    g.validate()
    return g


def _declare(g: Graph, vi: onnx.ValueInfoProto, name: str) -> None:
    tt = vi.type.tensor_type
    dims = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            raise CompilerError(f"{name}: tensor '{vi.name}' has a non-static dim; clean the model (bind dims) first")
        dims.append(d.dim_value)
    g.add_tensor(vi.name, dims, helper.tensor_dtype_to_np_dtype(tt.elem_type))


def export_model(graph: Graph) -> onnx.ModelProto:
    """The IR as a ModelProto: nodes in topological order named by their ids, shapes as value_info,
    initializers copied from the protos the IR references, the graph's opsets and metadata."""
    if not isinstance(graph, Graph):
        raise CompilerError(f"export_model needs a smartmem_sim.compiler.ir.Graph, got {type(graph).__name__}")
    graph.validate()
    nodes = []
    for nid in graph.topological_order():
        n = graph.node(nid)
        proto = helper.make_node(n.op_type, n.inputs, n.outputs, name=n.id, domain=n.domain or None)
        proto.attribute.extend(n.attrs[k] for k in sorted(n.attrs))
        nodes.append(proto)
    used = {i for n in nodes for i in n.input} | set(graph.outputs)
    inits = [graph.initializers[k] for k in graph.initializers if k in used]

    def vi(name: str) -> onnx.ValueInfoProto:
        t = graph.tensor(name)
        return helper.make_tensor_value_info(name, t.elem_type, list(t.shape))

    graph_inputs = set(graph.inputs)
    value_info = [vi(o) for n in nodes for o in n.output
                  if o and o not in graph.outputs and o not in graph_inputs]
    gp = helper.make_graph(nodes, graph.name, [vi(i) for i in graph.inputs], [vi(o) for o in graph.outputs],
                           initializer=inits, value_info=value_info)
    opsets = [helper.make_opsetid(d, v) for d, v in sorted(graph.opsets.items())]
    model = helper.make_model(gp, opset_imports=opsets, producer_name="smartmem-sim")
    model.ir_version = max(graph.ir_version, helper.find_min_ir_version_for(opsets, ignore_unknown=True))
    for key, value in sorted(graph.metadata.items()):
        p = model.metadata_props.add()
        p.key, p.value = key, value
    return model
