"""The experiment scripts' pure functions on hand-made sweep records (no simulation)."""
from __future__ import annotations

import math

import pytest

from experiments import (
    cache_sensitivity,
    common,
    fig8_9_ablation,
    fig12_roofline,
    make_figures,
    per_op_time,
    table1_transform_share,
)
from experiments import table8_simulated as table8
from smartmem_sim import memsim


def rec(model, policy, seconds, tiny=True, dram=1000.0, device="adreno740", batch=1, kernels=()):
    return {"model": model, "policy": policy, "seconds": seconds, "tiny": tiny, "dram_bytes": dram,
            "device": device, "batch": batch, "per_kernel": list(kernels)}


def kern(step, op_type, seconds, l1=(10, 2)):
    return {"step": step, "op_type": op_type, "seconds": seconds,
            "levels": {"L1": {"accesses": l1[0], "misses": l1[1], "bytes_filled": 0}}}


def test_table1_splits_copies_into_implicit_and_explicit():
    r = rec("swin", "naive", 10.0, kernels=[kern("conv", "Conv", 6.0), kern("copy_t@red2", "Copy", 1.0),
                                            kern("transpose_3", "Copy", 3.0)])
    row = table1_transform_share.share_row(r, common.paper()["table1"]["models"]["swin"])
    assert (row["implicit_pct"], row["explicit_pct"], row["compute_pct"]) == pytest.approx((10, 30, 60))
    assert (row["implicit_kernels"], row["explicit_kernels"]) == (1, 1)
    assert row["paper_transform_pct"] == pytest.approx(14.7 + 54.1)


def test_per_op_time_sums_kernels_by_operator_type():
    r = rec("swin", "fusion", 10.0, kernels=[kern("m1", "MatMul", 3.0), kern("ln", "LayerNormalization", 1.0),
                                             kern("m2", "MatMul", 4.0), kern("c", "Copy", 2.0)])
    rows = per_op_time.op_rows(r)
    assert [(x["op_type"], x["kernels"]) for x in rows] == [("MatMul", 2), ("Copy", 1), ("LayerNormalization", 1)]
    assert [x["ms"] for x in rows] == pytest.approx([7000.0, 2000.0, 1000.0])
    assert sum(x["share_pct"] for x in rows) == pytest.approx(100.0)


def test_table8_speedups_geomean_and_paper_ratios():
    per = {"swin": {p: rec("swin", p, s) for p, s in zip(table8.POLICIES, (8.0, 4.0, 2.0, 1.0), strict=True)},
           "vit": {p: rec("vit", p, s) for p, s in zip(table8.POLICIES, (2.0, 2.0, 1.0, 1.0), strict=True)}}
    rows = table8.table_rows(per, {"swin": {"over_naive": 2.09, "over_fusion": 2.48}})
    swin, vit, geo = rows
    assert swin["smartmem_over_naive"] == 4.0 and swin["search_over_smartmem"] == 2.0
    assert swin["paper_smartmem_over_mnn"] == pytest.approx(372 / 30.6)
    assert swin["h100_smartmem_over_fusion"] == 2.48 and vit["h100_smartmem_over_fusion"] is None
    assert geo["model"] == "geomean" and geo["smartmem_over_naive"] == pytest.approx((4.0 * 2.0) ** 0.5)
    assert geo["paper_smartmem_over_mnn"] == 7.9
    # the validation columns: predicted ms over the paper's measured ms (swin 8 s naive vs MNN's 372 ms)
    assert swin["predicted_naive_over_paper_mnn"] == pytest.approx(8000 / 372)
    assert swin["predicted_search_over_paper_smartmem"] == pytest.approx(1000 / 30.6)
    assert geo["predicted_fusion_over_paper_dnnfusion"] == pytest.approx(
        (swin["predicted_fusion_over_paper_dnnfusion"] * vit["predicted_fusion_over_paper_dnnfusion"]) ** 0.5)


def test_table8_energy_columns_in_millijoules():
    per = {"swin": {p: {**rec("swin", p, 1.0), "energy_joules": e}
                    for p, e in zip(table8.POLICIES, (4e-3, 2e-3, 1e-3, None), strict=True)}}
    swin, geo = table8.table_rows(per, {})
    assert (swin["naive_mj"], swin["fusion_mj"], swin["smartmem_mj"]) == pytest.approx((4.0, 2.0, 1.0))
    assert "search_mj" not in swin and "naive_mj" not in geo  # unknown energy stays empty; no geomean of mJ


