"""Validation summaries on hand-made rows, and the rows CSV round trip."""
from __future__ import annotations

import pytest

from smartmem_sim.calibration import validate as v


def row(policy, node, op, layouts, meas, pred, step="s"):
    return v.KernelRow("m", policy, "fp32", step, node, op, 1, layouts, meas, pred, 1.0, "32768x32768")


def test_summary_counts():
    rows = [row("naive", "n1", "MatMul", "a->b", 100, 105), row("smartmem", "n1", "MatMul", "c->d", 50, 80),
            row("naive", "n2", "Add", "a->a", 10, 20), row("naive", "", "Copy", "a->c", 5, 5.2)]
    s = v.summarize(rows)
    assert s["kernels"] == 4 and s["within"] == pytest.approx(0.5)
    assert s["per_op"]["MatMul"]["kernels"] == 2 and s["per_op"]["Add"]["within"] == 0.0
    # n1 under two layouts: measured 100 > 50, predicted 105 > 80: the one pair agrees
    assert s["layout_pairs"] == (1, 1)
    lines = v.report_lines(s)
    assert "within +-10%: 50.0%" in lines[0] and "1/1 pairs agree" in lines[-1]


def test_summary_needs_rows():
    with pytest.raises(v.UserError, match="no kernel"):
        v.summarize([])


def test_rows_csv_round_trip(tmp_path):
    rows = [row("naive", "n1", "MatMul", "a->b", 100.5, 105.0, "k_1")]
    rows.append(v.replace(rows[0], kernel_hash="0123456789ab"))
    path = tmp_path / "r.csv"
    path.write_text(v.rows_csv(rows))
    back = v.read_rows(str(path))
    assert back[0].step == "k_1" and back[0].measured_us == 100.5 and back[0].image_max == "32768x32768"
    assert back[0].kernel_hash == "" and back[1].kernel_hash == "0123456789ab"
    # a CSV written before the hash column existed still reads (its rows are unchecked)
    old = "\n".join(",".join(f for f in line.split(",")[:-2] + line.split(",")[-1:])
                    for line in path.read_text().splitlines()[:2]) + "\n"
    assert "kernel_hash" not in old.splitlines()[0]
    (tmp_path / "old.csv").write_text(old)
    assert v.read_rows(str(tmp_path / "old.csv"))[0].kernel_hash == ""


def test_read_rows_names_bad_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("model,policy\nm,naive\n")
    with pytest.raises(v.UserError, match="line 2"):
        v.read_rows(str(path))
