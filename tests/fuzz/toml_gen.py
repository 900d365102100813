"""Hypothesis strategies for malformed TOML documents (device profiles, sweep configs): a valid document's
parsed tables with values replaced by other types and out-of-range numbers, keys deleted or added, and
byte-level damage to the text (invalid UTF-8, truncation)."""
from __future__ import annotations

import copy
import json
import math

from hypothesis import strategies as st


def dumps(data: dict) -> str:
    """TOML text of ``data`` with every table inline (enough for the loaders, which see only the parsed dict)."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in data.items())


def _key(k: str) -> str:
    return json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 7, 48, 64, 100, 2**16, 2**20 + 1, 2**30, 2**31, 2**40, 2**62, 2**63 - 1,
                     -(2**63)]),
    st.sampled_from([0.0, -0.5, 1e-300, 1e300, float("nan"), float("inf"), float("-inf"), 0.5, 3.0]),
)
TEXT = st.one_of(st.sampled_from(["", "lru", "plru", "random", "tiled", "linear", "morton", "block_linear",
                                  "write-back", "read-only", "guess", "L1", "x" * 300, "a\u0000b", "ü", ".", "..",
                                  "grid.toml", "grid.toml/x.csv", "sub/out.csv", "/", "~"]),
                 st.text(max_size=8))
SCALAR = st.one_of(NUMBERS, TEXT, st.booleans())
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(st.text(max_size=4), SCALAR, max_size=2))


def _paths(data, prefix=()):
    """Every (path) of a value in ``data``: dict keys and list indices."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _parent(data, path):
    for p in path[:-1]:
        data = data[p]
    return data


@st.composite
def mutated_tables(draw, base: dict) -> dict:
    """``base`` after 1-3 edits: a value replaced (any type), a key deleted, an unknown key added."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        kind = draw(st.sampled_from(["replace", "replace", "scale", "scale", "scale", "delete", "add"]))
        numeric = [p for p in paths if isinstance(_parent(data, p)[p[-1]], int | float)
                   and not isinstance(_parent(data, p)[p[-1]], bool)]
        if kind == "scale" and numeric:
            # a number of the right type but another size: most of these profiles load, so the simulator
            # itself meets them (cache-study)
            path = draw(st.sampled_from(numeric))
            parent = _parent(data, path)
            old = parent[path[-1]]
            factor = draw(st.sampled_from([0, 2, 4, 16, 1024, 2**20, 2**40, -1, 3]))
            parent[path[-1]] = type(old)(old * factor) if isinstance(old, int) else float(old) * factor
        elif kind == "replace":
            parent[path[-1]] = draw(VALUE)
        elif kind == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["bogus", "size2", "source", "name", "cores"]))] = draw(VALUE)
    return data


@st.composite
def damaged_text(draw, text: str) -> bytes:
    """The text's bytes with invalid UTF-8 put in, cut short, or a line duplicated (a duplicate key)."""
    raw = bytearray(text.encode())
    kind = draw(st.sampled_from(["utf8", "truncate", "duplicate"]))
    i = draw(st.integers(0, max(len(raw) - 1, 0)))
    if kind == "utf8":
        raw[i:i] = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
    elif kind == "truncate":
        del raw[i:]
    else:
        lines = bytes(raw).splitlines(keepends=True)
        j = draw(st.integers(0, max(len(lines) - 1, 0)))
        raw = bytearray(b"".join(lines[:j + 1] + lines[j:j + 1] + lines[j + 1:]))
    return bytes(raw)
