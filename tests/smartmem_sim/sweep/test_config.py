"""smartmem_sim/sweep/config.py: the shipped configs' grids, and config errors that name the file and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from smartmem_sim import zoo
from smartmem_sim.errors import UserError
from smartmem_sim.sweep import Task, load_config, read_config

SWEEPS = Path(__file__).resolve().parents[3] / "experiments" / "sweeps"


def test_paper_grid_is_18_networks_x_4_policies_x_4_devices():
    cfg = read_config(SWEEPS / "paper_grid.toml")
    tasks = cfg.tasks
    assert len(tasks) == 18 * 4 * 4 == len(set(tasks))
    assert {t.model for t in tasks} == set(zoo.list_models())
    assert {t.policy for t in tasks} == {"naive", "fusion", "smartmem", "search"}
    assert {t.device for t in tasks} == {"adreno740", "adreno540", "mali_g57", "h100_opencl"}
    assert not any(t.tiny or t.overrides for t in tasks) and {t.batch for t in tasks} == {1}
    # models outermost, policies innermost: a model/device's policies are neighbours
    assert [t.policy for t in tasks[:4]] == ["naive", "fusion", "smartmem", "search"]
    assert cfg.csv == Path("experiments/results/sweeps/paper_grid.csv") and cfg.workers == 2


def test_smoke_is_two_tiny_twins_x_two_policies_x_one_device():
    tasks = load_config(SWEEPS / "smoke.toml")
    assert len(tasks) == 4 and all(t.tiny for t in tasks)
    assert len({t.model for t in tasks}) == 2 and len({t.policy for t in tasks}) == 2
    assert {t.device for t in tasks} == {"adreno740"}


def write(tmp_path, text) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(text)
    return p


def test_every_axis_and_variants_multiply(tmp_path):
    p = write(tmp_path, '''
models = ["vit", "swin"]
devices = ["adreno740"]
policies = ["naive", "smartmem"]
tiny = [true, false]
batch = [1, 2]
storage = "fp32"
[[variants]]
"levels.L1.size" = 8192
[[variants]]
"levels.L1.size" = 2048
cores = 6
''')
    tasks = load_config(p)
    assert len(tasks) == 2 * 2 * 2 * 2 * 2
    assert tasks[0] == Task("vit", "adreno740", "naive", True, 1, "fp32", (("levels.L1.size", 8192),))
    assert Task("swin", "adreno740", "smartmem", False, 2, "fp32", (("cores", 6), ("levels.L1.size", 2048))) in tasks


@pytest.mark.parametrize("text, match", [
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\nmodel = "x"', "unknown key.*model"),
    ('devices = ["adreno740"]\npolicies = ["naive"]', "missing key 'models'"),
    ('models = "vit"\ndevices = ["adreno740"]\npolicies = ["naive"]', "'models' must be a non-empty list"),
    ('models = ["vit", "vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]', "'models' lists vit more than once"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["bogus"]', "'policies': unknown bogus"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\nbatch = 0', "'batch' must be a positive"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\ntiny = "yes"', "'tiny' must be true or false"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\nstorage = "int8"', "'storage' must be one"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\nworkers = 0', "'workers' must be a positive"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\ncsv = 3', "'csv' must be a non-empty string"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\nvariants = [{a = [1]}]',
     "variants.*#1: 'a' must be a number"),
    ('models = ["vit"]\ndevices = ["adreno740"]\npolicies = ["naive"]\n[[variants]]\ncores = 2\n[[variants]]\ncores = 2',
     "variants.*#2 repeats"),
    ('models = ["vit"]\nmodels = ["swin"]', "not valid TOML"),
])
def test_config_errors_name_the_file_and_key(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(UserError, match=match) as info:
        read_config(p)
    assert str(p) in str(info.value)


def test_a_missing_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_config(tmp_path / "nope.toml")
