"""The API reference builds from the docstrings (pdoc, as `make docs` runs it) and documents the public API."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds(tmp_path):
    modules = re.search(r"^API_MODULES = (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    r = subprocess.run([sys.executable, "-m", "pdoc", *modules, "-o", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    api = (tmp_path / "smartmem_sim" / "api.html").read_text()
    for name in ("compare", "simulate", "compile", "run", "cache_study", "load_profile", "Comparison"):
        assert f'id="{name}"' in api, name
    assert (tmp_path / "smartmem_sim" / "memsim.html").is_file()