def test_h100_speedups_read_a_measurement_csv(tmp_path):
    f = tmp_path / "h100_models.csv"
    f.write_text("# a comment line\nmodel,policy,total_device_ms\nswin,naive,20.5\nswin,fusion,24.0\n"
                 "swin,smartmem,10.25\nswin,search,5.125\nvit,naive,3.0\n")
    h = common.h100_speedups(f)
    assert h["swin"] == {"over_naive": pytest.approx(2.0), "over_fusion": pytest.approx(24.0 / 10.25),
                         "search_over_smartmem": pytest.approx(2.0)}
    assert "search_over_smartmem" not in h["vit"]
    assert math.isnan(h["vit"]["over_naive"]) and common.h100_speedups(tmp_path / "absent.csv") == {}


def test_ablation_steps_multiply_to_the_total():
    per = {"swin": {p: rec("swin", p, s) for p, s in zip(fig8_9_ablation.STEPS, (8.0, 4.0, 3.0, 2.0), strict=True)},
           "regnet": {p: rec("regnet", p, 1.0) for p in fig8_9_ablation.STEPS}}
    swin, regnet = fig8_9_ablation.ablation_rows(per)
    assert swin["elimination_x"] * swin["selection_x"] * swin["mapping_x"] == pytest.approx(swin["total_over_fusion"])
    assert swin["paper_elimination"] == "1.5-2.7" and "paper_elimination" not in regnet
    assert regnet["paper_total_over_dnnfusion"] == 1.3


def test_roofline_rows_and_profile_roofs():
    roof = fig12_roofline.roofs("adreno740")
    assert roof["peak_mac_s"] == pytest.approx(1536 * 680e6) and roof["dram_b_s"] == 55e9
    assert roof["l1_b_s"] == pytest.approx(64 * 680e6 * 12)
    per = {"m": {"smartmem": rec("m", "smartmem", 1e-3, dram=1e6)}}
    (row,) = fig12_roofline.roofline_rows(per, {"m": 10**9}, roof)
    assert row["intensity_mac_per_byte"] == 1000 and row["attained_gmac_s"] == pytest.approx(1000)
    assert row["roof_gmac_s"] == pytest.approx(min(1536 * 0.68, 1000 * 55))


def test_cache_sensitivity_tasks_and_rows():
    tasks = cache_sensitivity.sized_tasks(["resnext"], "adreno740", True, ["L1"], [0.5, 1.0])
    half_l1 = memsim.load_profile("adreno740").levels[0].size // 2
    assert [t.overrides for t in tasks] == [(("levels.L1.size", half_l1),)] * 3 + [()] * 3
    secs = {("naive", half_l1): 4.0, ("fusion", half_l1): 3.0, ("smartmem", half_l1): 2.0,
            ("naive", None): 2.0, ("fusion", None): 1.5, ("smartmem", None): 1.0}
    records = [rec("resnext", t.policy, secs[(t.policy, t.overrides[0][1] if t.overrides else None)],
                   kernels=[kern("k", "Conv", 1.0)]) for t in tasks]
    rows = cache_sensitivity.sensitivity_rows(tasks, records, "adreno740")
    half = [r for r in rows if r["factor"] == 0.5]
    assert {r["policy"]: r["ms_vs_default"] for r in half} == {"naive": 2.0, "fusion": 2.0, "smartmem": 2.0}
    assert all(r["smartmem_over_fusion"] == 1.5 for r in rows)
    with pytest.raises(common.UserError, match="not a cache level"):
        cache_sensitivity.sized_tasks(["resnext"], "adreno740", True, ["L7"], [1.0])


def test_make_figures_commands():
    cmd = make_figures.command("fig7", tiny=True, workers=1)
    assert cmd[1].endswith("fig7_memory.py") and "--tiny" in cmd and cmd[cmd.index("--workers") + 1] == "1"
    assert "--tiny" not in make_figures.command("fig7", tiny=False, workers=2)
    with pytest.raises(common.UserError, match="unknown script"):
        make_figures.main(["--only", "fig99"])
