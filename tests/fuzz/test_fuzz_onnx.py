"""Fuzz the model boundary through the CLI (inspect, compile): mutated protobuf bytes and generated graphs
(shape mismatches, bad attributes, zero, negative and huge dims, --dim values). Every case must end as the
error contract says (tests/fuzz/contract.py); a model accepted by `inspect` must give the output shapes
onnxruntime computes (the independent referee), and onnxruntime must run every model we accept."""
from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.contract import check, fuzz_settings
from tests.fuzz.onnx_gen import base_model, graphs, mutated_bytes

BASE = base_model().SerializeToString()
# Cases per strategy (tests/fuzz/README.md lists them; keep the two in step)
N_BYTES = 150
N_GRAPHS = 150
N_COMPILE = 25
N_COMPARE = 15


def _names(path: Path, model: onnx.ModelProto | None = None) -> tuple[str, ...]:
    names = [str(path), path.name]
    if model is not None:
        names += [n.name for n in model.graph.node if n.name] + [n.op_type for n in model.graph.node if n.op_type]
        names += [t.name for t in model.graph.initializer] + [i.name for i in model.graph.input]
    return tuple(names)


@contextmanager
def _showing(model: onnx.ModelProto):
    """A failed assertion shows the model as text (hypothesis prints the case only as a ModelProto repr)."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nthe model:\n{onnx.printer.to_text(model)}") from None


def _ort_shapes(model: onnx.ModelProto, dims: dict[str, int]):
    """Output shapes onnxruntime computes on ones, or its error message when it refuses the model."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {}
        for i in sess.get_inputs():
            shape = [dims.get(d, d) if isinstance(d, str) else d for d in i.shape]
            feeds[i.name] = np.ones(shape, np.float32)
        return [list(o.shape) for o in sess.run(None, feeds)]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _small(model: onnx.ModelProto, dims: dict[str, int]) -> bool:
    """Every declared size small enough that onnxruntime can run it in a blink, and every weight has data."""
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            v = d.dim_value if d.HasField("dim_value") else dims.get(d.dim_param, 0)
            if not 0 < v <= 64:
                return False
    for t in model.graph.initializer:
        if any(not 0 <= d <= 64 for d in t.dims) or (t.data_type == onnx.TensorProto.FLOAT and not t.raw_data):
            return False
        if t.data_type == onnx.TensorProto.INT64 and any(abs(v) > 64 for v in onnx.numpy_helper.to_array(t).ravel()):
            return False
    return True


@fuzz_settings(N_BYTES)
@given(data=mutated_bytes(BASE))
def test_mutated_protobuf_bytes(capsys, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "m.onnx"
        path.write_bytes(data)
        result = check(["inspect", path, "--json"], capsys, folder, names=_names(path))
        if result.code == 0:
            parsed = onnx.ModelProto()
            parsed.ParseFromString(data)
            summary = json.loads(result.out)
            assert summary["command"] == "inspect"
            assert {o["name"] for o in summary["outputs"]} == {o.name for o in parsed.graph.output}


DIM_VALUES = st.sampled_from(["1", "2", "4", "0", "-1", str(2**40), "x", "1e3", ""])


@fuzz_settings(N_GRAPHS)
@given(case=graphs(), dim_value=DIM_VALUES, bind_other=st.booleans())
def test_generated_graphs_inspect(capsys, case, dim_value, bind_other):
    model, symbolic = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "m.onnx"
        path.write_bytes(model.SerializeToString())
        argv = ["inspect", path, "--json"]
        dims: dict[str, int] = {}
        for name in symbolic + (["other"] if bind_other and not symbolic else []):
            argv += ["--dim", f"{name}={dim_value}"]
            if dim_value.isdigit():
                dims[name] = int(dim_value)
        with _showing(model):
            result = check(argv, capsys, folder, names=_names(path, model) + ("--dim",))
        if result.code != 0 or not _small(model, dims):
            return
        expected = _ort_shapes(model, dims)
        assert not isinstance(expected, str), \
            f"inspect accepted a model onnxruntime refuses ({expected}):\n{onnx.printer.to_text(model)}"
        summary = json.loads(result.out)
        assert [o["shape"] for o in summary["outputs"]] == expected


@pytest.fixture(scope="module")
def warm():
    """Compile once outside the examples so numba's first compilation does not count against them."""
    from smartmem_sim.simulation import cost_model

    cost_model("adreno740")


@fuzz_settings(N_COMPILE)
@given(case=graphs(), policy=st.sampled_from(["naive", "smartmem"]))
def test_generated_graphs_compile(capsys, warm, case, policy):
    model, symbolic = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "m.onnx"
        path.write_bytes(model.SerializeToString())
        argv = ["compile", path, "-o", folder / "out", "--policy", policy]
        for name in symbolic:
            argv += ["--dim", f"{name}=2"]
        with _showing(model):
            result = check(argv, capsys, folder, outputs=("out",), names=_names(path, model))
        if result.code == 0:
            assert (folder / "out" / "plan.json").is_file() and (folder / "out" / "model.onnx").is_file()


@fuzz_settings(N_COMPARE)
@given(case=graphs())
def test_generated_graphs_compare(capsys, warm, case):
    model, symbolic = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "m.onnx"
        path.write_bytes(model.SerializeToString())
        argv = ["compare", path, "--json", "--out", folder / "cmp", "--no-plot"]
        for name in symbolic:
            argv += ["--dim", f"{name}=2"]
        with _showing(model):
            result = check(argv, capsys, folder, outputs=("cmp",), names=_names(path, model))
        if result.code == 0:
            doc = json.loads(result.out)
            assert doc["command"] == "compare" and (folder / "cmp").is_dir()
