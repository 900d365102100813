"""smartmem_sim/sweep/report.py: the CSV (read back with the csv module) and the summary table."""
from __future__ import annotations

import csv

from smartmem_sim.sweep.report import summary, write_csv


def record(model, device, policy, ms, overrides=()):
    return {"model": model, "device": device, "policy": policy, "tiny": True, "batch": 1, "storage": "fp16",
            "overrides": [list(o) for o in overrides], "seconds": ms / 1e3, "rel_error": 0.01,
            "dram_bytes": 2e6, "kernels": 10, "launches": 10, "transforms": 2, "transform_seconds": 1e-4,
            "misses": {"L1": 100.0, "L2": 50.0}, "wall_s": 1.5, "cpu_s": 1.2, "key": f"k-{model}-{policy}",
            "code_version": "abc", "energy_joules": ms * 1e-6}


RECORDS = [
    record("vit", "adreno740", "naive", 2.0),
    record("vit", "adreno740", "smartmem", 1.0),
    record("swin", "adreno740", "naive", 4.0),
    {"model": "swin", "device": "adreno740", "policy": "smartmem", "tiny": True, "batch": 1, "storage": "fp16",
     "overrides": [], "key": "k-swin-smartmem", "error": "RuntimeError: boom"},
    record("vit", "mali_g57", "naive", 8.0),
]


def test_csv_has_one_row_per_record_with_misses_per_level(tmp_path):
    path = tmp_path / "out" / "sweep.csv"
    write_csv(RECORDS, path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(RECORDS)
    assert rows[0]["model"] == "vit" and float(rows[0]["ms"]) == 2.0 and float(rows[0]["dram_mb"]) == 2.0
    assert float(rows[0]["misses_L1"]) == 100.0 and float(rows[0]["transform_ms"]) == 0.1
    assert float(rows[0]["energy_joules"]) == 2e-6 and rows[3]["energy_joules"] == ""
    assert rows[3]["error"] == "RuntimeError: boom" and rows[3]["ms"] == ""
    assert [r["device"] for r in rows] == [r["device"] for r in RECORDS]


def test_csv_names_overrides(tmp_path):
    path = tmp_path / "sweep.csv"
    write_csv([record("vit", "adreno740", "naive", 1.0, (("levels.L1.size", 8192),))], path)
    assert next(csv.DictReader(path.open()))["overrides"] == '{"levels.L1.size": 8192}'


def test_summary_is_model_by_policy_per_device():
    text = summary(RECORDS)
    blocks = text.strip().split("\n\n")
    assert blocks[0].splitlines()[0] == "device adreno740 - predicted ms"
    assert blocks[0].splitlines()[1].split() == ["model", "naive", "smartmem"]
    assert blocks[0].splitlines()[2].split() == ["vit", "2.000", "1.000"]
    assert blocks[0].splitlines()[3].split() == ["swin", "4.000", "FAILED"]
    assert blocks[1].splitlines()[0] == "device mali_g57 - predicted ms"
    assert blocks[1].splitlines()[2].split() == ["vit", "8.000", "-"]


def test_summary_titles_say_what_varies():
    text = summary([record("vit", "adreno740", "naive", 1.0), record("vit", "adreno740", "naive", 2.0,
                                                                       (("cores", 6),))])
    titles = [b.splitlines()[0] for b in text.strip().split("\n\n")]
    assert titles == ['device adreno740, overrides [] - predicted ms',
                      'device adreno740, overrides [["cores", 6]] - predicted ms']
