"""A sweep config is checked when read, before any worker starts (smartmem_sim/sweep/config.py): encoding,
the models and devices it names, every variant applied to every device, NUL characters, and bounds. Each
error names the config file and the key (and the device and variant)."""
from pathlib import Path

import pytest

from smartmem_sim import cli
from smartmem_sim.errors import UserError
from smartmem_sim.sweep import read_config

HEAD = 'models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\n'


def _config(tmp_path, text=None, raw=None) -> Path:
    p = tmp_path / "grid.toml"
    p.write_bytes(raw if raw is not None else text.encode())
    return p


@pytest.mark.parametrize("text, match", [
    (HEAD.replace('"vit"', '"nosuchnet"'), r"key 'models': 'nosuchnet' is neither a zoo network"),
    (HEAD.replace('"vit"', '"missing.onnx"'), r"key 'models': model file missing.onnx does not exist"),
    (HEAD.replace('"adreno740"', '"nosuchdevice"'), r"key 'devices': 'nosuchdevice': unknown device profile"),
    (HEAD + '[[variants]]\n"levels.L1.size" = 1152921504606846976\n',
     r"key 'devices': 'adreno740' with \[\[variants\]\] #1: .*'levels.L1.size' = 1152921504606846976 is larger"),
    (HEAD + '[[variants]]\n"levels.L1.size" = 2048\n[[variants]]\n"levels.L1.line" = 48\n',
     r"'adreno740' with \[\[variants\]\] #2: .*'line' must be a power of two"),
    (HEAD + '[[variants]]\n"execution.wave_size" = -1\n', r"with \[\[variants\]\] #1: .*wave_size"),
    (HEAD + 'csv = "out\\u0000.csv"\n', r"key 'csv' holds a NUL character"),
    (HEAD + 'csv = "' + "x" * 300 + '.csv"\n', r"key 'csv': the name 'x+'\.\.\. is too long"),
    (HEAD + 'csv = "."\n', r"key 'csv' = '\.' names a folder"),
    (HEAD + 'csv = "grid.toml/out.csv"\n', r"key 'csv' = 'grid.toml/out.csv': grid.toml is a file"),
    (HEAD + 'cache_dir = "grid.toml"\n', r"key 'cache_dir' = 'grid.toml' is a file"),
    (HEAD + 'batch = 1000000\n', r"'batch' must be a positive integer \(at most 1024\)"),
    (HEAD + 'workers = 100000\n', r"'workers' must be a positive integer \(at most 256\)"),
    (HEAD.replace('["vit"]', str([f"m{i}.onnx" for i in range(400)]).replace("'", '"'))
     .replace('["naive"]', '["naive", "fusion", "smartmem", "search"]') + "batch = " + str(list(range(1, 100))) + "\n",
     r"the grid has 158,400 tasks; at most 100,000"),
])
def test_config_is_checked_when_read(tmp_path, monkeypatch, text, match):
    monkeypatch.chdir(tmp_path)  # the config's relative paths are relative to the current directory
    p = _config(tmp_path, text)
    with pytest.raises(UserError, match=match) as err:
        read_config(p)
    assert str(err.value).startswith(f"{p}: ") and "\n" not in str(err.value)


def test_not_utf8_and_a_folder_are_named(tmp_path):
    p = _config(tmp_path, raw=HEAD.encode().replace(b"vit", b"v\xffit"))
    with pytest.raises(UserError, match=r"grid\.toml: not UTF-8 text"):
        read_config(p)
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(UserError, match=r"dir\.toml: cannot read it"):
        read_config(tmp_path / "dir.toml")


def test_a_bad_variant_exits_2_before_any_worker(tmp_path, capsys, monkeypatch):
    import smartmem_sim.sweep as sweep

    monkeypatch.setattr(sweep, "execute", lambda *a, **k: pytest.fail("a worker started"))
    p = _config(tmp_path, HEAD + '[[variants]]\n"cores" = 0\n')
    assert cli.main(["sweep", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(p) in err and "'cores'" in err


def test_zoo_names_and_existing_files_are_accepted_and_tiny_is_an_axis(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"checked by the task that loads it")
    p = _config(tmp_path, HEAD.replace('["vit"]', f'["vit", "{tmp_path / "m.onnx"}"]'))
    assert [t.model for t in read_config(p).tasks] == ["vit", str(tmp_path / "m.onnx")]
    # the task key knows no NAME.tiny (sweep/task.py): refused when read, naming the axis to use instead
    p = _config(tmp_path, HEAD.replace('["vit"]', '["vit.tiny"]'))
    with pytest.raises(UserError, match=r"'vit.tiny' is neither .*write 'vit' and tiny = true"):
        read_config(p)
