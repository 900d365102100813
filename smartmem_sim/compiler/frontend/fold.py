"""Constant folding of shape logic, Constant/Identity/Dropout removal, dead-code elimination.

What folds: a standard-domain node whose inputs are all constants (initializers with data; a stripped
weight never counts as a constant, so folding never needs weight data), whose op is deterministic and
has no subgraph, and whose outputs hold at most ``FOLD_MAX_ELEMENTS`` elements each; plus ``Shape`` and
``Size`` of any tensor whose shape is static, and ``CastLike`` of a constant (only the other input's
dtype matters). Values are computed by onnx's reference evaluator, one
node at a time. Folding repeats with fresh shape inference until nothing changes, so a chain
Shape -> Gather -> Unsqueeze -> Concat -> Reshape collapses into a Reshape with a constant shape.

With stripped weights (structure-only models) a node computing on constants of which some are stripped
folds into stripped outputs of the inferred shape and dtype, so the stripped and the full model clean to
the same graph (the values are random after materialize_weights either way).

The size limit keeps a folded model close to the original in size: a ConstantOfShape that generates a
large weight tensor (as the old Caffe2-converted models in onnx's test data do) stays a node.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smartmem_sim.compiler.frontend import shapes as shape_mod
from smartmem_sim.compiler.frontend.opset import STANDARD_DOMAINS, default_opset
from smartmem_sim.compiler.frontend.skeleton import numel
from smartmem_sim.compiler.ir import is_stripped_initializer

FOLD_MAX_ELEMENTS = 1 << 20
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                     "Multinomial", "Bernoulli"}
_MAX_ROUNDS = 50


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Turn every top-level Constant node into an initializer; returns how many."""
    g = model.graph
    keep, count = [], 0
    for node in g.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            g.initializer.append(_constant_value(node, default_opset(model)))
            count += 1
        else:
            keep.append(node)
    _set_nodes(g, keep)
    return count


def _constant_value(node: onnx.NodeProto, opset: int) -> onnx.TensorProto:
    attr = node.attribute[0]
    name = node.output[0]
    if attr.name == "value":
        t = onnx.TensorProto()
        t.CopyFrom(attr.t)
        t.name = name
        return t
    value = helper.get_attribute_value(attr)
    if attr.name == "value_float":
        arr = np.array(value, dtype=np.float32)
    elif attr.name == "value_floats":
        arr = np.array(value, dtype=np.float32).reshape(-1)
    elif attr.name == "value_int":
        arr = np.array(value, dtype=np.int64)
    elif attr.name == "value_ints":
        arr = np.array(value, dtype=np.int64).reshape(-1)
    else:  # strings and sparse tensors: let the reference implementation decode them
        from onnx.reference import ReferenceEvaluator

        arr = np.asarray(ReferenceEvaluator(node, opsets={"": opset}).run(None, {})[0])
    return numpy_helper.from_array(arr, name)


def remove_identities(model: onnx.ModelProto) -> int:
    """Remove Identity nodes, and Dropout nodes in inference mode whose mask is unused."""
    g = model.graph
    graph_outputs = {o.name for o in g.output}
    graph_inputs = {i.name for i in g.input} | {t.name for t in g.initializer}
    inits = {t.name: t for t in g.initializer}
    removed = 0
    for node in list(g.node):
        if not _is_identity(node, inits, g):
            continue
        src, dst = node.input[0], node.output[0]
        if dst in graph_outputs:
            if src in graph_inputs or src in graph_outputs:
                continue  # an output that is an input passed through: Identity is the only way to say it
            _rename(g, src, dst)  # the producer of src writes the output name directly
        else:
            _rename(g, dst, src)
        g.node.remove(node)
        removed += 1
    return removed


def _is_identity(node: onnx.NodeProto, inits, g: onnx.GraphProto) -> bool:
    if node.domain not in STANDARD_DOMAINS:
        return False
    if node.op_type == "Identity":
        return True
    if node.op_type != "Dropout":
        return False
    if len(node.output) > 1 and node.output[1] and any(node.output[1] in n.input for n in g.node):
        return False
    if any(o.name in node.output[1:] for o in g.output):
        return False
    if len(node.input) >= 3 and node.input[2]:
        mode = inits.get(node.input[2])
        return mode is not None and not bool(numpy_helper.to_array(mode))
    return True


def _rename(g: onnx.GraphProto, old: str, new: str) -> None:
    for node in g.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


