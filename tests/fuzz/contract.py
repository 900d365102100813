"""The error contract (docs/ERRORS.md) as one assertion for the fuzz suite: run the CLI in-process on a
folder, and check how it ended, what it printed and what it wrote.

- exit 0, or exit 2 with exactly one line on stderr, ``smartmem CMD: error: ...``, naming the file (or the node,
  op or field); never exit 1 (an internal error) and never a traceback;
- nothing written outside the named outputs, and no input file changed (every file in the folder is hashed
  before and after; the command runs with the folder as its current directory, so a default output lands
  there and is seen).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, settings

from smartmem_sim import cli

# Every fuzz test: seeded (derandomize), no deadline (the first call compiles numba kernels), capsys reused
# across examples (each run reads it empty first).
FUZZ = dict(derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                   HealthCheck.data_too_large, HealthCheck.filter_too_much])


def fuzz_settings(max_examples: int):
    """``max_examples`` cases (times SMARTMEM_FUZZ_SCALE, default 1, for a longer hunt outside CI)."""
    return settings(max_examples=max_examples * int(os.environ.get("SMARTMEM_FUZZ_SCALE", "1")), **FUZZ)


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (``<dir>`` for folders, ``<link>`` for links), not following links."""
    out = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            p = Path(root) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = "<link>"
            elif p.is_dir():
                out[rel] = "<dir>"
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "<special>"
    return out


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(argv: list[str], capsys) -> Outcome:
    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return Outcome(int(code), captured.out, captured.err)


def check(argv: list[str], capsys, folder: Path, outputs: tuple[str, ...] = (),
          names: tuple[str, ...] = ()) -> Outcome:
    """Run ``argv`` and assert the contract. ``outputs``: paths relative to ``folder`` the command may create
    (with anything under them); ``names``: strings of which a refusal must contain at least one (the file,
    node, op or field)."""
    before = snapshot(folder)
    cwd = os.getcwd()
    os.chdir(folder)  # a default output (one the command writes to the current directory) lands in the snapshot
    try:
        result = run_cli(argv, capsys)
    finally:
        os.chdir(cwd)
    after = snapshot(folder)
    what = f"smartmem {' '.join(map(str, argv))}"
    event(f"{argv[0]} exit {result.code}")  # --hypothesis-show-statistics shows how the cases ended
    assert result.code in (0, 2), f"{what}: exit {result.code}\n{result.err}"
    assert "Traceback" not in result.err, f"{what}: traceback\n{result.err}"
    if result.code == 2:
        lines = result.err.splitlines()
        assert len(lines) == 1, f"{what}: {len(lines)} lines on stderr\n{result.err}"
        assert lines[0].startswith(f"smartmem {argv[0]}: error: "), f"{what}: {lines[0]}"
        if names:
            assert any(n in lines[0] for n in names), f"{what}: the error names none of {names}: {lines[0]}"
    for rel, digest in before.items():
        assert after.get(rel) == digest, f"{what}: changed or removed {rel}"
    for rel in set(after) - set(before):
        assert any(rel == o or rel.startswith(o.rstrip("/") + "/") for o in outputs), \
            f"{what}: wrote {rel}, which is not one of its outputs {outputs}"
    return result
