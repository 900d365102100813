"""Pass 3: which element-wise nodes become epilogues of the kernel that computes their input.

An element-wise node N (families elementwise_unary / elementwise_nary) is fused into the kernel K
that is still computing one of its inputs t when

* t is pending in K: written by K's main operator, by an epilogue already fused into K, or by a
  layout operator folded forward into K's output map; and K is not a COPY;
* t has N as its only consumer, is not a graph output, and appears once among N's inputs;
* N's output has t's shape (N does not broadcast t), N has one output and no omitted inputs,
  and t is N's first input or N has exactly two inputs (``Epilogue.result_first``);
* every other input of N broadcasts to N's output with numpy rules (an epilogue operand is read at
  the output's coordinates), so ops whose extra inputs are parameters of another kind (Clip's
  scalar bounds, BatchNormalization's per-channel statistics, Quantize/DequantizeLinear's scales,
  Trilu's k) fuse only when they have no extra input;
* DNNFusion's mapping-type rule allows it (``smartmem_sim.compiler.edge_rules.can_fuse`` on K's accumulated
  mapping type and N's).

Inputs are tried in order; the first that qualifies wins. Only producer -> consumer (epilogue)
fusion is done: an element-wise producer is not fused into its consumer's prologue (the Plan has
no prologue), so those ILI&Var -> ILD&Var edges keep both kernels and say so.
Policies: naive fuses nothing; fusion and smartmem use the rules above.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartmem_sim.compiler.edge_rules import can_fuse, fusion_rule
from smartmem_sim.compiler.ir import Graph
from smartmem_sim.compiler.passes.classify import Classification
from smartmem_sim.compiler.passes.eliminate import Elimination


@dataclass(frozen=True)
class Fusion:
    node: str  # the element-wise node fused
    kernel: str  # node id of the kernel's main operator
    tensor: str  # the input of ``node`` that the kernel computes
    result_first: bool
    reason: str


@dataclass
class FusionPlan:
    fused: dict[str, Fusion]
    not_fused: dict[str, str]  # element-wise node id -> why it stays its own kernel


def plan_fusion(graph: Graph, cls: Classification, elim: dict[str, Elimination], policy: str) -> FusionPlan:
    plan = FusionPlan({}, {})
    if policy == "naive":
        for nid, info in cls.nodes.items():
            if info.is_elementwise:
                plan.not_fused[nid] = "naive (MNN-like): no fusion, every operator is its own kernel"
        return plan
    outputs = set(graph.outputs)
    kernel_of: dict[str, str] = {}  # pending tensor -> kernel root node id
    mapping = {}  # kernel root -> accumulated DNNFusion mapping type
    for nid in graph.topological_order():
        info = cls.nodes.get(nid)
        if info is None:
            continue
        node = graph.node(nid)
        if info.is_layout:
            e = elim[nid]
            if e.mode == "forward" and info.data_inputs[0] in kernel_of:
                kernel_of[node.outputs[0]] = kernel_of[info.data_inputs[0]]
            continue
        if info.is_elementwise:
            fusion, why = _try(graph, node, info, kernel_of, mapping, outputs)
            if fusion is not None:
                plan.fused[nid] = fusion
                kernel_of[node.outputs[0]] = fusion.kernel
                mapping[fusion.kernel] = fusion_rule(mapping[fusion.kernel], info.op_class.mapping).result
                continue
            plan.not_fused[nid] = why
        outs = [o for o in node.outputs if o]
        if len(outs) == 1:
            kernel_of[outs[0]] = nid
            mapping[nid] = info.op_class.mapping
    return plan


_PARAMETER_INPUTS = frozenset({"Clip", "BatchNormalization", "QuantizeLinear", "DequantizeLinear", "Trilu"})


def _broadcasts(shape, out_shape) -> bool:
    try:
        return tuple(np.broadcast_shapes(tuple(shape), tuple(out_shape))) == tuple(out_shape)
    except ValueError:
        return False


def _try(graph, node, info, kernel_of, mapping, outputs):
    if any(not t for t in node.inputs) or len([o for o in node.outputs if o]) != 1:
        return None, "not fused: has omitted inputs or several outputs"
    if node.op_type in _PARAMETER_INPUTS and len(node.inputs) > 1:
        return None, f"not fused: {node.op_type}'s extra inputs are parameters, not element-wise operands"
    out_shape = graph.tensor(node.outputs[0]).shape
    if not all(_broadcasts(graph.tensor(t).shape, out_shape) for t in node.inputs):
        return None, f"not fused: an input does not broadcast to the output shape {out_shape}"
    reasons = []
    for k, t in enumerate(node.inputs):
        if t not in kernel_of:
            continue
        kernel = kernel_of[t]
        if t in outputs:
            reasons.append(f"'{t}' is a graph output")
        elif graph.consumers(t) != [node.id] or node.inputs.count(t) != 1:
            reasons.append(f"'{t}' has other consumers")
        elif graph.tensor(t).shape != out_shape:
            reasons.append(f"'{t}' is broadcast to {out_shape}")
        elif k != 0 and len(node.inputs) != 2:
            reasons.append(f"'{t}' is input {k} of a {len(node.inputs)}-input op")
        elif any(kernel_of.get(o) == kernel for o in node.inputs if o != t):
            reasons.append(f"another input is computed by the same kernel '{kernel}'")
        else:
            check = can_fuse(mapping[kernel], info.op_class.mapping)
            if check.fusible:
                return Fusion(node.id, kernel, t, k == 0,
                              f"fused as an epilogue of kernel '{kernel}': {check.reason}"), ""
            reasons.append(check.reason)
    return None, "not fused: " + ("; ".join(reasons) if reasons else "no input is still being computed by a kernel "
                                  "that can take an epilogue (inputs come from copies, views, constants or graph inputs)")
