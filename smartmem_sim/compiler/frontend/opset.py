"""Opset handling: inline model-local functions, lift old opsets to 13, reject ops we cannot know.

We accept the standard ONNX domain only (``""`` / ``"ai.onnx"``): every other op is a custom op whose
shape and cost we cannot derive. An op is known when onnx's schema registry has a schema for it at
the model's opset version.
"""
from __future__ import annotations

import onnx
import onnx.inliner
import onnx.version_converter

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend.skeleton import skeleton

MIN_OPSET = 13
STANDARD_DOMAINS = ("", "ai.onnx")


def default_opset(model: onnx.ModelProto) -> int:
    for op in model.opset_import:
        if op.domain in STANDARD_DOMAINS:
            return int(op.version)
    raise CompilerError(f"model '{model.graph.name}' imports no standard ONNX opset; re-export it")


def normalize_opset(model: onnx.ModelProto, name: str = "model") -> onnx.ModelProto:
    """Inline local functions, convert an opset below 13 to 13, then check every op (see module doc)."""
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    version = default_opset(model)
    newest = onnx.defs.onnx_opset_version()
    if version > newest:
        raise CompilerError(f"{name}: opset {version} is newer than the installed onnx knows ({newest}); "
                            f"re-export with opset <= {newest} or upgrade onnx")
    if version < MIN_OPSET:
        _check_ops(model, name, version)  # a custom op would make the converter fail obscurely
        try:
            model = _convert_without_weights(model, MIN_OPSET)
        except Exception as exc:  # the converter raises bare RuntimeError/ValueError variants
            raise CompilerError(
                f"{name}: opset {version} is older than {MIN_OPSET} and onnx's version converter failed "
                f"({exc}); re-export the model with opset >= {MIN_OPSET}"
            ) from None
        version = MIN_OPSET
    _check_ops(model, name, version)
    return model


def _convert_without_weights(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    """Run the version converter on the skeleton (weights as typed inputs: converting never needs their
    values, and serializing them to the converter is slow), then put the weights back."""
    light = skeleton(model)
    lifted = {vi.name for vi in light.graph.input} - {vi.name for vi in model.graph.input}
    converted = onnx.version_converter.convert_version(light, version)
    keep = [vi for vi in converted.graph.input if vi.name not in lifted]
    del converted.graph.input[:]
    converted.graph.input.extend(keep)
    converted.graph.initializer.extend(t for t in model.graph.initializer if t.name in lifted)
    return converted


def _check_ops(model: onnx.ModelProto, name: str, version: int) -> None:
    for node in _walk_nodes(model.graph):
        label = f"node '{node.name or '<unnamed>'}' (op {node.op_type})"
        if node.domain not in STANDARD_DOMAINS:
            raise CompilerError(
                f"{name}: {label} is in custom domain '{node.domain}'; only standard ONNX ops are "
                "supported; export the model without custom ops (e.g. no com.microsoft fusions)"
            )
        try:
            onnx.defs.get_schema(node.op_type, version, "")
        except onnx.defs.SchemaError:
            raise CompilerError(
                f"{name}: {label} is not a standard ONNX operator at opset {version}; export the model "
                "with standard ops or a newer opset"
            ) from None


def _walk_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _walk_nodes(g)
