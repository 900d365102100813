"""load_profile: every malformed profile is a MemsimError naming the file and the field."""
import tomllib
from pathlib import Path

import pytest

from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.profiles import DEVICES_DIR, load_profile

BASE = (DEVICES_DIR / "adreno540.toml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "dev.toml"
    p.write_text(text)
    return p


def test_a_valid_copy_loads(tmp_path):
    prof = load_profile(write(tmp_path, BASE))
    assert prof.name == "adreno540" and prof.cores == 4
    assert [lv.name for lv in prof.levels] == ["L1", "L2"]
    assert "levels.L1.size" in prof.sources and "levels.L1.size" in prof.guesses()
    assert "dram.bandwidth_bytes_per_s" not in prof.guesses()


@pytest.mark.parametrize("old, new, message", [
    ("cores = 4\n", "cores = 4\nwarp_size = 32\n", "unknown key\\(s\\) warp_size"),
    ("cores = 4\n", "cores = 4\ncores = 5\n", "not valid TOML"),
    ("line = 64\nper_core = true", "line = 48\nper_core = true", "level 'L1': field 'line' must be a power of two"),
    ("size = 131072", "size = 100000", "'L2'.*field 'size'"),
    ('size = "guess: Adreno 640 has 1 KB', 'sise = "guess: Adreno 640 has 1 KB', "field 'levels.L1.size' has no source"),
    ('ways = "guess: 4-way"\n', 'ways = "guess: 4-way"\nassoc = "x"\n', "names 'assoc', which is not a field"),
    ('bandwidth_bytes_per_s = 30e9', 'bandwidth_bytes_per_s = -1', "\\[dram\\].*bandwidth_bytes_per_s"),
    ('bandwidth_bytes_per_s = 30e9', 'bandwidth_bytes_per_s = 30e9\nchannels = 4', "\\[dram\\]: unknown key"),
    ('kind = "tiled"', 'kind = "swizzled"', "\\[image_layout\\].*kind"),
    ('clock_hz = 710e6', 'clock_hz = "fast"', "field 'clock_hz' must be a positive number"),
    ('cores = "guess: 4 shader processors; unverified"', 'cores = ""', "source of 'cores' must be a non-empty"),
    ('write = "read-only"', 'write = "read-mostly"', "field 'write' must be one of"),
])
def test_malformed_profiles_name_file_and_field(tmp_path, old, new, message):
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(MemsimError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_missing_source_table_and_missing_key(tmp_path):
    data = tomllib.loads(BASE)
    text = BASE.replace("[source]\n", "[unused_source]\n")
    with pytest.raises(MemsimError, match="unknown key"):
        load_profile(write(tmp_path, text))
    assert "memory_parallelism" in data
    text = BASE.replace("memory_parallelism = 64\n", "")
    with pytest.raises(MemsimError, match="missing key 'memory_parallelism'"):
        load_profile(write(tmp_path, text))


def test_unknown_names_and_paths():
    with pytest.raises(MemsimError, match="unknown device profile 'adreno999'; shipped: .*adreno740"):
        load_profile("adreno999")
    with pytest.raises(MemsimError, match="does not exist"):
        load_profile("/nonexistent/dev.toml")


@pytest.mark.parametrize("old, new, message", [
    ("reads_in_flight_per_item = 2\n", "reads_in_flight_per_item = 0\n",
     "\\[occupancy\\]: occupancy: field 'reads_in_flight_per_item' must be > 0"),
    ("max_items_per_core = 1024\n", "max_items_per_core = 1024\nwarps = 4\n", "\\[occupancy\\]: unknown key"),
    ("accesses_per_core_per_cycle = 4\n", "", "\\[occupancy\\]: missing key\\(s\\) accesses_per_core_per_cycle"),
    ('max_items_per_core = "guess', 'max_items = "guess', "field 'occupancy.max_items_per_core' has no source"),
])
def test_malformed_occupancy(tmp_path, old, new, message):
    assert old in BASE
    with pytest.raises(MemsimError, match=message):
        load_profile(write(tmp_path, BASE.replace(old, new, 1)))


def test_occupancy_is_optional_and_loaded_with_sources(tmp_path):
    prof = load_profile(write(tmp_path, BASE))
    assert prof.occupancy.max_items_per_core == 1024 and "occupancy.max_items_per_core" in prof.guesses()
    without = BASE[:BASE.index("[occupancy]")]
    assert load_profile(write(tmp_path, without)).occupancy is None


def _without_execution(text: str) -> str:
    return text[:text.index("# How kernels issue")]


@pytest.mark.parametrize("old, new, message", [
    ("wave_size = 64\n", "wave_size = 64\nwarp = 32\n", "\\[execution\\]: unknown key\\(s\\) warp"),
    ("alu_lanes = 256\n", "", "\\[execution\\]: missing key\\(s\\) alu_lanes"),
    ("wave_size = 64\n", "wave_size = 0\n", "\\[execution\\]: field 'wave_size' must be a positive integer"),
    ("wave_size = 64\n", "wave_size = 64.5\n", "\\[execution\\]: field 'wave_size' must be a positive integer"),
    ("alu_lanes = 256\n", "alu_lanes = 0\n", "\\[execution\\]: field 'alu_lanes' must be a positive number"),
    ("alu_lanes = 256\n", 'alu_lanes = "many"\n', "\\[execution\\]: field 'alu_lanes' must be a positive number"),
    ("launch_overhead_s = 10e-6\n", "launch_overhead_s = -1e-6\n", "field 'launch_overhead_s' must be a finite number >= 0"),
    ("launch_overhead_s = 10e-6\n", "launch_overhead_s = inf\n", "field 'launch_overhead_s' must be a finite number >= 0"),
    ("texel_reuse = true\n", 'texel_reuse = "off"\n', "field 'texel_reuse' must be true or false"),
    ('alu_lanes = "guess: Adreno 540', 'lanes = "guess: Adreno 540', "field 'execution.alu_lanes' has no source"),
    ('texel_reuse = "choice:', 'reuse = "choice:', "field 'execution.texel_reuse' has no source"),
    ("texel_reuse = true\n", "", "\\[execution.source\\] names 'texel_reuse', which is not a field"),
    ("[execution.source]\n", "[execution.sources]\n", "\\[execution\\]: unknown key\\(s\\) sources"),
])
def test_malformed_execution_names_file_and_field(tmp_path, old, new, message):
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(MemsimError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_execution_is_loaded_with_sources_and_texel_reuse_defaults_to_true(tmp_path):
    prof = load_profile(write(tmp_path, BASE))
    ex = prof.execution
    assert (ex.wave_size, ex.alu_lanes, ex.launch_overhead_s, ex.texel_reuse) == (64, 256.0, 10e-6, True)
    assert prof.require_execution() is ex
    assert {"execution.wave_size", "execution.alu_lanes", "execution.launch_overhead_s"} <= set(prof.guesses())
    text = BASE.replace("texel_reuse = true\n", "", 1)
    text = text[:text.index("texel_reuse = \"choice")]
    prof = load_profile(write(tmp_path, text))
    assert prof.execution.texel_reuse is True and "execution.texel_reuse" not in prof.sources


def test_execution_is_optional_for_memsim_and_required_by_name(tmp_path):
    path = write(tmp_path, _without_execution(BASE))
    prof = load_profile(path)
    assert prof.execution is None and not any(k.startswith("execution.") for k in prof.sources)
    assert prof.occupancy is not None and prof.hierarchy().cores == 4
    with pytest.raises(MemsimError, match=r"has no \[execution\] table.*wave_size, alu_lanes and launch_overhead_s") \
            as info:
        prof.require_execution()
    assert str(path) in str(info.value)
