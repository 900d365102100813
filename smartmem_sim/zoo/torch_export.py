"""Export a zoo network from torch to a cleaned, structure-only ONNX model (the optional [zoo] path).

Pipeline for one network (``export_network``):
1. seed torch, build the module and its example inputs (library_models or arch/<name>.py);
2. torch.onnx.export with the dynamo exporter (static shapes, its graph optimizer on);
3. strip the weights in the exporter's IR before serializing, so a 4 GB Pythia never becomes a >2 GB
   protobuf: every floating-point initializer with more than one element keeps name, dims and data type
   and loses its data. Kept with data: integer/bool initializers (indices, shapes, masks), float scalars
   (attention scale, epsilon, fill values: semantics, not weights) and float tensors that an operator
   reads as a shape (Resize scales/roi), which the front end must see to infer static shapes;
4. drop what only costs bytes (doc strings, the exporter's per-node stack traces and metadata);
5. mark the model (metadata ``smartmem.*``) and clean it with the compiler's front end
   (smartmem_sim.compiler.frontend.clean_model: folds shape logic, removes Constant/Identity, infers static shapes).

``export_with_weights`` also cleans the export with its weights kept (small networks only: protobuf stops
at 2 GB), so a test can compare onnxruntime with torch. The front end folds through stripped weights
(e.g. an Unsqueeze of a weight becomes one stripped initializer of the new shape), so the structure-only
graph can have a few ops fewer than the weighted one; both come from the same export.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from smartmem_sim.errors import UserError
from smartmem_sim.zoo import registry

# The stripped initializers point at this pseudo file while the exporter's IR is serialized; the
# reference is removed right after, leaving a tensor with dims and no data.
_STRIPPED_LOCATION = "smartmem-stripped-weight"
# Float operator inputs that are shape arguments, not weights: op type -> input indices.
SHAPE_INPUTS = {"Resize": (1, 2), "Upsample": (1,)}


@dataclass
class ExportResult:
    model: onnx.ModelProto                      # cleaned, structure-only
    model_with_weights: onnx.ModelProto | None  # the same export cleaned with its weights (when asked)
    inputs: tuple[np.ndarray, ...]              # the example inputs, as numpy arrays
    torch_outputs: tuple[np.ndarray, ...]       # the torch module's outputs on them (empty unless asked)
    torch_params: int                           # parameters of the torch module (elements)


def export_network(name: str, tiny: bool, seed: int = 0, batch: int = 1) -> onnx.ModelProto:
    """The cleaned, structure-only ONNX model of zoo network ``name`` (its tiny twin if ``tiny``) at ``batch``."""
    return _export(name, tiny, seed, keep_weights=False, batch=batch).model


def export_with_weights(name: str, tiny: bool, seed: int = 0, batch: int = 1) -> ExportResult:
    """Like export_network, and also the export cleaned with its weights, the inputs and torch's outputs."""
    return _export(name, tiny, seed, keep_weights=True, batch=batch)


def batch_inputs(inputs: tuple[Any, ...], batch: int) -> tuple[Any, ...]:
    """The builders' batch-1 example inputs stacked ``batch`` times along dim 0 (the exporter traces static
    shapes, so the batch size of the example is the batch size of the graph)."""
    if batch == 1:
        return tuple(inputs)
    for x in inputs:
        if x.dim() == 0 or x.shape[0] != 1:
            raise UserError(f"cannot batch an example input of shape {tuple(x.shape)}: dim 0 must be the batch (1)")
    return tuple(x.repeat(batch, *([1] * (x.dim() - 1))) for x in inputs)


def _export(name: str, tiny: bool, seed: int, keep_weights: bool, batch: int = 1) -> ExportResult:
    try:
        import torch
    except ImportError:
        raise UserError(
            "exporting from torch needs the [zoo] extra: pip install -e '.[zoo]' (torch 2.13.0 CPU, timm, "
            "transformers, diffusers, onnxscript); the committed models in smartmem_sim/zoo/models load without it"
        ) from None
    entry = registry.entry(name)
    torch.manual_seed(seed)
    module, inputs, source = registry.build(entry, tiny, seed)
    inputs = batch_inputs(inputs, batch)
    if batch != 1:
        source += f", stacked to batch {batch}"
    torch_params = int(sum(p.numel() for p in module.parameters()))
    outputs: tuple[np.ndarray, ...] = ()
    if keep_weights:
        with torch.no_grad():
            out = module(*inputs)
        outputs = tuple(t.detach().numpy() for t in (out if isinstance(out, tuple | list) else (out,)))
    with torch.no_grad():
        program = torch.onnx.export(module, inputs, dynamo=True, optimize=True, verbose=False)
    metadata = {
        "smartmem.name": entry.name + (".tiny" if tiny else ""),
        "smartmem.seed": str(seed),
        "smartmem.source": source,
        "smartmem.torch": torch.__version__,
        "smartmem.torch_params": str(torch_params),
    }
    if batch != 1:
        metadata["smartmem.batch"] = str(batch)
    graph_name = entry.name + ("_tiny" if tiny else "")
    with_weights = None
    if keep_weights:
        with_weights = _finish(_serialize(program.model), {**metadata, "smartmem.weights": "exported"},
                               graph_name, entry.name)
    _strip_ir(program.model)
    proto = _serialize(program.model)
    del program
    cleaned = _finish(proto, {**metadata, "smartmem.weights": "stripped"}, graph_name, entry.name)
    _strip_folded(cleaned)
    return ExportResult(cleaned, with_weights, tuple(t.detach().numpy() for t in inputs), outputs, torch_params)


