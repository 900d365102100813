"""What a graph contains: op histogram, layout-transformation operators, parameters, MACs, tensor sizes.

Definitions (reports and the paper comparison rest on them):

* constant tensor: an initializer, or the output of a node all of whose inputs are constant (e.g. a
  ConstantOfShape that generates a weight). Everything else is an activation.
* layout-transformation operator: an operator that only moves elements, applied to an activation:
  - always: Reshape, Transpose, Flatten, Squeeze, Unsqueeze, DepthToSpace, SpaceToDepth;
  - Gather when its data is an activation and its indices are constant (a static selection such as
    ``qkv[0]``; an embedding lookup, constant table with activation indices, is not);
  - Slice when its data is an activation and starts/ends/axes/steps are constant;
  - Concat and Split when at least one data operand is an activation.
  The same operators on constants are folded away by the front end or are weight preprocessing.
* parameters: elements of floating-point constant tensors that non-constant nodes read (weights,
  biases, folded float constants such as attention masks); integer constants are reported separately.
* MACs (multiply-accumulates, one per multiply-add):
  - Conv: output elements x (input channels per group x kernel elements) = numel(Y) * prod(W.shape[1:]);
  - ConvTranspose: input elements x prod(W.shape[1:]) (each input element scatters into
    Cout/group x kernel outputs);
  - MatMul: numel(Y) x K (K = the reduced dim; batched MatMul counts every batch). A MatMul with a
    constant operand is a linear layer (``matmul_weight``); with two activations it is attention-like
    (``matmul_activation``: Q@K^T, P@V);
  - Gemm: numel(Y) x K.
  Element-wise ops, normalizations, softmax and pooling are not counted.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from smartmem_sim.compiler.ir import Graph, Node

ALWAYS_LAYOUT = frozenset({"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "DepthToSpace",
                           "SpaceToDepth"})
CONDITIONAL_LAYOUT = frozenset({"Gather", "Slice", "Concat", "Split"})


def constant_tensors(g: Graph) -> set[str]:
    """Initializers plus outputs of nodes whose inputs are all constant (see module docstring)."""
    const = set(g.initializers)
    for node in g.nodes():
        ins = [i for i in node.inputs if i]
        if ins and all(i in const for i in ins):
            const.update(o for o in node.outputs if o)
    return const


def is_layout_transform(g: Graph, node: Node, const: set[str] | None = None) -> bool:
    """The rule of the module docstring."""
    if node.domain:
        return False
    const = constant_tensors(g) if const is None else const
    ins = [i for i in node.inputs if i]
    if not ins:
        return False
    op = node.op_type
    if op in ALWAYS_LAYOUT:
        return ins[0] not in const
    if op == "Gather":
        return ins[0] not in const and len(ins) > 1 and ins[1] in const
    if op == "Slice":
        return ins[0] not in const and all(i in const for i in ins[1:])
    if op == "Concat":
        return any(i not in const for i in ins)
    if op == "Split":
        return ins[0] not in const
    return False


def op_histogram(g: Graph) -> dict[str, int]:
    """Op type -> count, most frequent first (ties by name)."""
    counts = Counter(g.op_types())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def layout_transforms(g: Graph) -> dict[str, object]:
    const = constant_tensors(g)
    by_op: Counter[str] = Counter()
    nodes: list[str] = []
    for node in g.nodes():
        if is_layout_transform(g, node, const):
            by_op[node.op_type] += 1
            nodes.append(node.id)
    return {"total": len(nodes), "by_op": dict(sorted(by_op.items())), "nodes": nodes}


def node_macs(g: Graph, node: Node, const: set[str]) -> tuple[str, int] | None:
    """(category, MACs) for a compute node, None for ops that are not counted."""
    op = node.op_type
    if node.domain or op not in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
        return None
    y = g.tensor(node.outputs[0])
    a = g.tensor(node.inputs[0])
    b = g.tensor(node.inputs[1])
    if op == "Conv":
        return "conv", y.size * _prod(b.shape[1:])
    if op == "ConvTranspose":
        return "conv_transpose", a.size * _prod(b.shape[1:])
    if op == "MatMul":
        k = a.shape[-1]
        kind = "matmul_weight" if (node.inputs[0] in const or node.inputs[1] in const) else "matmul_activation"
        return kind, y.size * k
    k = a.shape[0] if node.attr("transA", 0) else a.shape[1]
    return "gemm", y.size * k


def macs(g: Graph) -> dict[str, int]:
    const = constant_tensors(g)
    out = {"conv": 0, "conv_transpose": 0, "matmul_weight": 0, "matmul_activation": 0, "gemm": 0}
    for node in g.nodes():
        r = node_macs(g, node, const)
        if r is not None:
            out[r[0]] += r[1]
    out["total"] = sum(out.values())
    return out


def parameters(g: Graph) -> dict[str, int]:
    const = constant_tensors(g)
    read = set()
    for node in g.nodes():
        ins = [i for i in node.inputs if i]
        if any(i not in const for i in ins) or not ins:
            read.update(i for i in ins if i in const)
    read.update(o for o in g.outputs if o in const)
    floats = ints = float_bytes = 0
    for name in sorted(read):
        t = g.tensor(name)
        if np.issubdtype(t.dtype, np.floating):
            floats += t.size
            float_bytes += t.nbytes
        else:
            ints += t.size
    return {"parameters": floats, "parameter_bytes": float_bytes, "constant_int_elements": ints}


def tensor_sizes(g: Graph) -> dict[str, object]:
    const = constant_tensors(g)
    acts = [g.tensor(t) for t in g.inputs]
    acts += [g.tensor(o) for n in g.nodes() for o in n.outputs if o and o not in const]
    largest = max(acts, key=lambda t: (t.nbytes, t.name), default=None)
    return {
        "activation_count": len(acts),
        "activation_bytes": int(sum(t.nbytes for t in acts)),
        "largest": None if largest is None else {
            "name": largest.name, "shape": list(largest.shape), "dtype": str(largest.dtype),
            "bytes": largest.nbytes, "producer": g.producer(largest.name),
        },
    }


def _prod(dims) -> int:
    return int(np.prod(dims, dtype=np.int64)) if len(dims) else 1
