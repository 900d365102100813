"""`smartmem cache-study`: output files, their agreement with each other, and one-line errors (exit 2)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartmem_sim.cli import main

SMALL = ["--device", "adreno740", "--width", "64", "--height", "48"]


def test_writes_csv_json_png_that_agree(tmp_path, capsys):
    out = tmp_path / "study"
    rc = main(["cache-study", *SMALL, "--patterns", "row,column", "--layouts", "linear,tiled:4x2", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "level" in printed and "row" in printed and "column" in printed
    with open(out / "cache_study.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    data = json.loads((out / "cache_study.json").read_text())
    assert data["device"] == "adreno740" and data["image"] == {"width": 64, "height": 48, "dtype": "fp16",
                                                                "texel_bytes": 8}
    assert {r["layout"] for r in rows} == {"linear", "tiled 4x2"}
    assert {r["pattern"] for r in rows} == {"row", "column"}
    levels = {r["level"] for r in rows}
    assert len(rows) == 2 * 2 * len(levels) == len(data["rows"])
    for r, j in zip(rows, data["rows"], strict=True):
        assert int(r["hits"]) + int(r["misses"]) == int(r["accesses"]) == j["accesses"]
        assert (r["layout"], r["pattern"], r["level"], int(r["misses"])) == (j["layout"], j["pattern"], j["level"],
                                                                              j["misses"])
    first_level = data["reports"][0]["report"]["levels"][0]
    assert first_level["accesses"] == 64 * 48  # one load per texel reaches the texture L1
    assert (out / "cache_study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_json_flag_prints_the_json_it_writes(tmp_path, capsys):
    rc = main(["cache-study", *SMALL, "--patterns", "tiled", "--layouts", "device", "--out", str(tmp_path), "--json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "cache_study.json").read_text())
    assert printed["rows"] == written["rows"] and printed["rows"][0]["pattern"] == "tiled"


@pytest.mark.parametrize("extra, needle", [
    (["--device", "no_such_gpu"], "no_such_gpu"),
    (["--patterns", "row,zigzag"], "unknown pattern(s) zigzag"),
    (["--width", "0"], "--width must be a positive integer"),
    (["--height", "-3"], "--height must be a positive integer"),
    (["--dtype", "int8"], "--dtype must be fp16 or fp32"),
    (["--layouts", "swizzled"], "unknown layout 'swizzled'"),
    (["--workgroup", "8by8"], "--workgroup must look like 8x8"),
])
def test_bad_options_give_one_line_and_exit_2(tmp_path, capsys, extra, needle):
    args = ["--device", "adreno740", "--width", "16", "--height", "16", "--out", str(tmp_path / "o"), *extra]
    assert main(["cache-study", *args]) == 2  # a later repeat of an option wins
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartmem cache-study: error:") and needle in lines[0]
    assert not (tmp_path / "o").exists()


def test_the_command_line_exits_2_with_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "smartmem_sim.cli", "cache-study", "--device", "adreno740", "--width", "0",
         "--out", "unused"], capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "smartmem cache-study: error: --width must be a positive integer, got 0"


def test_heatmap_draws_one_figure_per_pattern_whose_texels_add_up_to_the_table(tmp_path, capsys):
    from smartmem_sim.memsim.study import run_study

    out = tmp_path / "hm"
    rc = main(["cache-study", *SMALL, "--patterns", "row,column", "--layouts", "linear,tiled:4x2", "--out", str(out),
               "--heatmap", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [Path(p).name for p in data["heatmaps"]] == ["heatmap_row.png", "heatmap_column.png"]
    for stem in ("heatmap_row", "heatmap_column"):
        for ext in (".png", ".svg", ".pdf"):
            assert (out / (stem + ext)).stat().st_size > 0
    assert (out / "heatmap_row.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the maps the figures draw: a texel's misses summed over the image are the run's level counts
    result = run_study("adreno740", 64, 48, "fp16", ["column"], ["linear", "tiled:4x2"], heatmaps=True)
    for run in result.runs:
        assert run.texels.shape == (48, 64) and int(run.texels.rows.sum()) == 64 * 48
        for lv in run.report.levels:
            assert int(run.texels.misses[lv.name].sum()) == lv.misses
    linear, tiled = result.runs
    # a column walk over one-row lines misses on every texel; over 4x2 tiles on every other texel row
    assert (linear.texels.misses["L1"] == 1).all()
    assert (tiled.texels.misses["L1"][0::2] == 1).all() and (tiled.texels.misses["L1"][1::2] == 0).all()