def _finish(proto: onnx.ModelProto, metadata: dict[str, str], graph_name: str, label: str) -> onnx.ModelProto:
    from smartmem_sim.compiler.frontend import clean_model

    _compact(proto)
    set_metadata(proto, metadata)
    proto.graph.name = graph_name
    cleaned = clean_model(proto, None, label)
    _compact(cleaned)
    return cleaned


def strippable(dtype_is_float: bool, dims: tuple[int, ...], uses: list[tuple[str, int]] = ()) -> bool:
    """Is this initializer a weight? A float tensor with more than one element is, unless some operator
    reads it as a shape argument (``uses``: (op type, input index) pairs); a float scalar is a constant
    of the math, not a weight."""
    if any(index in SHAPE_INPUTS.get(op, ()) for op, index in uses):
        return False
    return dtype_is_float and math.prod(dims) > 1


def _strip_ir(model: Any) -> None:
    import onnx_ir as ir

    for name, value in model.graph.initializers.items():
        tensor = value.const_value
        if tensor is None or not value.dtype.is_floating_point():
            continue
        dims = tuple(int(d) for d in tensor.shape)
        if not strippable(True, dims, [(node.op_type, index) for node, index in value.uses()]):
            continue
        value.const_value = ir.ExternalTensor(_STRIPPED_LOCATION, 0, None, value.dtype,
                                              shape=ir.Shape(dims), name=name)


def _strip_folded(model: onnx.ModelProto) -> int:
    """Strip float tensors that the front end's constant folding created after step 3 (e.g. the zero
    ``baddbmm`` input of diffusers' attention, 2.5 MB in SD-UNet), by the same rule. Returns how many."""
    shape_args = {node.input[i] for node in model.graph.node for i in SHAPE_INPUTS.get(node.op_type, ())
                  if i < len(node.input)}
    count = 0
    for t in model.graph.initializer:
        is_float = np.issubdtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type), np.floating)
        has_data = bool(t.raw_data or t.float_data or t.double_data or t.int32_data)
        if has_data and t.name not in shape_args and strippable(is_float, tuple(t.dims)):
            data_type, dims, name = t.data_type, list(t.dims), t.name
            t.Clear()
            t.name, t.data_type = name, data_type
            t.dims.extend(dims)
            count += 1
    return count


def _serialize(model: Any) -> onnx.ModelProto:
    import onnx_ir as ir

    proto = ir.serde.serialize_model(model)
    for t in proto.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            del t.external_data[:]
            t.data_location = onnx.TensorProto.DEFAULT
    return proto


def _dedupe_constants(model: onnx.ModelProto) -> int:
    """Make nodes share one copy of identical initializers that have data (e.g. AutoFormer's relative-position
    index, the same 197x197 int64 table in every layer: 16 MB of copies). Stripped weights are never merged.
    Returns the number of initializers removed."""
    from smartmem_sim.compiler.ir import is_stripped_initializer

    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    for t in model.graph.initializer:
        if is_stripped_initializer(t):
            continue
        probe = onnx.TensorProto()
        probe.CopyFrom(t)
        probe.name = ""
        key = (probe.SerializeToString(deterministic=True),)
        if key in first:
            rename[t.name] = first[key]
        else:
            first[key] = t.name
    if not rename:
        return 0
    outputs = {o.name for o in model.graph.output}
    rename = {old: new for old, new in rename.items() if old not in outputs}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    kept = [t for t in model.graph.initializer if t.name not in rename]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    info = [vi for vi in model.graph.value_info if vi.name not in rename]
    del model.graph.value_info[:]
    model.graph.value_info.extend(info)
    return len(rename)


def _compact(model: onnx.ModelProto) -> None:
    """Remove doc strings and per-node metadata (the exporter's stack traces: most of the bytes) and
    duplicate constants."""
    _dedupe_constants(model)
    model.doc_string = ""
    model.graph.doc_string = ""
    del model.graph.metadata_props[:]
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    for vi in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        vi.doc_string = ""
        del vi.metadata_props[:]
    for t in model.graph.initializer:
        t.doc_string = ""
        del t.metadata_props[:]
    keep = {p.key: p.value for p in model.metadata_props if p.key.startswith("smartmem.")}
    set_metadata(model, keep, replace=True)


def set_metadata(model: onnx.ModelProto, props: dict[str, str], replace: bool = False) -> None:
    current = {} if replace else {p.key: p.value for p in model.metadata_props}
    current.update(props)
    del model.metadata_props[:]
    for key in sorted(current):
        model.metadata_props.add(key=key, value=current[key])
