"""Predicted energy in `smartmem compare --json`: recomputed here from memsim's own counts of every kernel's
whole trace (bytes read and stored at each level, DRAM bytes) times the pJ/B read from the profile's TOML
with tomllib, not through the cost model or memsim's timing module; the sources printed are the TOML's."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import onnx
import pytest

from smartmem_sim import memsim
from smartmem_sim.cli import main
from smartmem_sim.kernels.trace.sample import ProgramSampler
from smartmem_sim.simulation import compile_for, load_graph
from tests.compiler.search.graphs import attention

DEVICE = "adreno740"
TOML = Path(memsim.__file__).parent / "devices" / f"{DEVICE}.toml"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "attn.onnx"
    onnx.save(attention(), str(path))
    return path


def _strict(text: str) -> dict:
    def refuse(name):
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_compare_json_energy_is_bytes_times_the_profiles_pj_per_byte(model_path, capsys):
    assert main(["compare", str(model_path), "--profile", DEVICE, "--json", "--per-op"]) == 0
    doc = _strict(capsys.readouterr().out)
    toml = tomllib.loads(TOML.read_text())
    pj = {lv["name"]: lv["energy_pj_per_byte"] for lv in toml["levels"]} | {"DRAM": toml["dram"]["energy_pj_per_byte"]}
    src = {lv["name"]: lv["source"]["energy_pj_per_byte"] for lv in toml["levels"]} | {
        "DRAM": toml["dram"]["source"]["energy_pj_per_byte"]}
    assert doc["energy_pj_per_byte"] == {k: {"pj_per_byte": pj[k], "source": src[k]} for k in pj}

    profile = memsim.load_profile(DEVICE)
    graph = load_graph(str(model_path))
    for policy in ("naive", "fusion", "smartmem"):  # search's plan depends on the cost model's prices
        plan = compile_for(graph, policy, DEVICE)
        want = 0.0
        per_step = {}
        for step in plan.steps:
            step_pj = 0.0
            for s in ProgramSampler(profile.execution.texel_reuse).sample(
                    plan, step, profile.cores, profile.execution.wave_size, 20_000, 3):
                # this model's kernels are small enough to be simulated whole by compare: no sampling to redo
                assert len(s.windows) == 1 and s.windows[0][1] == 0 and s.counted[0] == s.items, step.id
                rep = profile.hierarchy().simulate(s.windows[0][0], memsim.SurfaceTable(s.surfaces,
                                                                                        profile.image_layout))
                step_pj += sum((lv.bytes_read + lv.bytes_stored) * pj[lv.name] for lv in rep.levels)
                step_pj += (rep.dram_bytes_read + rep.dram_bytes_written) * pj["DRAM"]
            per_step[step.id] = step_pj * 1e-12
            want += step_pj
        got = next(p for p in doc["policies"] if p["policy"] == policy)
        assert got["energy_joules"] == pytest.approx(want * 1e-12, rel=1e-9)
        assert got["energy_joules"] > 0
        ops = next(b for b in doc["per_op"] if b["policy"] == policy)
        for k in ops["top_kernels"] + ops["transforms"]:
            assert k["energy_joules"] == pytest.approx(per_step[k["step"]], rel=1e-9), k["step"]
    by = {p["policy"]: p["energy_joules"] for p in doc["policies"]}
    assert by["naive"] > by["smartmem"]  # the executed layout transforms move bytes too


def test_the_table_prints_energy_and_each_per_byte_number_with_its_source(model_path, capsys):
    assert main(["compare", str(model_path), "--profile", DEVICE]) == 0
    out = capsys.readouterr().out
    assert "energy uJ" in out
    toml = tomllib.loads(TOML.read_text())
    for lv in toml["levels"]:
        assert f"{lv['name']}: {lv['energy_pj_per_byte']:g} pJ/B ({lv['source']['energy_pj_per_byte']})" in out
    assert f"DRAM: {toml['dram']['energy_pj_per_byte']:g} pJ/B" in out


def test_a_profile_without_energy_sources_says_unsourced():
    from smartmem_sim.simulation import energy_sources

    profile = memsim.load_profile(DEVICE)
    from dataclasses import replace

    bare = replace(profile, sources={k: v for k, v in profile.sources.items() if "energy" not in k})
    table = energy_sources(bare)
    assert {v["source"] for v in table.values()} == {"unsourced"}
    assert table["DRAM"]["pj_per_byte"] == profile.dram.energy_pj_per_byte


def test_api_records_carry_energy_and_kernels_add_up(model_path):
    import smartmem_sim as sm

    cmp = sm.compare(str(model_path), DEVICE, policies=("naive", "smartmem"))
    for rec, r in zip(cmp.to_records(), cmp.results, strict=True):
        assert rec["energy_joules"] == r.energy_joules > 0
        per_kernel = [k["energy_joules"] for k in r.to_records()]
        assert len(per_kernel) == len(r.kernels) and all(e > 0 for e in per_kernel)
        assert sum(per_kernel) == pytest.approx(r.energy_joules, rel=1e-12)
    fig = cmp.plot()
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:2] == ["operator kernels", "layout transforms"] and "sampling error bound" in labels[2]


def test_a_cost_model_without_energy_gives_none_not_a_number(model_path):
    from smartmem_sim.compiler.costs.analytical import AnalyticalCost
    from smartmem_sim.jsonout import dumps
    from smartmem_sim.simulation import simulate_plan

    plan = compile_for(load_graph(str(model_path)), "smartmem", DEVICE)
    r = simulate_plan(plan, cost=AnalyticalCost(DEVICE))
    assert r.energy_joules is None and r.summary()["energy_joules"] is None
    _strict(dumps(r.to_dict()))