def fold_constants(model: onnx.ModelProto) -> int:
    """Fold as described in the module docstring, repeating to a fixed point; returns nodes folded."""
    g = model.graph
    opset = default_opset(model)
    total = 0
    for _ in range(_MAX_ROUNDS):
        known = shape_mod.infer(model)
        consts = {t.name: t for t in g.initializer if not is_stripped_initializer(t)}
        stripped = {t.name for t in g.initializer if is_stripped_initializer(t)}
        values: dict[str, np.ndarray] = {}
        keep, folded = [], 0
        for node in g.node:
            placeholders = _fold_stripped(node, known, consts, stripped)
            if placeholders is not None:
                g.initializer.extend(placeholders)
                stripped.update(t.name for t in placeholders)
                folded += 1
                continue
            out = _try_fold(node, known, consts, values, opset)
            if out is None:
                keep.append(node)
                continue
            for name, arr in zip(node.output, out, strict=False):
                if name:
                    t = numpy_helper.from_array(np.asarray(arr), name)
                    g.initializer.append(t)
                    consts[name] = t
                    values[name] = np.asarray(arr)
            folded += 1
        _set_nodes(g, keep)
        total += folded
        if not folded:
            break
    return total


def _foldable_op(node) -> bool:
    if node.domain not in STANDARD_DOMAINS or node.op_type in _NONDETERMINISTIC:
        return False
    return not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _fold_stripped(node, known, consts, stripped) -> list[onnx.TensorProto] | None:
    """A node computing on constants of which some are stripped folds into stripped outputs (shape and
    dtype from inference, no data), so a structure-only model cleans to the same graph as the full one."""
    ins = [i for i in node.input if i]
    if not ins or not any(i in stripped for i in ins) or not all(i in consts or i in stripped for i in ins):
        return None
    if not _foldable_op(node):
        return None
    outs = []
    for o in node.output:
        if not o:
            continue
        shape, elem = known.get(o, (None, 0))
        if shape is None or not elem or numel(shape) > FOLD_MAX_ELEMENTS or numel(shape) == 0:
            return None
        if not np.issubdtype(helper.tensor_dtype_to_np_dtype(elem), np.floating):
            return None  # integer tensors are never stripped (they may be shape logic)
        outs.append(onnx.TensorProto(name=o, data_type=elem, dims=list(shape)))
    return outs


def _try_fold(node, known, consts, values, opset):
    if not _foldable_op(node):
        return None
    if node.op_type in ("Shape", "Size"):
        shape = known.get(node.input[0], (None, 0))[0]
        if shape is None:
            return None
        if node.op_type == "Size":
            return [np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)]
        start = helper.get_attribute_value(_attr(node, "start")) if _attr(node, "start") else 0
        end = helper.get_attribute_value(_attr(node, "end")) if _attr(node, "end") else None
        return [np.array(shape[start:end], dtype=np.int64)]
    if node.op_type == "CastLike" and node.input[0] in consts and known.get(node.input[1], (None, 0))[1]:
        # only the dtype of the second input matters, and shape inference knows it
        node = helper.make_node("Cast", [node.input[0]], list(node.output), to=known[node.input[1]][1])
    inputs = [i for i in node.input if i]
    if not all(i in consts for i in inputs):
        return None
    if not inputs and node.op_type != "EyeLike":
        return None
    for o in node.output:
        shape = known.get(o, (None, 0))[0] if o else None
        if shape is not None and numel(shape) > FOLD_MAX_ELEMENTS:
            return None
    feeds = {}
    for i in inputs:
        if i not in values:
            values[i] = numpy_helper.to_array(consts[i])
        feeds[i] = values[i]
    from onnx.reference import ReferenceEvaluator

    try:
        results = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
    except Exception:  # the reference lacks this op or these dtypes: keep the node, it stays correct
        return None
    out = []
    for o, r in zip(node.output, results, strict=False):
        arr = np.asarray(r)
        if arr.size > FOLD_MAX_ELEMENTS:
            return None
        elem = known.get(o, (None, 0))[1] if o else 0
        if elem:
            arr = arr.astype(helper.tensor_dtype_to_np_dtype(elem), copy=False)
        out.append(arr)
    return out


def _attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def eliminate_dead_code(model: onnx.ModelProto) -> int:
    """Drop nodes none of whose outputs reach a graph output, and unused initializers."""
    g = model.graph
    live = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in live for o in node.output if o):
            keep.append(node)
            live.update(i for i in node.input if i)
            live.update(_subgraph_inputs(node))
    removed = len(g.node) - len(keep)
    _set_nodes(g, list(reversed(keep)))
    # Delete in place, back to front: rebuilding the list would copy every weight.
    for i in reversed([i for i, t in enumerate(g.initializer) if t.name not in live]):
        del g.initializer[i]
    return removed


def _subgraph_inputs(node):
    """Names an If/Loop/Scan body reads from the enclosing scope (over-approximated: every input)."""
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for sub in graphs:
            for n in sub.node:
                yield from (i for i in n.input if i)
                yield from _subgraph_inputs(n)


def _set_nodes(g: onnx.GraphProto, nodes) -> None:
    nodes = list(nodes)
    del g.node[:]
    g.node.extend(nodes)
