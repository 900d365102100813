"""Pass 5: the layout of every stored tensor.

Default layout (every policy; MNN-like): a float tensor of rank 4 (NCHW) is ``nc4hw4`` (width
ceil(C/4)*W, height N*H, channel in the RGBA lanes). Other ranks are padded to 4-D on the right
as MNN does for NCHW tensors ([C] -> [1, C, 1, 1], [N, C] -> [N, C, 1, 1], [N, C, H] -> [N, C, H, 1];
rank >= 5 merges the middle dims into H): dim 1 (dim 0 for rank 1) fills the lanes. Integer and
bool tensors and scalars live in linear buffers (images hold only float texels).

Reduction dimension of a reader (``reduction_dim``, in the operand's coordinates): MatMul A[..., M, K]
along K (last), B[..., K, N] along K (dim -2); Gemm by its trans flags; Conv / ConvTranspose /
pooling along C (dim 1; weights along their input-channel dim 1); Softmax, ArgMax, TopK, CumSum
along ``axis``; LayerNormalization and other normalizations along the last normalized dim; Reduce*
along the last reduced axis. Element-wise readers have none. Through an operand's index map a
reduction dim lands in the stored dim whose expression reads it (the innermost one if a Reshape
split it: that part varies fastest).

* weights (every policy): prepacked offline in the layout their readers' reduction dims prefer.
* naive: everything else stays default; where an operator reads a tensor along a dim that is not
  in the lanes, an implicit conversion COPY re-lays the tensor out first (MNN's implicit
  transforms; e.g. LayerNorm and MatMul on [B, N, C] tensors whose default lane dim is N). One
  conversion per (tensor, layout) serves every such reader.
* fusion: default layouts, no conversions (DNNFusion's generated kernels read the default layout
  in place; the cost of reading against the lanes shows up in the simulator, not as kernels).
* smartmem (the paper's heuristic): a tensor's producer writes the layout its readers' reduction
  dims prefer. Up to 2 distinct dims are served by one 2.5D layout: the most requested fills the
  RGBA lanes (and is the innermost x dim), the second is the innermost y dim, so both read
  contiguously in the 2-D texture cache; every further dim gets an extra copy in its own layout,
  written by a COPY right before its first reader. A rank-4 tensor read only along C keeps nc4hw4
  (its 2-D spatial locality serves Conv windows).
Images whose height would exceed 16384 texels (the usual image2d limit) move their outer dims
to the width.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from math import prod

import numpy as np
from onnx import numpy_helper

from smartmem_sim.compiler.groups import describe
from smartmem_sim.compiler.ir import is_stripped_initializer
from smartmem_sim.layout.expr import free_vars
from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout, nc4hw4
from smartmem_sim.layout.maps import IndexMap, default_names
from smartmem_sim.layout.plan import COPY, Operand, Plan, Step, StoredTensor

IMAGE_MAX = 16384  # texels per image axis (Adreno / Mali image2d limit)
_CHANNEL_OPS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                          "LpPool", "GlobalLpPool", "ConvInteger", "QLinearConv"})
_AXIS_OPS = frozenset({"Softmax", "LogSoftmax", "Hardmax", "ArgMax", "ArgMin", "TopK", "CumSum", "LpNormalization"})
_LAST_OPS = frozenset({"LayerNormalization", "RMSNormalization", "GroupNormalization", "InstanceNormalization",
                       "MeanVarianceNormalization", "LRN"})


def _is_image_dtype(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def default_layout(shape, dtype) -> TensorLayout:
    """The MNN-like default (module docstring)."""
    shape = tuple(int(d) for d in shape)
    rank = len(shape)
    if rank == 0 or not _is_image_dtype(dtype):
        return BufferLayout(shape)
    if rank == 4:
        return nc4hw4(shape)
    if rank == 1:
        return ImageLayout(shape, (0,), (), 0, "nc4hw4_r1")
    if rank == 2:
        return ImageLayout(shape, (1,), (0,), 1, "nc4hw4_r2")
    if rank == 3:
        return ImageLayout(shape, (1,), (0, 2), 1, "nc4hw4_r3")
    return ImageLayout(shape, (1, rank - 1), (0, *range(2, rank - 1)), 1, f"nc4hw4_r{rank}")


def reduction_layout(shape, dims) -> ImageLayout:
    """One image layout serving reads along ``dims`` (1 or 2 dims, most requested first)."""
    shape = tuple(shape)
    dims = list(dict.fromkeys(dims))[:2]
    if len(shape) == 4 and dims == [1]:
        return nc4hw4(shape)
    lane = dims[0]
    width = [lane]
    height = [d for d in range(len(shape)) if d not in dims] + dims[1:]
    while height[:-1] and prod(-(-shape[d] // 4) if d == lane else shape[d] for d in height) > IMAGE_MAX:
        width.insert(0, height.pop(0))  # outer dims move to x (they stay outside the lane dim)
    name = "red" + "_".join(str(d) for d in dims)
    return ImageLayout(shape, tuple(width), tuple(height), lane, name)


def _const_ints(plan: Plan, op: Operand | None):
    if op is None or op.tensor not in plan.weights:
        return None
    proto = plan.weights[op.tensor]
    if is_stripped_initializer(proto):
        return None
    return [int(v) for v in numpy_helper.to_array(proto).reshape(-1)]


def reduction_dim(plan: Plan, step: Step, pos: int) -> int | None:
    """The dim (operand coordinates) that ``step``'s operator reduces over in input ``pos``, or None."""
    op = step.inputs[pos]
    if op is None or step.op_type == COPY:
        return None
    rank = len(op.shape)
    if rank == 0:
        return None
    t, a = step.op_type, step.attrs
    if t in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        if pos == 0:
            return rank - 1
        return max(rank - 2, 0) if pos in (1, 3) else None
    if t == "Gemm":
        if pos == 0:
            return 0 if a.get("transA", 0) else 1
        return (1 if a.get("transB", 0) else 0) if pos == 1 else None
    if t in _CHANNEL_OPS:
        return 1 if pos in (0, 1) and rank >= 2 else None
    if pos != 0:
        return None
    if t in _AXIS_OPS:
        return int(a.get("axis", -1 if t in ("Softmax", "LogSoftmax", "Hardmax", "TopK", "LpNormalization") else 0)) % rank
    if t in _LAST_OPS:
        return rank - 1
    if t.startswith("Reduce"):
        axes = a.get("axes") or _const_ints(plan, step.inputs[1] if len(step.inputs) > 1 else None)
        return (int(axes[-1]) % rank) if axes else rank - 1
    return None


