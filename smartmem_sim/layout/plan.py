"""The Plan: what a policy decided for a model, in a form that kernels, the simulator and the numpy
reference evaluator all execute. It is the one interface between compiler/ and kernels/.

A plan is a list of :class:`Step` s in execution order. Each step runs one kernel: a kept operator
(with any element-wise operators fused into it as an :class:`Epilogue`), or an explicit copy
(a layout operator the policy executes, or a conversion between two layouts of one tensor).

Tensors that exist in memory are :class:`StoredTensor` s: a logical shape and a layout on 2.5D memory
(``smartmem_sim.layout.image.ImageLayout`` for an image2d of RGBA texels, ``BufferLayout`` for a linear
buffer). A step reads a stored tensor through an :class:`Operand`, whose ``index_map`` takes the
coordinates of the operand *as the operator sees it* to the coordinates of the stored tensor: this is
where eliminated Reshape/Transpose chains live (identity when nothing was absorbed). A step whose
result is written through an eliminated chain has an ``output_map`` (operator's output coordinates ->
stored tensor coordinates, the chain's *forward* map).

Reading a step::

    for op in step.inputs:             # the operator's inputs, in ONNX input order
        stored = plan.tensors[op.tensor]
        # value at operand coords c == stored tensor at op.index_map(c); its storage address is
        # stored.layout.address_exprs(op.index_map.exprs) -> (x, y, lane) or (offset,)

Every decision is kept with its reason (``Step.reason``, ``Plan.decisions``) so that
``smartmem explain`` and the per-op reports can say why a transform survived.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import onnx

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout
from smartmem_sim.layout.maps import IndexMap

TensorKind = Literal["input", "output", "intermediate", "weight"]
STORAGE_TYPES = ("fp16", "fp32")

# Step.op_type for kernels that are not an ONNX operator of the model.
COPY = "Copy"  # materializes a layout operator or converts between layouts: out[c] = in[index_map(c)]


@dataclass(frozen=True)
class StoredTensor:
    """A tensor that exists in device memory with one layout (a tensor kept in two layouts is two
    stored tensors, named ``<tensor>`` and ``<tensor>@<layout name>``)."""

    name: str
    shape: tuple[int, ...]
    layout: TensorLayout
    kind: TensorKind = "intermediate"
    dtype: str = "float32"  # logical element type; storage precision is Plan.storage
    source: str = ""  # the IR tensor it holds (== name unless this is an extra copy)

    def __post_init__(self) -> None:
        if tuple(self.layout.shape) != tuple(self.shape):
            raise LayoutError(f"plan: tensor '{self.name}' has shape {self.shape} but its layout "
                                f"'{self.layout.name}' is for {tuple(self.layout.shape)}")

    @property
    def on_image(self) -> bool:
        return isinstance(self.layout, ImageLayout)


@dataclass(frozen=True)
class Operand:
    """One input of a step: the stored tensor it reads and how the operator's coordinates map into it."""

    tensor: str
    index_map: IndexMap  # operand coords (src_shape = operand shape) -> stored coords (dst_shape)
    absorbed: tuple[str, ...] = ()  # IR node ids of layout operators folded into index_map

    @property
    def shape(self) -> tuple[int, ...]:
        """The operand's shape as the operator sees it."""
        return tuple(self.index_map.src_shape)


@dataclass(frozen=True)
class Epilogue:
    """An element-wise operator fused after a step's main operator: out = op(out, *operands)."""

    node: str  # IR node id
    op_type: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    operands: tuple[Operand, ...] = ()  # extra inputs (e.g. a bias), broadcast to the output shape
    result_first: bool = True  # False when the fused result is the op's second input (e.g. Sub(b, out))


@dataclass(frozen=True)
class Step:
    """One kernel launch."""

    id: str
    op_type: str  # ONNX op type of the main operator, or COPY
    nodes: tuple[str, ...]  # IR node ids this kernel implements (main operator first, then epilogues)
    inputs: tuple[Operand | None, ...]  # None: an omitted optional ONNX input (e.g. Resize's roi)
    outputs: tuple[str, ...]  # stored tensors written
    attrs: Mapping[str, Any] = field(default_factory=dict)  # decoded ONNX attributes of the main operator
    output_maps: tuple[IndexMap | None, ...] = ()  # per output: op coords -> stored coords (None: identity)
    epilogue: tuple[Epilogue, ...] = ()
    reason: str = ""  # why this kernel exists (for COPY: why the transform survived)
    absorbed_output: tuple[str, ...] = ()  # IR node ids of layout operators folded into output_maps
    # output texels per work-item (x, y) of the step's kernels: MatMul/Gemm, Conv and row reductions (kernels/ops/program.py)
    tile: tuple[int, int] = (1, 1)

    def output_map(self, i: int = 0) -> IndexMap | None:
        return self.output_maps[i] if i < len(self.output_maps) else None


