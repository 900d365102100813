"""`smartmem compile MODEL -o DIR`: model.onnx (the plan as ONNX), plan.json, kernels/*.cl; checked against
onnxruntime (the ONNX computes what the input model computes) and against `run` (the kernel files, built and
launched from the folder, give the outputs `run`'s kernels give)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from smartmem_sim.cli import main
from tests.compiler.search.graphs import attention


@pytest.mark.parametrize("policy", ["naive", "search"])
def test_compile_writes_plan_onnx_and_kernels(tmp_path, capsys, policy):
    src = tmp_path / "attn.onnx"
    onnx.save(attention(), str(src))
    out = tmp_path / "out"
    assert main(["compile", str(src), "--profile", "adreno740", "--policy", policy, "-o", str(out)]) == 0
    doc = json.loads((out / "plan.json").read_text())
    assert doc["policy"] == policy and doc["predicted"]["device"] == "adreno740"
    for step in doc["steps"]:
        assert step["launches"] and all(len(k["global_size"]) == 2 for k in step["launches"])
        assert step["predicted"]["seconds"] > 0
    assert sum(s["predicted"]["seconds"] for s in doc["steps"]) == pytest.approx(doc["predicted"]["seconds"])
    assert all("layout" in t for t in doc["tensors"].values())
    # one kernel file per launch, in launch order, with its header
    files = sorted(p.name for p in (out / "kernels").iterdir())
    assert files == [k["file"].split("/")[1] for k in doc["kernels"]]
    assert len(files) == sum(len(s["launches"]) for s in doc["steps"])
    first = (out / doc["kernels"][0]["file"]).read_text()
    assert first.startswith("/* smartmem-sim kernel 0") and "__kernel" in first
    m = onnx.load(str(out / "model.onnx"))
    onnx.checker.check_model(m, full_check=True)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["smartmem.policy"] == policy
    # one node per kernel step; the naive policy's layout copies stay visible, smartmem-style search folds them
    assert [n.name for n in m.graph.node] == [s["id"] for s in doc["steps"]]
    kinds = {n.op_type for n in m.graph.node}
    if policy == "naive":
        assert any(k.startswith("Copy_") for k in kinds)
    else:
        assert doc["search"]["method"] and not any(k.startswith(("Transpose_", "Reshape_")) for k in kinds)
    assert "predicted" in capsys.readouterr().out


def test_compiled_onnx_computes_what_the_input_model_computes(tmp_path):
    """For every policy, onnxruntime gives the emitted model.onnx the outputs of the input model (weights
    filled from the same seed)."""
    import onnxruntime as ort

    from smartmem_sim import zoo
    from smartmem_sim.compiler.frontend.weights import materialize_weights

    source = materialize_weights(zoo.load("swin", tiny=True, weights=False), 0)
    rng = np.random.default_rng(3)
    feeds = {}
    for vi in source.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(source.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for policy in ("naive", "fusion", "smartmem"):
        out = tmp_path / policy
        assert main(["compile", "swin.tiny", "--policy", policy, "-o", str(out)]) == 0
        model = onnx.load(str(out / "model.onnx"))
        onnx.checker.check_model(model, full_check=True)
        top = {n.op_type for n in model.graph.node}
        if policy == "smartmem":  # every layout operator eliminated: none left at the top level
            assert not any(k.startswith(("Transpose", "Reshape", "Copy")) for k in top)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        assert [o.name for o in sess.get_outputs()] == [o.name for o in source.graph.output]
        got = sess.run(None, feeds)
        for a, b in zip(want, got, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def cl_device():
    pytest.importorskip("pyopencl")
    from smartmem_sim.kernels.errors import KernelError
    from smartmem_sim.kernels.runtime.device import select_device

    try:
        return select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")


@pytest.mark.opencl
def test_kernel_files_rebuild_and_reproduce_run(tmp_path, cl_device):
    """The .cl files, built and launched as plan.json lists them, give exactly the outputs of the kernels
    `smartmem run` generates for the same plan, inputs and weights."""
    from smartmem_sim import zoo
    from smartmem_sim.compiled import read_kernels
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.frontend.weights import materialize_weights
    from smartmem_sim.inputs import random_inputs
    from smartmem_sim.kernels.execute import execute, fit_to_device
    from smartmem_sim.simulation import compile_for

    out = tmp_path / "vit"
    assert main(["compile", "vit.tiny", "--storage", "fp32", "-o", str(out)]) == 0
    graph = load_model(materialize_weights(zoo.load("vit", tiny=True, weights=False), 0), name="vit.tiny")
    plan = compile_for(graph, "smartmem", "adreno740", "fp32")
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert meta["smartmem.plan_digest"] == plan.digest()
    plan, notes = fit_to_device(plan, cl_device)
    assert not notes  # the tiny twin's images fit, so the plan is the compiled one
    feeds = random_inputs(graph, 0)
    inputs = {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}
    from_files = read_kernels(out)
    assert len(from_files) > 10
    by_run = execute(plan, cl_device, inputs)
    by_files = execute(plan, cl_device, inputs, kernels=from_files)
    assert [k.entry for k in by_files.kernels] == [k.entry for k in by_run.kernels]
    for name in plan.outputs:
        np.testing.assert_array_equal(by_files.outputs[name], by_run.outputs[name])


def test_an_edited_kernel_file_is_named(tmp_path, capsys):
    from smartmem_sim.compiled import read_kernels
    from smartmem_sim.errors import UserError

    src = tmp_path / "attn.onnx"
    onnx.save(attention(), str(src))
    assert main(["compile", str(src), "-o", str(tmp_path / "out")]) == 0
    first = sorted((tmp_path / "out" / "kernels").iterdir())[0]
    first.write_text(first.read_text() + "\n// edited\n")
    with pytest.raises(UserError, match=first.name):
        read_kernels(tmp_path / "out")


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_compile_never_writes_over_its_input_and_writes_only_its_outputs(tmp_path, capsys):
    src = tmp_path / "m.onnx"
    onnx.save(attention(), str(src))
    before = _snapshot(tmp_path)
    # a file is not a folder; refused before any work, nothing written
    assert main(["compile", str(src), "-o", str(src)]) == 2
    assert "give a folder" in capsys.readouterr().err and _snapshot(tmp_path) == before
    # the input inside the folder, where model.onnx would go: refused
    inner = tmp_path / "dir"
    inner.mkdir()
    onnx.save(attention(), str(inner / "model.onnx"))
    before = _snapshot(tmp_path)
    assert main(["compile", str(inner / "model.onnx"), "-o", str(inner), "--force"]) == 2
    assert "would replace the input" in capsys.readouterr().err and _snapshot(tmp_path) == before
    assert main(["compile", str(src), "-o", str(tmp_path / "out")]) == 0
    after = _snapshot(tmp_path)
    new = set(after) - set(before)
    assert {f.split("/")[1] for f in new} <= {"model.onnx", "plan.json", "kernels"}
    assert all(f.startswith("out/") for f in new) and after["m.onnx"] == before["m.onnx"]
    # existing outputs are kept unless --force; a compiled model compiles again into a valid model
    assert main(["compile", str(src), "-o", str(tmp_path / "out")]) == 2
    assert "pass --force" in capsys.readouterr().err and _snapshot(tmp_path) == after
    assert main(["compile", str(tmp_path / "out" / "model.onnx"), "-o", str(tmp_path / "again")]) == 0
    onnx.checker.check_model(onnx.load(str(tmp_path / "again" / "model.onnx")), full_check=True)
    # --force replaces the outputs and leaves other files in the folder alone
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert main(["compile", str(src), "-o", str(tmp_path / "out"), "--force", "--policy", "naive"]) == 0
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no staging left behind
    doc = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert sorted(p.name for p in (tmp_path / "out" / "kernels").iterdir()) == \
        sorted(k["file"].split("/")[1] for k in doc["kernels"])


@pytest.mark.parametrize("command", ["compile", "compare", "explain-time"])
def test_symbolic_dims_are_bound_with_dim(tmp_path, capsys, command):
    from tests.compiler.frontend.onnx_builders import shape_logic_model

    src = tmp_path / "sym.onnx"
    onnx.save(shape_logic_model(), str(src))
    extra = ["-o", str(tmp_path / "p")] if command == "compile" else ["--json"]
    assert main([command, str(src), *extra]) == 2
    assert "--dim NAME=VALUE" in capsys.readouterr().err
    assert main([command, str(src), *extra, "--dim", "b=2"]) == 0


def test_a_model_past_the_inline_limit_keeps_its_weights_beside_it(tmp_path, monkeypatch):
    """Models past protobuf's 2 GiB (SD-UNet, Pythia-1B) are written with external weights; the same path,
    forced here with a tiny limit, gives a model that onnx.checker and onnxruntime accept."""
    import onnxruntime as ort

    from smartmem_sim import compiled

    src = tmp_path / "attn.onnx"
    onnx.save(attention(), str(src))
    assert main(["compile", str(src), "-o", str(tmp_path / "small")]) == 0
    monkeypatch.setattr(compiled, "INLINE_LIMIT", 0)
    out = tmp_path / "big"
    assert main(["compile", str(src), "-o", str(out)]) == 0
    assert (out / "model.onnx.data").stat().st_size > 0
    onnx.checker.check_model(str(out / "model.onnx"), full_check=True)
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 16, 32)).astype(np.float32)}
    small = ort.InferenceSession(str(tmp_path / "small" / "model.onnx")).run(None, feeds)
    big = ort.InferenceSession(str(out / "model.onnx")).run(None, feeds)
    for a, b in zip(small, big, strict=True):
        np.testing.assert_array_equal(a, b)
    # compiled again below the limit, the stale weights file goes
    monkeypatch.setattr(compiled, "INLINE_LIMIT", 1 << 40)
    assert main(["compile", str(src), "-o", str(out), "--force"]) == 0
    assert not (out / "model.onnx.data").exists()


def test_an_unknown_sampling_error_is_said_in_words():
    from smartmem_sim.commands.compile import _sampling

    assert _sampling(float("nan")) == "sampling error not estimated"
    assert _sampling(0.0123) == "+-1.2% sampling"
