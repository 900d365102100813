"""A device profile is checked at the boundary: a file that is not UTF-8 TOML, and sizes no device has, are a
MemsimError naming the file and the field (they used to be a UnicodeDecodeError, or a MemoryError when the
simulator sized its state arrays by them)."""
import re
from pathlib import Path

import pytest

from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.profiles import BOUNDS, DEVICES_DIR, list_profiles, load_profile

BASE = (DEVICES_DIR / "adreno740.toml").read_text()


def _write(tmp_path, text=None, raw=None) -> Path:
    p = tmp_path / "dev.toml"
    if raw is not None:
        p.write_bytes(raw)
    else:
        p.write_text(text)
    return p


def _refused(path, pattern):
    with pytest.raises(MemsimError, match=pattern) as err:
        load_profile(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_not_utf8_is_named(tmp_path):
    _refused(_write(tmp_path, raw=BASE.encode().replace(b"adreno740", b"adreno\xff740", 1)), r"not UTF-8 text")


@pytest.mark.parametrize("old, new, field", [
    ("cores = 12", "cores = 1000000000", "cores"),
    ("size = 2048", "size = 1152921504606846976", "levels.L1.size"),
    ("tile_width = 4", "tile_width = 1099511627776", "image_layout.tile_width"),
    ("pitch_alignment = 64", "pitch_alignment = 1152921504606846976", "image_layout.pitch_alignment"),
    ("wave_size = 64", "wave_size = 1099511627776", "wave_size"),
    ("launch_overhead_s = 5e-6", "launch_overhead_s = 5", "launch_overhead_s"),
])
def test_absurd_sizes_are_bounded(tmp_path, old, new, field):
    assert old in BASE
    _refused(_write(tmp_path, BASE.replace(old, new, 1)), rf"field '{re.escape(field)}' = ")


def test_total_cache_lines_are_bounded(tmp_path):
    # every size and the core count within their own bounds, but 4096 cores x a 1 GiB per-core L1 of 64 B
    # lines is 2^36 lines of state, plus the shared L2 (1 MiB) and SLC (8 MiB) of 64 B lines
    text = BASE.replace("cores = 12", "cores = 4096", 1).replace("size = 2048", "size = 1073741824", 1)
    lines = 4096 * 2**30 // 64 + 2**20 // 64 + 2**23 // 64
    _refused(_write(tmp_path, text), rf"the cache levels hold {lines:,} lines")


def test_every_shipped_profile_is_within_the_bounds():
    for name in list_profiles():
        p = load_profile(name)
        assert p.cores <= BOUNDS["cores"]
        for lv in p.levels:
            assert lv.size <= BOUNDS["levels.size"] and lv.line <= BOUNDS["levels.line"]


@pytest.mark.parametrize("name", ["x" * 5000 + ".toml", "a\0b.toml", ""])
def test_names_the_os_refuses_are_named_errors(name):
    with pytest.raises(MemsimError):
        load_profile(name)


def test_a_folder_or_unreadable_file_is_named(tmp_path):
    (tmp_path / "d.toml").mkdir()
    with pytest.raises(MemsimError, match="does not exist"):
        load_profile(tmp_path / "d.toml")


def test_integers_past_64_bits_are_named(tmp_path):
    """tomllib returns them as Python ints, which numpy's isfinite could not take (a TypeError, exit 1)."""
    _refused(_write(tmp_path, BASE.replace("memory_parallelism = 256", f"memory_parallelism = {2**70}", 1)),
             r"field 'memory_parallelism' = 1180591620717411303424 does not fit a 64-bit integer")
