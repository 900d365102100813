"""A numpy reference evaluator of a Plan: the independent path that proves a policy's decisions
(eliminated chains, fused epilogues, output maps, copies, conversions) preserve the model's
semantics. It never calls onnxruntime.

Execution, step by step in plan order:

* stored tensors are held as logical numpy arrays (their shape, not their image);
* each operand is *gathered*: ``stored[index_map(c)]`` for every coordinate ``c`` of the operand's
  grid (``IndexMap.evaluate_grid``), so a folded Reshape/Transpose/Slice/Gather chain is executed
  exactly as the kernel's index arithmetic would;
* the operator runs on the gathered operands (onnx's reference implementation of one node,
  ``smartmem_sim.compiler.passes._onnx_node``; COPY is the gather itself), then each epilogue runs on the result
  and its own gathered operands (``result_first`` says the argument order);
* the result is *scattered* through the step's output map, which must hit every element of the
  stored tensor exactly once (a CompilerError otherwise).

``check_layouts=True`` also packs every written tensor into its layout (image texels or buffer
offsets), checks that no two elements share an address and unpacks it back unchanged: the
layout is injective and round-trips. With ``Plan.storage == "fp16"`` stored float tensors are
rounded to float16 (what device memory would hold); computation stays in the logical dtype.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from onnx import numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.ir import is_stripped_initializer
from smartmem_sim.compiler.passes._onnx_node import run_node
from smartmem_sim.layout.image import ImageLayout
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.plan import COPY, Operand, Plan, StoredTensor


def gather(stored: np.ndarray, index_map: IndexMap) -> np.ndarray:
    """Values of an operand: ``stored[index_map(c)]`` over the operand's grid."""
    if tuple(stored.shape) != tuple(index_map.dst_shape):
        raise CompilerError(f"reference: index map into {index_map.dst_shape} applied to an array of shape {stored.shape}")
    idx = index_map.evaluate_grid()
    return np.broadcast_to(stored[tuple(idx)] if idx else stored, index_map.src_shape).copy()


def scatter(values: np.ndarray, index_map: IndexMap, shape: Sequence[int], where: str) -> np.ndarray:
    """The stored tensor written by ``out[index_map(c)] = values[c]``; every element exactly once."""
    values = np.asarray(values)
    if tuple(values.shape) != tuple(index_map.src_shape):
        raise CompilerError(f"{where}: result of shape {values.shape} but the output map reads {index_map.src_shape}")
    idx = tuple(index_map.evaluate_grid())
    hits = np.zeros(tuple(shape), dtype=np.int64)
    np.add.at(hits, idx, 1)
    if not np.all(hits == 1):
        raise CompilerError(f"{where}: the output map {index_map} writes {int((hits == 0).sum())} elements never and "
                            f"{int((hits > 1).sum())} more than once; it must be a bijection")
    out = np.empty(tuple(shape), dtype=values.dtype)
    out[idx] = values
    return out


def check_layout(t: StoredTensor, value: np.ndarray) -> None:
    """Injective addresses and a pack/unpack round trip of ``value`` in ``t``'s layout."""
    grid = tuple(np.indices(t.shape, dtype=np.int64))
    addresses = t.layout.locate(grid) if t.shape else t.layout.locate(())
    flat = np.stack([np.asarray(a).reshape(-1) for a in addresses], axis=1)
    if len(np.unique(flat, axis=0)) != flat.shape[0]:
        raise CompilerError(f"reference: layout {t.layout.name} of '{t.name}' {t.shape} maps two elements to one address")
    if isinstance(t.layout, ImageLayout):
        back = t.layout.unpack(t.layout.pack(value))
        if not np.array_equal(back, value, equal_nan=value.dtype.kind == "f"):
            raise CompilerError(f"reference: layout {t.layout.name} of '{t.name}' does not round-trip its values")


class _Run:
    def __init__(self, plan: Plan, check_layouts: bool):
        self.plan = plan
        self.check_layouts = check_layouts
        self.values: dict[str, np.ndarray] = {}

    def put(self, name: str, value: np.ndarray) -> None:
        t = self.plan.tensors[name]
        value = np.asarray(value)
        if tuple(value.shape) != t.shape:
            raise CompilerError(f"reference: tensor '{name}' gets shape {value.shape}, its plan shape is {t.shape}")
        if np.dtype(t.dtype) != value.dtype:
            value = value.astype(t.dtype)
        if self.plan.storage == "fp16" and value.dtype.kind == "f":
            value = value.astype(np.float16).astype(value.dtype)
        if self.check_layouts:
            check_layout(t, value)
        self.values[name] = value

    def operand(self, op: Operand | None) -> np.ndarray | None:
        if op is None:
            return None
        return gather(self.values[op.tensor], op.index_map)

    def step(self, step) -> None:
        where = f"reference: step '{step.id}' ({step.op_type})"
        args = [self.operand(op) for op in step.inputs]
        if step.op_type == COPY:
            results = [args[0]]
        else:
            results = run_node(step.op_type, dict(step.attrs), args, len(step.outputs), where=where)
        for e in step.epilogue:
            extra = [self.operand(op) for op in e.operands]
            ins = [results[0], *extra] if e.result_first else [extra[0], results[0], *extra[1:]]
            results[0] = run_node(e.op_type, dict(e.attrs), ins, 1, where=f"{where} epilogue '{e.node}'")[0]
        for k, name in enumerate(step.outputs):
            m = step.output_map(k)
            value = results[k] if m is None else scatter(results[k], m, self.plan.tensors[name].shape, where)
            self.put(name, value)


def run_plan(plan: Plan, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], *,
             check_layouts: bool = False) -> list[np.ndarray]:
    """The plan's outputs (in ``plan.outputs`` order) for ``inputs`` (by input name, or in order)."""
    if not isinstance(inputs, Mapping):
        inputs = list(inputs)
        if len(inputs) != len(plan.inputs):
            raise CompilerError(f"reference: plan '{plan.model}' takes {len(plan.inputs)} inputs, got {len(inputs)}")
        inputs = dict(zip(plan.inputs, inputs, strict=False))
    missing = [n for n in plan.inputs if n not in inputs]
    if missing:
        raise CompilerError(f"reference: plan '{plan.model}' needs inputs {missing}")
    run = _Run(plan, check_layouts)
    for name in plan.inputs:
        run.put(name, inputs[name])
    for name, t in plan.tensors.items():
        if t.kind != "weight":
            continue
        proto = plan.weights.get(name)
        if proto is None or is_stripped_initializer(proto):
            raise CompilerError(f"reference: weight '{name}' of plan '{plan.model}' has no data; load the model with "
                                "weights (e.g. smartmem_sim.compiler.frontend.materialize_weights) before compiling")
        run.put(name, numpy_helper.to_array(proto))
    for step in plan.steps:
        run.step(step)
    return [run.values[name] for name in plan.outputs]
