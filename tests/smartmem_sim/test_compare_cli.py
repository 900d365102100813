"""`smartmem compare`: table/JSON of the four policies, plot, per-op, Chrome-trace timeline, errors."""
from __future__ import annotations

import json

import onnx
import pytest

from smartmem_sim.cli import main
from tests.compiler.search.graphs import attention


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "attn.onnx"
    onnx.save(attention(), str(path))
    return path


def test_compare_json_plot_timeline(model_path, tmp_path, capsys):
    tl = tmp_path / "tl.json"
    rc = main(["compare", str(model_path), "--json", "--per-op", "--timeline", str(tl), "--out", str(tmp_path)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    pol = {p["policy"]: p for p in doc["policies"]}
    assert list(pol) == ["naive", "fusion", "smartmem", "search"]
    assert pol["naive"]["transforms"] > pol["smartmem"]["transforms"]
    assert pol["search"]["seconds"] <= pol["smartmem"]["seconds"] * (1 + 1e-9)
    for p in pol.values():
        assert p["seconds"] > 0 and p["dram_bytes"] > 0 and set(p["misses"]) == {"L1", "L2", "SLC"}
    naive_ops = next(b for b in doc["per_op"] if b["policy"] == "naive")
    assert naive_ops["transforms"] and all(t["reason"] for t in naive_ops["transforms"])
    events = json.loads(tl.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert len(spans) == sum(p["kernels"] for p in pol.values())
    # kernels of one policy run back to back and add up to its predicted latency
    naive = [e for e in spans if e["pid"] == 1]
    assert naive[-1]["ts"] + naive[-1]["dur"] == pytest.approx(pol["naive"]["seconds"] * 1e6)
    assert (tmp_path / "attn_adreno740.png").stat().st_size > 1000


def test_compare_table(model_path, tmp_path, capsys):
    assert main(["compare", str(model_path), "--out", str(tmp_path), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "speedup over naive" in out and "search" in out


def test_compare_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "missing.onnx"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert main(["compare", "not_a_network", "--out", str(tmp_path)]) == 2
    assert main(["compare", "vit", "--tiny", "--device", "nope", "--out", str(tmp_path)]) == 2


def test_compare_writes_nothing_unless_asked(tmp_path, monkeypatch, capsys):
    from tests.smartmem_sim.test_explain_cli import _model_file

    (tmp_path / "m").mkdir()
    model = _model_file(tmp_path / "m")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["compare", str(model), "--json"]) == 0 and main(["compare", str(model)]) == 0
    assert not list(work.iterdir())
    assert "wrote" not in capsys.readouterr().out
    (work / "afile").write_text("x")
    assert main(["compare", str(model), "--out", str(work / "afile")]) == 2  # a file, not a folder: before any work


def test_heatmap_draws_each_policys_images_of_one_kernel_whose_texels_add_up(model_path, tmp_path, capsys):
    from smartmem_sim import memsim
    from smartmem_sim.commands.compare import find_step, kernel_texels
    from smartmem_sim.kernels.trace.sample import ProgramSampler
    from smartmem_sim.simulation import compile_for, load_graph

    graph = load_graph(str(model_path))
    plan = compile_for(graph, "smartmem", "adreno740")
    step = next(s for s in plan.steps if s.op_type == "MatMul")
    rc = main(["compare", str(model_path), "--json", "--out", str(tmp_path), "--heatmap", step.nodes[0],
               "--heatmap-policies", "naive,smartmem"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    files = [p.rsplit("/", 1)[-1] for p in doc["heatmap"]["files"]]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in step.nodes[0])
    assert files == [f"heatmap_{safe}.{e}" for e in ("png", "svg", "pdf")]
    assert (tmp_path / files[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert find_step(plan, step.id) is step and find_step(plan, step.nodes[0]) is step
    # the panels: every image the kernel names, and per level their misses are memsim's for the whole trace
    from smartmem_sim.simulation import simulate_plan

    result = simulate_plan(plan, "adreno740")
    panels = kernel_texels(result, step, "adreno740")
    profile = memsim.load_profile("adreno740")
    (s,) = ProgramSampler(profile.execution.texel_reuse).sample(plan, step, profile.cores,
                                                                 profile.execution.wave_size, 1 << 40, 2)
    trace = s.windows[0][0]
    assert {m.index for _, m in panels} == set(trace.surface.tolist())  # every surface it names, once
    report = profile.hierarchy().simulate(trace, memsim.SurfaceTable(s.surfaces, profile.image_layout))
    for lv in report.levels:
        assert sum(int(m.misses[lv.name].sum()) for _, m in panels) == lv.misses
    assert [lab for lab, m in panels if m.writes] == ["smartmem: written"]


def test_heatmap_needs_out_and_a_known_kernel(model_path, tmp_path, capsys):
    assert main(["compare", str(model_path), "--heatmap", "node_x"]) == 2
    assert "--heatmap needs --out" in capsys.readouterr().err
    assert main(["compare", str(model_path), "--out", str(tmp_path), "--heatmap", "no_such_kernel"]) == 2
    assert "no policy's plan has a step or node" in capsys.readouterr().err
    assert main(["compare", str(model_path), "--out", str(tmp_path), "--heatmap", "x", "--heatmap-policies",
                 "best"]) == 2
