"""The CLI's error contract (docs/ERRORS.md): user errors exit 2 with one line, Ctrl-C exits 130 with one line,
an internal error exits 1 with one line asking for a report, and --debug shows the traceback instead."""
import argparse

import pytest

from smartmem_sim import cli


def _with_command(monkeypatch, func):
    """`smartmem profiles` whose work is ``func`` (the parser and the contract are the real ones)."""
    real = cli.build_parser

    def patched():
        parser = real()
        parser.set_defaults(func=func)
        for action in parser._subparsers._group_actions:
            for sub in action.choices.values():
                sub.set_defaults(func=func)
        return parser

    monkeypatch.setattr(cli, "build_parser", patched)


def _raise(exc):
    def func(args: argparse.Namespace):
        raise exc
    return func


def test_user_error_is_one_line_exit_2(capsys):
    assert cli.main(["profiles", "no_such_profile"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_profile" in err and "Traceback" not in err


def test_ctrl_c_is_one_line_exit_130(monkeypatch, capsys):
    _with_command(monkeypatch, _raise(KeyboardInterrupt()))
    assert cli.main(["profiles"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err


def test_internal_error_exit_1_asks_for_a_report_and_debug_shows_it(monkeypatch, capsys):
    _with_command(monkeypatch, _raise(ZeroDivisionError("division by zero")))
    assert cli.main(["profiles"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: division by zero" in err and "please report" in err
    assert "Traceback" not in err and len(err.splitlines()) == 2
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "profiles"])
    monkeypatch.setenv("SMARTMEM_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["profiles"])


def test_without_pyopencl_simulation_works_and_running_kernels_names_the_extra(tmp_path):
    """pyopencl is the [opencl] extra: compare runs without it; run says what to install (exit 2)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['pyopencl'] = None\n"
            "from smartmem_sim.cli import main\n"
            f"assert main(['compare', 'vit', '--tiny', '--no-plot', '--out', {str(tmp_path / 'c')!r}]) == 0\n"
            f"assert main(['compile', 'vit', '--tiny', '-o', {str(tmp_path / 'p.json')!r}]) == 0\n"
            f"sys.exit(main(['run', {str(tmp_path / 'p.onnx')!r}, '--policy', 'naive']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "smartmem-sim[opencl]" in r.stderr and "Traceback" not in r.stderr


def test_a_missing_optional_module_names_its_extra(monkeypatch, capsys):
    err = ModuleNotFoundError("No module named 'distributed'", name="distributed")
    _with_command(monkeypatch, _raise(err))
    assert cli.main(["profiles"]) == 2
    assert "pip install 'smartmem-sim[dist]'" in capsys.readouterr().err
    _with_command(monkeypatch, _raise(ModuleNotFoundError("No module named 'nosuch'", name="nosuch")))
    assert cli.main(["profiles"]) == 1  # not an optional extra: an internal error


def test_first_run_notice_only_without_compiled_kernels(monkeypatch, tmp_path, capsys):
    from pathlib import Path

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    fake = tmp_path / "cli.py"
    (tmp_path / "memsim" / "__pycache__").mkdir(parents=True)
    monkeypatch.setattr(cli, "__file__", str(fake))
    cli._numba_notice("compare")
    assert "compiling the simulator's kernels" in capsys.readouterr().err
    (tmp_path / "memsim" / "__pycache__" / "k.py311.nbi").write_bytes(b"")
    cli._numba_notice("compare")
    cli._numba_notice("zoo")
    assert capsys.readouterr().err == "" and Path(cli.__file__) == fake
