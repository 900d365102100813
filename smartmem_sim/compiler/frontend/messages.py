"""Error messages of the front end on one line: the CLI's error contract (docs/ERRORS.md) prints a bad-input
error as one line, but onnx's checker and inference put context on further lines, and a model's names (tensors,
nodes, external data locations) may hold newlines of their own."""
from __future__ import annotations

import functools

from smartmem_sim.compiler.errors import CompilerError


def one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


def single_line_errors(fn):
    """Re-raise a CompilerError from ``fn`` with its message on one line (the front end's entry points)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CompilerError as exc:
            text = str(exc)
            if "\n" in text or "\r" in text:
                raise CompilerError(one_line(text)) from None
            raise
    return wrapper


def check_text_fields(message, name: str) -> None:
    """Every string field of an ONNX message (recursively) is valid UTF-8. protobuf hands an invalid one back
    as ``bytes`` instead of ``str`` (ONNX is proto2, which does not check), and every later use of that name
    (a schema lookup, a dict key, a message) would fail obscurely; so a corrupt name fails here, named by its
    place in the model."""
    from google.protobuf.descriptor import FieldDescriptor

    stack = [(message, "model")]
    while stack:
        msg, where = stack.pop()
        for field, value in msg.ListFields():
            label = f"{where}.{field.name}"
            repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
            if field.type == FieldDescriptor.TYPE_STRING:
                for i, text in enumerate(value if repeated else [value]):
                    if not isinstance(text, str):
                        at = f"{label}[{i}]" if repeated else label
                        raise CompilerError(f"{name}: text field {at} is not valid UTF-8 ({bytes(text)[:40]!r}); "
                                            "the file is corrupt; re-export or re-download it")
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                if field.message_type.GetOptions().map_entry:
                    continue
                items = value if repeated else [value]
                stack.extend((m, f"{label}[{i}]" if repeated else label) for i, m in enumerate(items))
