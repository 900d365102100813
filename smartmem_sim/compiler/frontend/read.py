"""Read an ONNX file into a ModelProto, turning every way a file can be bad into one CompilerError
that names the file (and the tensor or data file at fault) and says what to do."""
from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

from smartmem_sim.compiler.errors import CompilerError


def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Parse ``path`` and load its external data (resolved relative to the model's folder).

    Raises:
        CompilerError: missing file, truncated or non-ONNX content, missing or short external data file.
    """
    path = Path(path)
    if not path.is_file():
        raise CompilerError(f"{path}: no such file; give the path of an .onnx model")
    data = path.read_bytes()
    if not data:
        raise CompilerError(f"{path}: the file is empty; re-export the model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        raise CompilerError(
            f"{path}: not a readable ONNX model (protobuf decoding failed: {exc}); the file is truncated "
            "or is not ONNX; re-export or re-download it"
        ) from None
    # Protobuf accepts many byte strings as a message with unknown fields, so also check the fields an
    # exported model always has.
    if model.ir_version <= 0 or not model.opset_import or not model.HasField("graph"):
        missing = [what for what, ok in (("ir_version", model.ir_version > 0),
                                         ("opset_import", bool(model.opset_import)),
                                         ("graph", model.HasField("graph"))) if not ok]
        raise CompilerError(
            f"{path}: not an ONNX model (missing {', '.join(missing)}); the file is truncated or is not "
            "ONNX; re-export or re-download it"
        )
    _load_external_data(model, path)
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    base = path.parent
    for tensor in _all_initializers(model):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        location = base / info.location
        if not location.is_file():
            raise CompilerError(
                f"{path}: initializer '{tensor.name}' keeps its data in external file '{info.location}', "
                f"which does not exist (looked for {location}); put the data file beside the model"
            )
        size = location.stat().st_size
        need = (info.offset or 0) + (info.length or 0)
        if info.length and need > size:
            raise CompilerError(
                f"{path}: external data file '{info.location}' is {size} bytes but initializer "
                f"'{tensor.name}' needs bytes up to {need}; the data file is truncated"
            )
    try:
        load_external_data_for_model(model, str(base))
    except (OSError, ValueError) as exc:
        raise CompilerError(f"{path}: could not load external data: {exc}") from None


def _all_initializers(model: onnx.ModelProto):
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
