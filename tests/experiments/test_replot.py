"""Every script's --replot draws its figure from the committed CSV (no simulation): PNG, SVG and PDF."""
from __future__ import annotations

import shutil

import pytest

from experiments import (
    cache_sensitivity,
    common,
    fig7_memory,
    fig8_9_ablation,
    fig10_batch,
    fig11_portability,
    fig12_roofline,
    table1_transform_share,
    table7_op_counts,
    table8_simulated,
)

SCRIPTS = {
    "table1/table1_transform_share": table1_transform_share, "table7/table7_op_counts": table7_op_counts,
    "table8/table8_adreno740": table8_simulated, "fig7/fig7_memory": fig7_memory,
    "fig8_9/fig8_9_ablation": fig8_9_ablation, "fig10/fig10_batch": fig10_batch,
    "fig11/fig11_portability": fig11_portability, "fig12/fig12_roofline": fig12_roofline,
    "cache_sensitivity/cache_sensitivity": cache_sensitivity,
}


@pytest.mark.parametrize("stem", sorted(SCRIPTS))
def test_replot_draws_the_three_files_from_the_csv(stem, tmp_path):
    shutil.copy(common.RESULTS / f"{stem}.csv", tmp_path)
    name = stem.split("/")[1]
    assert SCRIPTS[stem].main(["--replot", "--out", str(tmp_path)]) == 0
    for fmt in ("png", "svg", "pdf"):
        assert (tmp_path / f"{name}.{fmt}").stat().st_size > 0
    # the commit is in the SVG's metadata, not drawn (no --stamp)
    svg = (tmp_path / f"{name}.svg").read_text()
    assert "commit " in svg.split("</metadata>")[0] and "commit " not in svg.split("</metadata>")[1]
