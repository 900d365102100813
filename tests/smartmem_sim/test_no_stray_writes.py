"""No command writes outside its named outputs: every file under the working folder (the current directory
during the run, so a default output would land there too) is hashed before and after each command; only the
named outputs may appear, and no existing file may change.

Covered: compile, zoo export, compare (--out, --timeline), cache-study, sweep (-o, --cache-dir), and the
commands that write nothing (inspect, explain, explain-time, profiles, zoo list). Not covered: run, validate,
calibrate and refit (they need an OpenCL device or measured rows; their outputs are checked by their own tests).
"""
from __future__ import annotations

import hashlib

import pytest

from smartmem_sim import cli


def _snapshot(folder):
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>")
            for p in folder.rglob("*")}


def _run(argv, folder, outputs, capsys):
    before = _snapshot(folder)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 0, f"smartmem {' '.join(argv)}: exit {code}: {err}"
    after = _snapshot(folder)
    for rel, digest in before.items():
        assert after.get(rel) == digest, f"{argv[0]} changed or removed {rel}"
    stray = sorted(rel for rel in set(after) - set(before)
                   if not any(rel == o or rel.startswith(o + "/") for o in outputs))
    assert not stray, f"smartmem {' '.join(argv)} wrote outside its outputs {outputs}: {stray}"
    new = set(after) - set(before)
    for o in outputs:
        assert any(rel == o or rel.startswith(o + "/") for rel in new), f"{argv[0]} did not write {o}"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "input.txt").write_text("an unrelated file that must stay as it is")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _out_flag(command: str) -> str:
    """The compile/export output flag as the parser spells it now (the -o form is being reworked)."""
    parser = cli.build_parser()
    sub = next(a for a in parser._subparsers._group_actions).choices[command]
    for action in sub._actions:
        if "-o" in action.option_strings:
            return "-o"
    return next(a.option_strings[0] for a in sub._actions if a.dest in ("out", "output"))


@pytest.mark.parametrize("argv, outputs", [
    (["zoo", "export", "vit", "--tiny", "--structure-only", "-o", "zoo_out"], ["zoo_out"]),
    (["compare", "vit", "--tiny", "--out", "cmp", "--timeline", "tl.json"], ["cmp", "tl.json"]),
    (["cache-study", "--profile", "adreno740", "--width", "16", "--height", "16", "--out", "cs"], ["cs"]),
    (["inspect", "vit.tiny"], []),
    (["explain", "vit.tiny"], []),
    (["explain-time", "vit", "--tiny", "--top", "1"], []),
    (["profiles", "adreno740"], []),
    (["zoo", "list"], []),
])
def test_each_command_writes_only_its_outputs(folder, capsys, argv, outputs):
    if argv[:2] == ["zoo", "export"]:
        (folder / "zoo_out").mkdir()  # export writes into an existing folder
    _run(argv, folder, outputs, capsys)


def test_compile_writes_only_its_outputs(folder, capsys):
    flag = _out_flag("compile")
    _run(["compile", "vit", "--tiny", "--policy", "naive", flag, "plan"], folder, ["plan"] if _is_folder() else
         ["plan", "plan.onnx"], capsys)


def _is_folder() -> bool:
    parser = cli.build_parser()
    sub = next(a for a in parser._subparsers._group_actions).choices["compile"]
    action = next(a for a in sub._actions if "-o" in a.option_strings)
    return "folder" in (action.help or "") or (action.metavar or "") == "DIR"


def test_sweep_writes_only_its_csv_and_cache(folder, capsys):
    pytest.importorskip("distributed")
    (folder / "grid.toml").write_text('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\n'
                                      "tiny = true\nworkers = 1\n")
    _run(["sweep", "grid.toml", "-o", "res", "--cache-dir", "cache", "--no-progress"], folder,
         ["res", "cache"], capsys)
