"""`smartmem sweep` (smartmem_sim/commands/sweep.py): the shipped smoke config end to end on a LocalCluster,
a rerun served from the cache, a failing task (exit 1), config errors (exit 2)."""
from __future__ import annotations

import csv
from pathlib import Path

import onnx
import pytest

from smartmem_sim import cli
from smartmem_sim.simulation import simulate_model
from smartmem_sim.sweep import code_version
from tests.compiler.search.graphs import attention

pytest.importorskip("distributed")

SMOKE = Path(__file__).resolve().parents[3] / "experiments" / "sweeps" / "smoke.toml"


def test_sweep_is_a_command():
    assert "sweep" in cli.COMMAND_MODULES


def test_smoke_config_end_to_end_then_from_the_cache(tmp_path, capsys):
    out_csv = tmp_path / "out" / f"{SMOKE.stem}.csv"
    args = ["sweep", str(SMOKE), "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "out"), "--no-progress"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "device adreno740 - predicted ms" in text and "4 computed, 0 cached, 0 failed" in text
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 4 and not any(r["error"] for r in rows)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 4
    # an independent run of one task through the plain API gives the same prediction
    r = rows[0]
    ref = simulate_model(r["model"], r["device"], r["policy"], tiny=True)
    assert float(r["ms"]) == pytest.approx(ref.seconds * 1e3, rel=1e-9)
    for r in rows:  # smartmem never executes more layout transforms than naive
        assert int(r["transforms"]) <= int(next(x for x in rows if x["model"] == r["model"]
                                                and x["policy"] == "naive")["transforms"])

    out_csv.unlink()
    before = code_version()
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    if code_version() == before == rows[0]["code_version"]:
        assert "0 computed, 4 cached, 0 failed" in text
    else:  # someone edited the sources meanwhile: a new code version, so every result is recomputed
        assert "4 computed, 0 cached, 0 failed" in text
    assert len(list(csv.DictReader(out_csv.open()))) == 4


def test_a_failing_task_exits_1_and_keeps_the_others(tmp_path, capsys):
    good, bad = tmp_path / "attn.onnx", tmp_path / "broken.onnx"
    onnx.save(attention(), str(good))
    bad.write_bytes(b"not onnx")
    config = tmp_path / "grid.toml"
    config.write_text(f'models = ["{good}", "{bad}"]\ndevices = ["adreno740"]\npolicies = ["naive"]\n'
                      f'csv = "{tmp_path / "out.csv"}"\nworkers = 1\n')
    assert cli.main(["sweep", str(config), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "1 computed, 0 cached, 1 failed" in captured.out
    assert f"failed: {bad} / adreno740 / naive:" in captured.err
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [bool(r["error"]) for r in rows] == [False, True]


def test_config_errors_exit_2_naming_file_and_key(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\nworker = 2\n')
    assert cli.main(["sweep", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(config) in err and "unknown key(s) worker" in err

    config.write_text('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\n'
                      '[[variants]]\n"levels.L7.size" = 1\n')
    assert cli.main(["sweep", str(config), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "override 'levels.L7.size' is not a field" in err


@pytest.mark.parametrize("flag", ["-o", "--cache-dir"])
def test_output_folders_are_checked_before_any_task(tmp_path, capsys, flag):
    (tmp_path / "a_file").write_text("x")
    assert cli.main(["sweep", str(SMOKE), flag, str(tmp_path / "a_file"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {tmp_path / 'a_file'}: is a file" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["sweep", str(SMOKE), flag, str(tmp_path / "a_file" / "below"), "--no-progress"]) == 2
    assert "cannot be made" in capsys.readouterr().err
