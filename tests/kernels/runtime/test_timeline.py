"""Chrome-trace timelines (smartmem_sim/kernels/runtime/timeline.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.launch import KernelTiming, run_kernel
from smartmem_sim.kernels.runtime.memory import buffer_from_array
from smartmem_sim.kernels.runtime.timeline import chrome_trace, write_chrome_trace


def _timing(name, start, end, label=None):
    return KernelTiming(name, label or name, start - 50, start - 20, start, end, (64, 8), (8, 8))


def test_events_are_complete_events_in_microseconds_from_the_first_start(tmp_path):
    timings = [_timing("conv", 1_000_000, 1_003_500, "conv#0"), _timing("softmax", 1_004_000, 1_004_250)]
    path = write_chrome_trace(timings, tmp_path / "sub" / "run.json", metadata={"model": "tiny", "policy": "naive"})
    trace = json.loads(path.read_text())
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left behind
    kernels = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"]) for e in kernels] == [("conv#0", 0.0, 3.5), ("softmax", 4.0, 0.25)]
    assert kernels[0]["args"]["kernel"] == "conv" and kernels[0]["args"]["local_size"] == [8, 8]
    assert {e["pid"] for e in trace["traceEvents"]} == {1} and {e["tid"] for e in kernels} == {1}
    names = {e["name"]: e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert names == {"process_name": "OpenCL device", "thread_name": "queue 0"}
    assert trace["otherData"] == {"origin_ns": 1_000_000, "model": "tiny", "policy": "naive"}


def test_mappings_are_accepted_and_bad_events_named():
    trace = chrome_trace([{"name": "copy", "start_ns": np.int64(10), "end_ns": 2010, "bytes": 64}])
    (ev,) = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert ev["dur"] == 2.0 and ev["args"]["bytes"] == 64
    with pytest.raises(KernelError, match="event 1 \\('b'\\): ends"):
        chrome_trace([_timing("a", 0, 5), _timing("b", 10, 5)])
    with pytest.raises(KernelError, match="missing field"):
        chrome_trace([{"name": "x", "start_ns": 1}])
    with pytest.raises(KernelError, match="start_ns must be an integer"):
        chrome_trace([{"name": "x", "start_ns": 1.5, "end_ns": 2}])


def test_an_unserialisable_trace_leaves_no_file(tmp_path):
    with pytest.raises(KernelError, match="not JSON-serialisable"):
        write_chrome_trace([_timing("a", 0, 5)], tmp_path / "t.json", metadata={"x": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.opencl
def test_a_measured_launch_becomes_a_trace_event(cl_device, tmp_path):
    y = buffer_from_array(cl_device, np.zeros(256, np.float32))
    t = run_kernel(cl_device, "__kernel void fill(__global float* y) { y[get_global_id(0)] = 1.0f; }",
                   "fill", (256,), None, [y], label="fill#3")
    trace = json.loads(write_chrome_trace([t], tmp_path / "t.json").read_text())
    (ev,) = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert ev["name"] == "fill#3" and ev["ts"] == 0.0 and ev["dur"] == pytest.approx(t.duration_ns / 1000)