def stored_dim(index_map: IndexMap, dim: int) -> int | None:
    """The stored dim that operand dim ``dim`` lands in (innermost when split), None if none reads it."""
    name = index_map.variables[dim].name
    dims = [d for d, e in enumerate(index_map.exprs) if name in free_vars(e)]
    return dims[-1] if dims else None


def _preferences(plan: Plan) -> dict[str, list[tuple[int, int]]]:
    """tensor -> [(stored dim, step index)] for every reader with a reduction dim."""
    prefs: dict[str, list[tuple[int, int]]] = {}
    for i, step in enumerate(plan.steps):
        for pos, op in enumerate(step.inputs):
            r = reduction_dim(plan, step, pos)
            if r is None:
                continue
            d = stored_dim(op.index_map, r)
            if d is not None:
                prefs.setdefault(op.tensor, []).append((d, i))
    return prefs


def _ranked(entries: list[tuple[int, int]]) -> list[int]:
    counts = Counter(d for d, _ in entries)
    first = {}
    for d, i in entries:
        first.setdefault(d, i)
    return sorted(counts, key=lambda d: (-counts[d], first[d]))


def _relayout(plan: Plan, name: str, layout: TensorLayout) -> None:
    plan.tensors[name] = replace(plan.tensors[name], layout=layout)


