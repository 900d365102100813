"""Sweep records as a CSV (one row per task) and a text summary (model x policy, predicted ms, one block
per device and profile variant).

A record (compute.py: SimulationResult.to_dict plus the task's fields) carries ``energy_joules``: memsim's
estimate of the memory traffic's energy (bytes through each level and DRAM x the profile's pJ/B, whose
values and sources are under ``energy_pj_per_byte``); the CSV has it as a column (empty where unknown)."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from smartmem_sim.atomic import write_text

TASK_COLUMNS = ("model", "device", "policy", "tiny", "batch", "storage", "overrides")
RESULT_COLUMNS = ("ms", "rel_error", "dram_mb", "kernels", "launches", "transforms", "transform_ms", "energy_joules",
                  "wall_s", "cpu_s", "key", "code_version", "error")


def csv_rows(records: Sequence[dict]) -> tuple[list[str], list[dict]]:
    """Header and rows; misses per cache level become columns ``misses_<level>`` (union over records)."""
    levels: list[str] = []
    for r in records:
        for lv in r.get("misses", {}):
            if lv not in levels:
                levels.append(lv)
    header = [*TASK_COLUMNS, *RESULT_COLUMNS[:-5], *[f"misses_{lv}" for lv in levels], *RESULT_COLUMNS[-5:]]
    rows = []
    for r in records:
        row = {c: r.get(c, "") for c in TASK_COLUMNS}
        row["overrides"] = json.dumps(dict(r.get("overrides", []))) if r.get("overrides") else ""
        if "error" in r:
            row.update(key=r.get("key", ""), error=r["error"])
        else:
            row.update(ms=r["seconds"] * 1e3, rel_error=r["rel_error"], dram_mb=r["dram_bytes"] / 1e6,
                       kernels=r["kernels"], launches=r["launches"], transforms=r["transforms"],
                       transform_ms=r["transform_seconds"] * 1e3,
                       energy_joules="" if r.get("energy_joules") is None else r["energy_joules"],
                       wall_s=r.get("wall_s", ""), cpu_s=r.get("cpu_s", ""),
                       key=r["key"],
                       code_version=r.get("code_version", ""), error="")
            row.update({f"misses_{lv}": v for lv, v in r.get("misses", {}).items()})
        rows.append(row)
    return header, rows


def write_csv(records: Sequence[dict], path: str | Path) -> None:
    header, rows = csv_rows(records)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(path, buf.getvalue())


def summary(records: Sequence[dict]) -> str:
    """Predicted ms per model (rows) and policy (columns), one block per device (and variant, tiny, batch,
    storage when the grid varies them); failed tasks show as FAILED."""
    blocks: dict[tuple, dict[str, dict[str, str]]] = {}
    policies: list[str] = []
    for r in records:
        setting = (r["device"], json.dumps(r.get("overrides") or []), r.get("tiny"), r.get("batch"), r.get("storage"))
        row = blocks.setdefault(setting, {}).setdefault(r["model"], {})
        row[r["policy"]] = "FAILED" if "error" in r else f"{r['seconds'] * 1e3:.3f}"
        if r["policy"] not in policies:
            policies.append(r["policy"])
    varied = [len({s[i] for s in blocks}) > 1 for i in range(5)]
    out = []
    for (device, overrides, tiny, batch, storage), rows in blocks.items():
        title = [f"device {device}"]
        for flag, text in zip(varied[1:], (f"overrides {overrides}", f"tiny={tiny}", f"batch={batch}",
                                           f"storage={storage}"), strict=True):
            if flag:
                title.append(text)
        out.append(", ".join(title) + " - predicted ms")
        width = max(len("model"), *(len(m) for m in rows))
        cols = [max(len(p), 9) for p in policies]
        out.append("  ".join([f"{'model':<{width}}", *(f"{p:>{c}}" for p, c in zip(policies, cols, strict=True))]))
        for model, vals in rows.items():
            out.append("  ".join([f"{model:<{width}}",
                                  *(f"{vals.get(p, '-'):>{c}}" for p, c in zip(policies, cols, strict=True))]))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
