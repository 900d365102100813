"""JSON that strict parsers accept: what every reporting command prints with --json and writes to files.

Python's json module writes NaN and Infinity for non-finite floats, which is not JSON; a number that is not
defined (a sampling error with one window, a ratio over zero) is written as ``null`` instead.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (Python or numpy) replaced by None, numpy scalars made Python's."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(doc: Any, **kwargs) -> str:
    """json.dumps of :func:`finite` (doc), refusing NaN; objects JSON has no type for are written as str."""
    return json.dumps(finite(doc), allow_nan=False, default=str, **kwargs)


SCHEMA = 1  # raise when a reporting command's JSON changes incompatibly


def report(command: str, doc: dict) -> dict:
    """A reporting command's JSON document: ``schema`` (this format's version) and ``command`` first."""
    return {"schema": SCHEMA, "command": command, **{k: v for k, v in doc.items() if k not in ("schema", "command")}}
