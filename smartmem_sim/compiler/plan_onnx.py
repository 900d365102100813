"""A compiled Plan as an ONNX model: the graph as it will run, one node per kernel.

Every plan step becomes one node of the custom domain ``ai.smartmem`` whose reference implementation is a
model-local ONNX function: the original operators the kernel implements (its main operator, the element-wise
operators fused after it, and the layout operators folded into its index maps). So:
- the top-level graph shows what runs: eliminated Reshape/Transpose nodes are gone from it (they live on only
  inside the function bodies, as the meaning of the index maps), fused operators are one node, and layout
  copies that survive are visible as ``Copy`` nodes;
- onnxruntime runs the model (it inlines local functions), so the emitted model can be checked against the
  input model's outputs, and ``onnx.checker.check_model(full_check=True)`` accepts it;
- Netron shows each kernel's layouts, index maps, work size and tile as node attributes (strings), and the
  original operators by expanding the function.

Top-level values are the plan's stored tensors (a tensor kept in two layouts is two values, ``X`` and
``X@layout``); function bodies use the IR's tensor names.

A *helper* kernel implements no operator of its own: the partial results of a long reduction
(compiler/passes/reductions.py), which the next kernel reduces. It has no node: its reader's node reads what the
helper reads and holds the operators both kernels implement together (its ``kernels`` attribute names both).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

import onnx
from onnx import helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.ir import Graph
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from smartmem_sim.layout.plan import COPY, Operand, Plan, Step

DOMAIN = "ai.smartmem"
DOMAIN_VERSION = 1


def describe_layout(layout) -> str:
    """One line per layout: the image's width/height/lane dims and size, or a buffer's order."""
    if isinstance(layout, ImageLayout):
        return (f"image {layout.name}: width dims {list(layout.width_dims)}, height dims {list(layout.height_dims)}, "
                f"lane dim {layout.lane_dim}, {layout.width}x{layout.height} texels")
    if isinstance(layout, BufferLayout):
        return f"buffer {layout.name}: order {list(getattr(layout, 'order', ()) or ())}"
    return f"{type(layout).__name__} {getattr(layout, 'name', '')}"


def _operands(step: Step) -> list[Operand]:
    return [o for o in list(step.inputs) + [o for e in step.epilogue for o in e.operands] if o is not None]


def _is_helper(step: Step) -> bool:
    """A kernel with no operator of its own that is not a layout copy (module docstring)."""
    return not step.nodes and step.op_type != COPY


def _sources(step: Step, helpers: Mapping[str, Step]) -> list[Operand]:
    """The step's operands, with a helper's output replaced by what the helper reads."""
    out = []
    for o in _operands(step):
        out.extend(_operands(helpers[o.tensor]) if o.tensor in helpers else [o])
    return out


def _covered_nodes(step: Step, helpers: Mapping[str, Step]) -> set[str]:
    return set(step.nodes) | set(step.absorbed_output) | {n for o in _sources(step, helpers) for n in o.absorbed}


def _function_name(step: Step) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{step.op_type}_{step.id}")


def _string_attr(name: str, lines: list[str]) -> onnx.AttributeProto:
    return helper.make_attribute(name, "\n".join(lines))


def plan_to_onnx(plan: Plan, graph: Graph, *, launches: Mapping[str, list[dict]] | None = None,
                 metadata: Mapping[str, str] | None = None) -> onnx.ModelProto:
    """The model that ``plan`` (compiled from ``graph``) runs; ``launches`` (step id -> [{kernel, global_size,
    local_size}]) adds each kernel's work size to its node. Initializers are the graph's (stripped weights stay
    stripped: fill them first, e.g. with ``materialize_weights``, for a model onnxruntime can run)."""
    order = {nid: i for i, nid in enumerate(graph.topological_order())}
    stored_source = {n: (t.source or n) for n, t in plan.tensors.items()}
    functions, nodes = [], []
    opsets = dict(graph.opsets)
    opsets.setdefault("", 17)
    helpers = {step.outputs[0]: step for step in plan.steps if _is_helper(step)}
    readers = Counter(o.tensor for s in plan.steps for o in _operands(s))
    for step in plan.steps:
        if _is_helper(step):
            if len(step.outputs) != 1 or readers[step.outputs[0]] != 1:
                raise CompilerError(f"plan '{plan.model}': step '{step.id}' has no operators, is not a copy and "
                                    "does not feed exactly one reader")
            continue
        covered = sorted(_covered_nodes(step, helpers), key=lambda n: order.get(n, -1))
        unknown = [n for n in covered if n not in order]
        if unknown:
            raise CompilerError(f"plan '{plan.model}': step '{step.id}' names nodes {unknown} the graph lacks")
        body = []
        for nid in covered:
            n = graph.node(nid)
            proto = helper.make_node(n.op_type, n.inputs, n.outputs, name=n.id, domain=n.domain or None)
            proto.attribute.extend(n.attrs[k] for k in sorted(n.attrs))
            body.append(proto)
        produced = {o for b in body for o in b.output if o}
        # formal inputs: one per IR tensor the body reads from outside, fed by the stored tensor that holds it
        actual_of: dict[str, str] = {}
        for o in _sources(step, helpers):
            actual_of.setdefault(stored_source[o.tensor], o.tensor)
        formal_in, actual_in, constants = [], [], []
        for b in body:
            for name in b.input:
                if not name or name in produced or name in formal_in or name in {c.output[0] for c in constants}:
                    continue
                if name in actual_of:
                    formal_in.append(name)
                    actual_in.append(actual_of[name])
                elif name in graph.initializers:  # a shape or axes constant the kernel bakes in
                    constants.append(helper.make_node("Constant", [], [name], value=graph.initializers[name]))
                else:
                    raise CompilerError(f"plan '{plan.model}': step '{step.id}' reads '{name}', which no operand "
                                        "of the step holds")
        formal_out = []
        if not body:  # a pure layout conversion: same values, another layout
            if len(_operands(step)) != 1 or len(step.outputs) != 1:
                raise CompilerError(f"plan '{plan.model}': step '{step.id}' has no operators and is not a copy")
            src = stored_source[_operands(step)[0].tensor]
            formal_in, actual_in = [src], [_operands(step)[0].tensor]
            body = [helper.make_node("Identity", [src], [src + "__copy"], name=f"{step.id}_identity")]
            formal_out = [src + "__copy"]
        else:
            for out in step.outputs:
                src = stored_source[out]
                if src not in produced:
                    raise CompilerError(f"plan '{plan.model}': step '{step.id}' writes '{out}' (tensor '{src}'), "
                                        "which its operators do not produce")
                formal_out.append(src)
        fname = _function_name(step)
        parts = [helpers[o.tensor] for o in _operands(step) if o.tensor in helpers] + [step]
        attrs = _step_attributes(plan, step, [k for p in parts for k in (launches or {}).get(p.id, [])])
        if len(parts) > 1:
            attrs.append(_string_attr("kernels", [f"{p.id}: {p.reason or p.op_type}" for p in parts]))
        functions.append(helper.make_function(
            DOMAIN, fname, formal_in, formal_out, constants + body,
            opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
            attributes=[a.name for a in attrs], doc_string=f"kernel {step.id}: the ONNX operators it implements"))
        node = helper.make_node(fname, actual_in, list(step.outputs), name=step.id, domain=DOMAIN,
                                doc_string=_doc(plan, step))
        node.attribute.extend(attrs)
        nodes.append(node)

    def vi(name: str) -> onnx.ValueInfoProto:
        t = plan.tensors[name]
        return helper.make_tensor_value_info(name, graph.tensor(stored_source[name]).elem_type, list(t.shape))

    helper_only = {o.tensor for h in helpers.values() for o in _operands(h)} - {
        o.tensor for s in plan.steps if not _is_helper(s) for o in _operands(s)}
    weights = [n for n, t in plan.tensors.items() if t.kind == "weight" and n not in helper_only]
    inits = []
    for n in weights:
        proto = plan.weights.get(n) or graph.initializers.get(stored_source[n])
        if proto is None:
            raise CompilerError(f"plan '{plan.model}': weight '{n}' has no initializer")
        copy = onnx.TensorProto()
        copy.CopyFrom(proto)
        copy.name = n
        inits.append(copy)
    outputs = []
    for n in plan.outputs:  # the model's own output names, so a caller sees the outputs it expects
        src = stored_source[n]
        if src != n:
            nodes.append(helper.make_node("Identity", [n], [src], name=f"output_{src}"))
        outputs.append(helper.make_tensor_value_info(src, graph.tensor(src).elem_type, list(plan.tensors[n].shape)))
    written = {o for s in plan.steps if not _is_helper(s) for o in s.outputs}
    value_info = [vi(n) for n in plan.tensors if n in written and n not in {o.name for o in outputs}]
    gp = helper.make_graph(nodes, f"{graph.name} ({plan.policy})", [vi(n) for n in plan.inputs], outputs,
                           initializer=inits, value_info=value_info)
    opset_ids = [helper.make_opsetid(d, v) for d, v in sorted(opsets.items())]
    opset_ids.append(helper.make_opsetid(DOMAIN, DOMAIN_VERSION))
    model = helper.make_model(gp, opset_imports=opset_ids, functions=functions, producer_name="smartmem-sim")
    model.ir_version = max(graph.ir_version, helper.find_min_ir_version_for(opset_ids, ignore_unknown=True), 8)
    for key, value in sorted({**graph.metadata, **(metadata or {})}.items()):
        p = model.metadata_props.add()
        p.key, p.value = key, str(value)
    return model


def _step_attributes(plan: Plan, step: Step, launches: list[dict]) -> list[onnx.AttributeProto]:
    ins = []
    for i, o in enumerate(step.inputs):
        if o is None:
            continue
        ins.append(f"input {i} '{o.tensor}': {describe_layout(plan.tensors[o.tensor].layout)}")
    for e in step.epilogue:
        for o in e.operands:
            ins.append(f"{e.op_type} operand '{o.tensor}': {describe_layout(plan.tensors[o.tensor].layout)}")
    outs = [f"output '{n}': {describe_layout(plan.tensors[n].layout)}" for n in step.outputs]
    maps = [f"input {i} '{o.tensor}': {o.index_map}" + (f" (folds {', '.join(o.absorbed)})" if o.absorbed else "")
            for i, o in enumerate(step.inputs) if o is not None]
    maps += [f"output {i}: {m}" for i, m in enumerate(step.output_maps) if m is not None]
    if step.absorbed_output:
        maps.append(f"output map folds {', '.join(step.absorbed_output)}")
    attrs = [_string_attr("input_layouts", ins), _string_attr("output_layouts", outs),
             _string_attr("index_maps", maps or ["identity"]),
             _string_attr("tile", [f"{step.tile[0]}x{step.tile[1]} output texels per work-item"])]
    if launches:
        attrs.append(_string_attr("work_size", [
            f"{k['kernel']}: global {'x'.join(map(str, k['global_size']))}, local {'x'.join(map(str, k['local_size']))}"
            for k in launches]))
    if step.epilogue:
        attrs.append(_string_attr("fused", [f"{e.op_type} ({e.node})" for e in step.epilogue]))
    if step.reason:
        attrs.append(_string_attr("reason", [step.reason]))
    return attrs


def _doc(plan: Plan, step: Step) -> str:
    what = "layout copy" if step.op_type == COPY else f"{step.op_type} kernel"
    return f"{what} {step.id} of plan {plan.model} ({plan.policy}); nodes: {', '.join(step.nodes) or '-'}"