def prepack_weights(plan: Plan) -> None:
    """Weights take the layout their readers prefer (offline, every policy)."""
    for name, dims in _preferences(plan).items():
        t = plan.tensors[name]
        if t.kind == "weight" and t.on_image:
            _relayout(plan, name, reduction_layout(t.shape, _ranked(dims)))


def _retarget(step: Step, pos: int, tensor: str) -> Step:
    inputs = list(step.inputs)
    inputs[pos] = replace(inputs[pos], tensor=tensor)
    return replace(step, inputs=tuple(inputs))


def _add_copies(plan: Plan, copies: dict[int, list[Step]]) -> None:
    steps: list[Step] = []
    for i, step in enumerate(plan.steps):
        steps.extend(copies.get(i, ()))
        steps.append(step)
    plan.steps = steps


def _copy_step(plan: Plan, src: StoredTensor, layout: TensorLayout, reason: str, name: str | None = None,
               step_id: str | None = None) -> tuple[str, Step]:
    """A new stored tensor holding ``src`` in ``layout`` (default name ``<src>@<layout>``) and the COPY step
    that fills it (default id ``copy_<name>``)."""
    name = name or f"{src.name}@{layout.name}"
    plan.tensors[name] = StoredTensor(name, src.shape, layout, "intermediate", src.dtype, src.source or src.name)
    op = Operand(src.name, IndexMap.identity(src.shape))
    return name, Step(step_id or f"copy_{name}", COPY, (), (op,), (name,), reason=reason)


def insert_conversions(plan: Plan) -> dict[tuple[str, str], str]:
    """naive: an implicit conversion wherever a reader's reduction dim is not in the lanes.
    Returns {(step id, tensor): reason} for the edge decisions."""
    made: dict[tuple[str, str], str] = {}
    copies: dict[int, list[Step]] = {}
    notes: dict[tuple[str, str], str] = {}
    for i, step in enumerate(list(plan.steps)):
        for pos, op in enumerate(step.inputs):
            r = reduction_dim(plan, step, pos)
            if r is None:
                continue
            t = plan.tensors[op.tensor]
            d = stored_dim(op.index_map, r)
            if t.kind == "weight" or not isinstance(t.layout, ImageLayout) or d is None or t.layout.lane_dim == d:
                continue
            layout = reduction_layout(t.shape, [d])
            key = (t.name, layout.name)
            reason = (f"naive (MNN-like): {step.op_type} '{step.id}' reduces over dim {d} of '{t.name}', but its "
                      f"default layout {t.layout.name} packs dim {t.layout.lane_dim} into the RGBA lanes; an implicit "
                      f"conversion to {layout.name} runs first")
            if key not in made:
                made[key], cp = _copy_step(plan, t, layout, reason)
                copies.setdefault(i, []).append(cp)
            plan.steps[i] = step = _retarget(step, pos, made[key])
            notes[(step.id, t.name)] = reason
    _add_copies(plan, copies)
    return notes


def select_layouts(plan: Plan) -> dict[tuple[str, str], str]:
    """smartmem: the reduction-dimension heuristic with extra copies beyond 2 dims (module docstring).
    Returns {(step id, tensor): reason} for readers served by an extra copy."""
    notes: dict[tuple[str, str], str] = {}
    copies: dict[int, list[Step]] = {}
    prefs = _preferences(plan)
    for name, entries in prefs.items():
        t = plan.tensors[name]
        if t.kind == "weight" or not t.on_image:
            continue
        ranked = _ranked(entries)
        _relayout(plan, name, reduction_layout(t.shape, ranked[:2]))
        for d in ranked[2:]:
            readers = sorted({i for dd, i in entries if dd == d})
            reason = (f"extra copy: '{name}' is read along {len(ranked)} different reduction dims {ranked}; one 2.5D "
                      f"layout serves 2 (lanes + one texture axis), so dim {d} gets its own copy")
            copy_name, cp = _copy_step(plan, plan.tensors[name], reduction_layout(t.shape, [d]), reason)
            copies.setdefault(readers[0], []).append(cp)
            for i in readers:
                step = plan.steps[i]
                for pos, op in enumerate(step.inputs):
                    if op is not None and op.tensor == name and reduction_dim(plan, step, pos) is not None \
                            and stored_dim(op.index_map, reduction_dim(plan, step, pos)) == d:
                        step = _retarget(step, pos, copy_name)
                        notes[(step.id, name)] = reason
                plan.steps[i] = step
    _add_copies(plan, copies)
    return notes


