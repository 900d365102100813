"""memsim/_numba_sources.py: an edit of any memsim source makes numba's cache of every compiled memsim file
stale (numba itself looks only at the file that defines a function)."""
from __future__ import annotations

import os

from smartmem_sim.memsim import _numba_sources as ns


def _tree(tmp_path, monkeypatch):
    (tmp_path / "passes.py").write_text("from numba import njit\n@njit(cache=True)\ndef f(x):\n    return g(x)\n")
    (tmp_path / "helpers.py").write_text("def g(x):\n    return x\n")
    monkeypatch.setattr(ns, "HERE", tmp_path)
    monkeypatch.setattr(ns, "RECORD", tmp_path / "__pycache__" / "numba_sources.sha256")
    old = 1_000_000_000
    os.utime(tmp_path / "passes.py", (old, old))
    return tmp_path, old


def test_an_edit_of_a_helper_file_makes_the_compiled_files_stale(tmp_path, monkeypatch):
    tree, old = _tree(tmp_path, monkeypatch)
    assert ns.refresh()  # no record yet: stale as far as we know
    assert (tree / "passes.py").stat().st_mtime > old
    os.utime(tree / "passes.py", (old, old))
    assert not ns.refresh()  # nothing changed
    assert (tree / "passes.py").stat().st_mtime == old
    (tree / "helpers.py").write_text("def g(x):\n    return x + 1\n")
    assert ns.refresh()
    assert (tree / "passes.py").stat().st_mtime > old
    assert ns.compiled_files() == [tree / "passes.py"]


def test_a_read_only_copy_is_left_alone(tmp_path, monkeypatch):
    tree, old = _tree(tmp_path, monkeypatch)
    monkeypatch.setattr(ns, "RECORD", tree / "missing-folder" / "deeper" / "numba_sources.sha256")
    assert not ns.refresh()  # the record's folder cannot be made (parents missing): nothing done
    assert (tree / "passes.py").stat().st_mtime == old
