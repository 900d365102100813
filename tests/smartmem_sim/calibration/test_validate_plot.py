"""Redrawing a validate plot from its rows CSV: three files, every op type in the legend, the CSV's numbers."""
from __future__ import annotations

import pytest

from smartmem_sim.calibration import validate as v
from smartmem_sim.calibration import validate_plot


def rows_file(tmp_path, ops):
    rows = [v.KernelRow("m", "naive", "fp32", f"s{i}", f"n{i}", op, 1, "a->b", 10.0 + i, 10.5 + 2 * i, 1.0, "")
            for i, op in enumerate(ops)]
    path = tmp_path / "validate.csv"
    path.write_text(v.rows_csv(rows))
    return path, rows


def test_replot_writes_three_files_with_every_op_type_in_the_legend(tmp_path, monkeypatch):
    # more op types than the old plot's nine legend entries, some unknown to OP_ORDER
    ops = ["MatMul", "Conv", "Copy", "Add", "Mul", "Softmax", "LayerNormalization", "Gemm", "Gelu", "ReduceMean",
           "Pad", "Concat", "Zeta", "Alpha"]
    csv_path, rows = rows_file(tmp_path, ops)
    seen = {}
    import smartmem_sim.figure_style as fs

    original = fs.save  # plot imports it when it runs, so the spy below sees the finished figure

    def spy(fig, path, **kw):
        seen["labels"] = [t.get_text() for t in fig.legends[0].get_texts()]
        seen["title"] = fig.axes[0].get_title()
        return original(fig, path, **kw)

    monkeypatch.setattr(fs, "save", spy)
    written = validate_plot.replot(csv_path, tmp_path / "out.png", "dev vs here")
    assert sorted(p.suffix for p in written) == [".pdf", ".png", ".svg"]
    assert all(p.stat().st_size > 0 for p in written)
    for op in ops:
        assert f"{op} (1)" in seen["labels"]
    assert "predicted = measured" in seen["labels"] and "within +-10% of measured" in seen["labels"]
    # the share within the band comes from the CSV's predicted times: only row 0 (10 vs 10.5) is within 10%
    assert "7% of 14 kernels" in seen["title"].replace("\n", " ")


def test_op_styles_are_distinct_and_stable():
    styles = v.op_styles(["Zeta", "MatMul", "Copy", "Alpha"])
    assert len(set(styles.values())) == 4
    assert v.op_styles(["MatMul"])["MatMul"] == styles["MatMul"]
    assert len(set(v.op_styles(v.OP_ORDER).values())) == len(v.OP_ORDER)


def test_read_plot_rows_keeps_predictions_and_refuses_missing_files(tmp_path):
    csv_path, rows = rows_file(tmp_path, ["Add", "Mul"])
    back = validate_plot.read_plot_rows(csv_path)
    assert [r.predicted_us for r in back] == [r.predicted_us for r in rows]
    with pytest.raises(v.UserError, match="no such file"):
        validate_plot.read_plot_rows(tmp_path / "absent.csv")