def within_image_limit(layout: TensorLayout) -> bool:
    """Whether ``layout`` is a buffer or an image within IMAGE_MAX texels along both axes."""
    return not isinstance(layout, ImageLayout) or (layout.width <= IMAGE_MAX and layout.height <= IMAGE_MAX)


def fit_image_limits(plan: Plan) -> dict[tuple[str, str], str]:
    """Every image wider or taller than IMAGE_MAX texels becomes a row-major buffer (every policy: no mobile
    GPU could allocate it, and a simulation of it would price an impossible plan). The layout heuristics
    keep images within the limit where they can; a lane dim of over 65536 elements or a 2-D weight taller
    than the limit cannot be. Returns {(step id, tensor): reason}, keyed by the step that writes the tensor
    or, for inputs and weights, its first reader."""
    notes: dict[tuple[str, str], str] = {}
    for name, t in plan.tensors.items():
        lay = t.layout
        if within_image_limit(lay):
            continue
        _relayout(plan, name, BufferLayout(tuple(t.shape), None, "linear"))
        step = next((s for s in plan.steps if name in s.outputs), None) or next(
            (s for s in plan.steps if any(op is not None and op.tensor == name for op in s.inputs)), None)
        if step is not None:
            notes[(step.id, name)] = (f"'{name}' as image {lay.name} would be {lay.width}x{lay.height} texels, past "
                                      f"the {IMAGE_MAX}-texel image2d limit: stored as a linear buffer")
    return notes


def _signature(layout: TensorLayout, m: IndexMap) -> tuple[str, ...]:
    m = m.rename(default_names(len(m.src_shape), "c"))
    return tuple(str(e) for e in layout.address_of(m))


def group_changes(plan: Plan, families: dict[str, str]) -> dict[str, str]:
    """Add-like nodes (families elementwise_nary, concat) whose activation inputs end up stored in
    different layouts (different addresses for the same operator coordinates): node id -> reason.
    ``families`` maps node id -> family name."""
    out: dict[str, str] = {}
    nary = ("elementwise_nary", "concat")

    def check(node: str, sigs: list[tuple[str, tuple[str, ...]]]) -> None:
        if len({s for _, s in sigs}) > 1:
            group = describe(plan_op[node], inputs_share_layout=False).group
            names = ", ".join(n for n, _ in sigs)
            out[node] = (f"inputs {names} end up in different layouts (their addresses differ at the same "
                         f"coordinates), so the op reads one of them against its storage order: {group}")

    plan_op: dict[str, str] = {}
    for step in plan.steps:
        if step.op_type == COPY:
            continue
        main = step.nodes[0] if step.nodes else None
        if main is not None and families.get(main) in nary:
            plan_op[main] = step.op_type
            full = [op for op in step.inputs if op is not None and plan.tensors[op.tensor].kind != "weight"]
            shapes = {op.shape for op in full}
            if len(shapes) == 1:
                check(main, [(op.tensor, _signature(plan.tensors[op.tensor].layout, op.index_map)) for op in full])
        out_t = plan.tensors[step.outputs[0]]
        op_shape = tuple(step.output_map(0).src_shape) if step.output_map(0) is not None else out_t.shape
        result = (step.outputs[0], _signature(out_t.layout, step.output_map(0) or IndexMap.identity(op_shape)))
        for e in step.epilogue:
            if families.get(e.node) not in nary:
                continue
            plan_op[e.node] = e.op_type
            sigs = [result] + [(op.tensor, _signature(plan.tensors[op.tensor].layout, op.index_map))
                               for op in e.operands if plan.tensors[op.tensor].kind != "weight"
                               and prod(plan.tensors[op.tensor].shape) == prod(op_shape)]
            check(e.node, sigs)
    return out