@dataclass(frozen=True)
class EdgeDecision:
    """What a policy did on one producer -> consumer edge of the IR."""

    producer: str
    consumer: str
    tensor: str
    producer_group: str  # e.g. "ILD&Var"
    consumer_group: str
    action: str  # e.g. "keep both", "fuse", "eliminate 2nd", "eliminate both", "copy", "convert"
    reason: str


@dataclass
class Plan:
    model: str
    policy: str
    storage: str  # "fp16" or "fp32": element type of images and buffers in device memory
    tensors: dict[str, StoredTensor]
    steps: list[Step]
    inputs: list[str]  # stored tensors the caller provides, in model input order
    outputs: list[str]  # stored tensors holding the model outputs, in model output order
    decisions: list[EdgeDecision] = field(default_factory=list)
    # initializer protos of the "weight" stored tensors (a structure-only model's have dims, no data)
    weights: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.storage not in STORAGE_TYPES:
            raise LayoutError(f"plan for '{self.model}': storage '{self.storage}' is not one of {STORAGE_TYPES}")

    def validate(self) -> None:
        """Every operand names a stored tensor that an earlier step (or the caller, or a weight) wrote,
        with matching shapes; raise LayoutError naming the step otherwise."""
        ready = {n for n, t in self.tensors.items() if t.kind in ("input", "weight")}
        for step in self.steps:
            for op in list(step.inputs) + [o for e in step.epilogue for o in e.operands]:
                if op is None:
                    continue
                if op.tensor not in self.tensors:
                    raise LayoutError(f"plan '{self.model}': step '{step.id}' reads unknown tensor '{op.tensor}'")
                if op.tensor not in ready:
                    raise LayoutError(f"plan '{self.model}': step '{step.id}' reads '{op.tensor}' before it is written")
                stored = self.tensors[op.tensor].shape
                if tuple(op.index_map.dst_shape) != stored:
                    raise LayoutError(f"plan '{self.model}': step '{step.id}' maps into {op.index_map.dst_shape} "
                                        f"but '{op.tensor}' is stored as {stored}")
            for out in step.outputs:
                if out not in self.tensors:
                    raise LayoutError(f"plan '{self.model}': step '{step.id}' writes unknown tensor '{out}'")
                ready.add(out)
        missing = [o for o in self.outputs if o not in ready]
        if missing:
            raise LayoutError(f"plan '{self.model}': outputs {missing} are never written")

    # ------------------------------------------------------------------ reporting

    def count(self, op_type: str | None = None) -> int:
        """Kernels in the plan (of one op type when given)."""
        return sum(1 for s in self.steps if op_type is None or s.op_type == op_type)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (layouts and maps as text)."""

        def layout(t: TensorLayout) -> dict[str, Any]:
            if isinstance(t, ImageLayout):
                return {"kind": "image", "name": t.name, "width_dims": list(t.width_dims),
                        "height_dims": list(t.height_dims), "lane_dim": t.lane_dim,
                        "width": t.width, "height": t.height}
            if isinstance(t, BufferLayout):
                return {"kind": "buffer", "name": t.name, "order": list(getattr(t, "order", []) or [])}
            return {"kind": type(t).__name__, "name": t.name}

        def operand(o: Operand | None) -> dict[str, Any] | None:
            if o is None:
                return None
            return {"tensor": o.tensor, "map": str(o.index_map), "absorbed": list(o.absorbed)}

        return {
            "model": self.model,
            "policy": self.policy,
            "storage": self.storage,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "tensors": {n: {"shape": list(t.shape), "kind": t.kind, "source": t.source or n, "layout": layout(t.layout)}
                        for n, t in self.tensors.items()},
            "steps": [{"id": s.id, "op_type": s.op_type, "nodes": list(s.nodes),
                       "inputs": [operand(o) for o in s.inputs], "outputs": list(s.outputs),
                       "output_maps": [None if m is None else str(m) for m in s.output_maps],
                       "epilogue": [{"node": e.node, "op_type": e.op_type,
                                     "operands": [operand(o) for o in e.operands]} for e in s.epilogue],
                       "reason": s.reason, **({"tile": list(s.tile)} if tuple(s.tile) != (1, 1) else {})}
                      for s in self.steps],
            "decisions": [vars(d) for d in self.decisions],
        }

    def digest(self) -> str:
        """A content hash of the plan (for caching results by plan)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity_operand(tensor: str, shape: Sequence[int]) -> Operand:
    """An operand that reads a stored tensor as it is."""
    return Operand(tensor, IndexMap.identity(tuple(shape)))


def is_stripped_initializer(t: onnx.TensorProto) -> bool:
    """An initializer with a shape but no data (and not external): a structure-only weight."""
    n = int(np.prod(t.dims, dtype=np.int64)) if len(t.dims) else 1
    if n == 0 or t.data_location == onnx.TensorProto.EXTERNAL:
        return False
    # HasField, not len(raw_data): reading raw_data copies the bytes, which is slow for big weights.
    has = (t.HasField("raw_data") or len(t.float_data) or len(t.int32_data) or len(t.int64_data)
           or len(t.double_data) or len(t.uint64_data) or len(t.string_data))
    return not has
