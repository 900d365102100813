"""Read an ONNX file into a ModelProto, turning every way a file can be bad into one CompilerError
that names the file (and the tensor or data file at fault) and says what to do.

External data is resolved here, not by onnx: a tensor's ``location`` must name a regular file inside the
model's folder, reached without symbolic links, absolute paths or ``..``. A location that breaks the rule is
refused from its text alone, before anything outside the folder is looked at, so the error says nothing
about files outside (not even whether they exist). Inside the folder, every component is checked with
``lstat`` (which does not follow a link) and the file is opened with ``O_NOFOLLOW``.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from google.protobuf.message import DecodeError

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend import limits
from smartmem_sim.compiler.frontend.messages import check_text_fields, single_line_errors


@single_line_errors
def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Parse ``path`` and load its external data (from files in the model's folder; module docstring).

    Raises:
        CompilerError: missing file, truncated or non-ONNX content, an external data location outside the
            model's folder or through a link, a missing or short data file, sizes past the limits.
    """
    path = Path(path)
    if not path.is_file():
        raise CompilerError(f"{path}: no such file; give the path of an .onnx model")
    try:
        size = path.stat().st_size
        limits.check_file_size(path, size)
        data = path.read_bytes()
    except OSError as exc:
        raise CompilerError(f"{path}: cannot read the model ({exc.strerror}); check the file's permissions") from None
    if not data:
        raise CompilerError(f"{path}: the file is empty; re-export the model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:  # upb reports some corruptions as RuntimeError
        raise CompilerError(
            f"{path}: not a readable ONNX model (protobuf decoding failed: {' '.join(str(exc).split())}); the "
            "file is truncated or is not ONNX; re-export or re-download it"
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
    check_text_fields(model, str(path))
    load_external_data(model, path)
    return model


def load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read every EXTERNAL tensor's bytes into its raw_data (in place), from files in ``path``'s folder."""
    base = path.parent
    budget = limits.limits().weight_bytes
    for tensor in _all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        where = f"{path}: initializer '{tensor.name}'"
        info = _external_info(tensor, where)
        location = info["location"]
        n = limits.numel(tensor.dims)
        if any(d < 0 for d in tensor.dims) or n > limits.limits().tensor_elements:
            raise CompilerError(f"{where} {list(tensor.dims)}: its dims are negative or past the limit of "
                                f"{limits.limits().tensor_elements:,} elements (smartmem_sim/compiler/data/limits.toml); "
                                "re-export the model")
        need = n * limits.elem_bytes(tensor.data_type)
        budget -= need
        if budget < 0:
            raise CompilerError(f"{path}: its external weights take more than {limits.limits().weight_bytes:,} bytes "
                                "(smartmem_sim/compiler/data/limits.toml [model] max_weight_bytes); export a smaller model")
        parts = _safe_parts(location, where)
        fd = _open_inside(base, parts, location, where)
        try:
            size = os.fstat(fd).st_size
            offset, length = info["offset"], info["length"]
            if length is None:
                length = size - offset
            if length != need:
                raise CompilerError(f"{where} {list(tensor.dims)} needs {need:,} bytes but its external data gives "
                                    f"{length:,} (length in the model, or the file's size past the offset); the data "
                                    "file does not belong to this model; re-export it")
            if offset + length > size:
                raise CompilerError(f"{where}: external data file {location!r} is {size:,} bytes but the tensor needs "
                                    f"bytes {offset:,} to {offset + length:,}; the data file is truncated; copy it again")
            raw = os.pread(fd, length, offset) if length else b""
        except OSError as exc:
            raise CompilerError(f"{where}: cannot read external data file {location!r} ({exc.strerror})") from None
        finally:
            os.close(fd)
        if len(raw) != length:
            raise CompilerError(f"{where}: external data file {location!r} ended early (changed while read?); "
                                "copy it again")
        tensor.raw_data = raw
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _external_info(tensor: onnx.TensorProto, where: str) -> dict:
    entries: dict[str, str] = {}
    for e in tensor.external_data:
        if e.key in entries:
            raise CompilerError(f"{where}: external_data gives '{e.key}' twice; re-export the model")
        entries[e.key] = e.value
    location = entries.get("location", "")
    if not location:
        raise CompilerError(f"{where} is marked EXTERNAL but names no data file (external_data 'location'); "
                            "re-export the model")
    out: dict = {"location": location}
    for key, default in (("offset", 0), ("length", None)):
        text = entries.get(key)
        if text is None or text == "":
            out[key] = default
            continue
        if not text.isascii() or not text.isdigit() or len(text) > 19:
            raise CompilerError(f"{where}: external_data '{key}' = {text!r} is not a byte count; re-export the model")
        out[key] = int(text)
    return out


def _safe_parts(location: str, where: str) -> list[str]:
    """The location's components, or a CompilerError if it could leave the model's folder. Decided from the
    text alone: nothing is looked up on disk here."""
    bad = None
    if "\x00" in location:
        bad = "contains a NUL byte"
    elif PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute() \
            or PureWindowsPath(location).drive or location.startswith(("/", "\\", "~")):
        bad = "is an absolute path"
    else:
        parts = [p for p in location.replace("\\", "/").split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            bad = "goes up with '..'"
        elif not parts:
            bad = "names no file"
    if bad:
        raise CompilerError(f"{where}: external data location {location!r} {bad}; external data must be a file "
                            "in the model's folder, named relative to it; move the data file there and re-export")
    return parts


def _open_inside(base: Path, parts: list[str], location: str, where: str) -> int:
    """A read-only descriptor of base/parts. The walk goes one component at a time relative to the descriptor
    of the folder above (dir_fd), each checked without following links and opened with O_NOFOLLOW, so a link
    swapped in between the check and the open is refused too."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        dfd = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise CompilerError(f"{where}: cannot open the model's folder {base} ({exc.strerror})") from None
    try:
        for i, part in enumerate(parts):
            shown = "/".join(parts[:i + 1])
            last = i == len(parts) - 1
            try:
                st = os.stat(part, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                raise CompilerError(f"{where} keeps its data in external file {location!r}, which does not exist in "
                                    f"the model's folder {base}; put the data file beside the model") from None
            except OSError as exc:
                raise CompilerError(f"{where}: cannot look up external data file {location!r} in the model's "
                                    f"folder ({exc.strerror})") from None
            if stat.S_ISLNK(st.st_mode):
                raise CompilerError(f"{where}: external data location {location!r} goes through a symbolic link "
                                    f"('{shown}'); links are not followed; put the data file itself in the model's "
                                    "folder")
            if last and not stat.S_ISREG(st.st_mode):
                raise CompilerError(f"{where}: external data location {location!r} is not a regular file; put the "
                                    "data file beside the model")
            if not last and not stat.S_ISDIR(st.st_mode):
                raise CompilerError(f"{where}: external data location {location!r}: '{shown}' is not a folder")
            flags = os.O_RDONLY | nofollow | (os.O_NONBLOCK if last else getattr(os, "O_DIRECTORY", 0))
            try:
                fd = os.open(part, flags, dir_fd=dfd)
            except OSError as exc:
                raise CompilerError(f"{where}: cannot open external data file {location!r} ({exc.strerror}); "
                                    "links are not followed") from None
            os.close(dfd)
            dfd = fd
        if not stat.S_ISREG(os.fstat(dfd).st_mode):
            raise CompilerError(f"{where}: external data location {location!r} is not a regular file")
        fd, dfd = dfd, -1
        return fd
    finally:
        if dfd >= 0:
            os.close(dfd)


def _all_tensors(model: onnx.ModelProto):
    """Every TensorProto of the model that can hold external data: initializers and tensor attributes, in
    subgraphs too."""
    yield from _graph_tensors(model.graph)


def _graph_tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from _graph_tensors(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graph_tensors(g)
