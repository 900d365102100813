"""Per-kernel timelines as Chrome-trace JSON (opens in Perfetto, ui.perfetto.dev, and chrome://tracing).

Format: the "JSON Object Format" of the Trace Event Format: ``{"traceEvents": [...]}`` with one
complete event (``"ph": "X"``) per kernel, ``ts`` and ``dur`` in microseconds (floats keep the
nanoseconds), relative to the first kernel's start so that the numbers stay readable.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.launch import KernelTiming

_PID, _TID = 1, 1


def _fields(t: KernelTiming | Mapping[str, Any], i: int) -> dict[str, Any]:
    if isinstance(t, KernelTiming):
        rec = {"name": t.label or t.name, "kernel": t.name, "start_ns": t.start_ns, "end_ns": t.end_ns,
               "queued_ns": t.queued_ns, "submit_ns": t.submit_ns,
               "global_size": list(t.global_size),
               "local_size": None if t.local_size is None else list(t.local_size)}
    elif isinstance(t, Mapping):
        missing = [k for k in ("name", "start_ns", "end_ns") if k not in t]
        if missing:
            raise KernelError(f"timeline event {i}: missing field(s) {missing}; need name, start_ns, end_ns")
        rec = dict(t)
    else:
        raise KernelError(f"timeline event {i}: expected a KernelTiming or a mapping, got {type(t).__name__}")
    for k in ("start_ns", "end_ns"):
        if isinstance(rec[k], np.integer):
            rec[k] = int(rec[k])
        if not isinstance(rec[k], int) or isinstance(rec[k], bool):
            raise KernelError(f"timeline event {i} ('{rec['name']}'): {k} must be an integer (ns), got {rec[k]!r}")
    if rec["end_ns"] < rec["start_ns"]:
        raise KernelError(f"timeline event {i} ('{rec['name']}'): ends ({rec['end_ns']} ns) before it starts "
                          f"({rec['start_ns']} ns)")
    return rec


def chrome_trace(timings: Iterable[KernelTiming | Mapping[str, Any]], *, process_name: str = "OpenCL device",
                 thread_name: str = "queue 0", metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the trace as a dict. Each timing is a KernelTiming or a mapping with at least
    ``name``, ``start_ns``, ``end_ns`` (ints, device clock); other keys go to the event's args."""
    recs = [_fields(t, i) for i, t in enumerate(timings)]
    origin = min((r["start_ns"] for r in recs), default=0)
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": _PID, "tid": _TID, "args": {"name": process_name}},
        {"name": "thread_name", "ph": "M", "pid": _PID, "tid": _TID, "args": {"name": thread_name}},
    ]
    for r in recs:
        args = {k: v for k, v in r.items() if k != "name"}
        events.append({
            "name": str(r["name"]), "cat": "kernel", "ph": "X", "pid": _PID, "tid": _TID,
            "ts": (r["start_ns"] - origin) / 1000.0, "dur": (r["end_ns"] - r["start_ns"]) / 1000.0,
            "args": args,
        })
    trace: dict[str, Any] = {"traceEvents": events, "displayTimeUnit": "ns"}
    other = {"origin_ns": origin}
    if metadata:
        other.update({str(k): v for k, v in metadata.items()})
    trace["otherData"] = other
    return trace


def write_chrome_trace(timings: Iterable[KernelTiming | Mapping[str, Any]], path: str | os.PathLike, *,
                       process_name: str = "OpenCL device", thread_name: str = "queue 0",
                       metadata: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`chrome_trace` to ``path`` atomically (temporary file beside it, then rename)."""
    trace = chrome_trace(timings, process_name=process_name, thread_name=thread_name, metadata=metadata)
    try:
        text = json.dumps(trace, indent=1)
    except TypeError as exc:
        raise KernelError(f"timeline {path}: metadata or event args are not JSON-serialisable: {exc}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
