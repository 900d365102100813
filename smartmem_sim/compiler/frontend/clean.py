"""clean_model: an exported ONNX model -> a valid ONNX model with static shapes and no shape logic.

Steps, in order (each a function of its own module):
1. interface: drop initializers from the graph inputs (old IR style);
1b. limits: every initializer's dims and stored data, and all weights together, within
   smartmem_sim/compiler/data/limits.toml (frontend/limits.py);
2. opset: inline local functions, lift opset < 13 to 13, reject custom-domain and unknown ops; name
   every node uniquely;
3. dims: bind symbolic input dims (error naming each unbound one); check every input dim >= 1 and each
   input within the limits; forget declared output shapes and value_info (they may be symbolic or stale)
   so that step 5 infers them; then onnx's strict shape and type inference, so an inconsistent model
   (Conv channels, MatMul inner dims, broadcasting, attributes) fails naming the node;
4. fold: Constant -> initializer, remove Identity/inference Dropout, fold shape logic to a fixed point,
   drop dead nodes and unused initializers;
5. shapes: infer every tensor's static shape (onnx, then our evaluation rule); our own consistency checks
   where onnx's inference is silent (frontend/shapes.py check_nodes); every tensor non-empty and the
   model within the limits; write the shapes as value_info;
6. check: onnx.checker on the result (stripped weights are checked as typed inputs).
"""
from __future__ import annotations

from collections.abc import Mapping

import onnx

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import fold, limits, opset, shapes
from smartmem_sim.compiler.frontend.dims import bind_dims, symbolic_dims
from smartmem_sim.compiler.frontend.messages import check_text_fields, one_line, single_line_errors
from smartmem_sim.compiler.frontend.skeleton import skeleton

WEIGHTS_KEY = "smartmem.weights"


def is_stripped_model(model: onnx.ModelProto) -> bool:
    return any(p.key == WEIGHTS_KEY and p.value == "stripped" for p in model.metadata_props)


@single_line_errors
def clean_model(model: onnx.ModelProto, dims: Mapping[str, int] | None = None,
                name: str = "model") -> onnx.ModelProto:
    """Return a cleaned copy of ``model`` (the argument is not modified). See the module docstring.

    Raises:
        CompilerError: custom or unknown op, unconvertible opset, unbound or unknown dim, a tensor
            whose shape cannot be made static, or a result onnx.checker rejects.
    """
    if not isinstance(model, onnx.ModelProto):
        raise CompilerError(f"{name}: clean_model needs an onnx.ModelProto, got {type(model).__name__}")
    check_text_fields(model, name)
    work = onnx.ModelProto()
    work.CopyFrom(model)
    _check_interface(work, name)
    _check_stripped(work, name)
    limits.check_initializers(work, name)
    _drop_initializer_inputs(work)  # also lifts IR < 4, where the version converter ignores initializers
    # Before anything runs onnx's inference (the version converter does): a negative dim makes onnx's Slice
    # inference abort the process (a failed assertion in C++), so inputs are checked and declared output
    # shapes and value_info dropped first.
    limits.check_inputs(work, name)
    _forget_output_shapes(work)
    work = opset.normalize_opset(work, name)
    name_nodes(work)
    where = {(i, a): key for key, places in symbolic_dims(work).items() for i, a in places}
    bind_dims(work, dims, name)
    limits.check_inputs(work, name, where)
    shapes.check_consistency(work, name)
    fold.constants_to_initializers(work)
    limits.check_initializers(work, name)  # Constant nodes became initializers: the same bounds hold
    fold.remove_identities(work)
    fold.fold_constants(work)
    fold.eliminate_dead_code(work)
    known = shapes.infer(work)
    shapes.complete(work, known, name)
    shapes.check_nodes(work, known, name)
    bound = sorted({where[p] for p in where if where[p] in (dims or {})})
    limits.check_inferred(work, known, name, hint=f"give smaller sizes ({', '.join(f'--dim {k}' for k in bound)})"
                          if bound else "")
    shapes.annotate(work, known)
    check(work, name)
    return work


# element types a graph input may have: floats become the plan's storage type, integers index (token ids)
SUPPORTED_INPUT_TYPES = {onnx.TensorProto.FLOAT: "float", onnx.TensorProto.FLOAT16: "float16",
                         onnx.TensorProto.DOUBLE: "double", onnx.TensorProto.BFLOAT16: "bfloat16",
                         onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32",
                         onnx.TensorProto.BOOL: "bool"}


def _check_interface(model: onnx.ModelProto, name: str) -> None:
    """A graph with outputs, whose inputs are tensors of a supported element type."""
    g = model.graph
    if not g.output:
        raise CompilerError(f"{name}: the graph has no outputs, so there is nothing to compute; export it with "
                            "its outputs")
    inits = {t.name for t in g.initializer}
    for vi in g.input:
        if vi.name in inits:
            continue
        if not vi.type.HasField("tensor_type"):
            raise CompilerError(f"{name}: input '{vi.name}' is not a tensor (sequence, map or optional); only "
                                "tensor inputs are supported")
        et = vi.type.tensor_type.elem_type
        if et not in SUPPORTED_INPUT_TYPES:
            label = onnx.TensorProto.DataType.Name(et) if et in onnx.TensorProto.DataType.values() else str(et)
            raise CompilerError(f"{name}: input '{vi.name}' has element type {label}; supported: "
                                f"{', '.join(SUPPORTED_INPUT_TYPES.values())}")


def _check_stripped(model: onnx.ModelProto, name: str) -> None:
    from smartmem_sim.compiler.ir import is_stripped_initializer

    if is_stripped_model(model):
        return
    for t in model.graph.initializer:
        if is_stripped_initializer(t):
            raise CompilerError(
                f"{name}: initializer '{t.name}' has no data, and the model is not marked as structure-only "
                f"(metadata '{WEIGHTS_KEY}' = 'stripped'); re-export with weights or mark it"
            )


def _drop_initializer_inputs(model: onnx.ModelProto) -> None:
    inits = {t.name for t in model.graph.initializer}
    keep = [vi for vi in model.graph.input if vi.name not in inits]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    if model.ir_version < 4:
        model.ir_version = 4


def _forget_output_shapes(model: onnx.ModelProto) -> None:
    """Declared output shapes may be symbolic or wrong; keep only the element type, infer the rest."""
    for vi in model.graph.output:
        if vi.type.HasField("tensor_type"):
            vi.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every node a unique, human-readable name: its own, or ``<op_type>_<index>``; a repeated
    name gets ``__2``, ``__3`` ... (the same rule the IR uses, so ids survive a round trip)."""
    seen: set[str] = set()
    for index, node in enumerate(model.graph.node):
        base = node.name or f"{node.op_type}_{index}"
        nid, k = base, 1
        while nid in seen:
            k += 1
            nid = f"{base}__{k}"
        seen.add(nid)
        node.name = nid


def check(model: onnx.ModelProto, name: str) -> None:
    """onnx.checker on the model's structure (stripped initializers have no data to check)."""
    # The skeleton presents large and stripped initializers as typed inputs: the checker then validates
    # the structure without serializing the weights.
    try:
        onnx.checker.check_model(skeleton(model), full_check=False)
    except onnx.checker.ValidationError as exc:
        raise CompilerError(f"{name}: the cleaned model fails onnx.checker: {one_line(exc)}; fix the model "
                            "and re-export it") from None
