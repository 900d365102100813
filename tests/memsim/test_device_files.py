"""Every shipped profile loads, sources every number, and simulates a small trace."""
import numpy as np
import pytest

from smartmem_sim.memsim.profiles import list_profiles, load_profile

SHIPPED = ["adreno540", "adreno740", "h100_opencl", "h100_opencl_calibrated", "mali_g57", "pocl_cpu", "pocl_cpu_calibrated"]


def test_the_expected_profiles_ship():
    assert list_profiles() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_loads_and_simulates(name):
    prof = load_profile(name)
    assert prof.name == name
    for lv in prof.levels:
        for key in ("size", "ways", "line"):
            assert f"levels.{lv.name}.{key}" in prof.sources
    assert set(prof.guesses()) <= set(prof.sources)
    assert prof.levels[0].per_core
    h = prof.hierarchy()
    rng = np.random.default_rng(0)
    n = 2000
    rep = h.simulate_resolved(rng.integers(0, 1 << 20, n) * 8, rng.integers(0, prof.cores, n),
                              rng.random(n) < 0.1, np.full(n, 8))
    assert rep.device == name and rep.levels[0].accesses + rep.levels[0].writes >= n
    assert rep.cycles > 0 and rep.seconds > 0 and rep.energy_pj > 0


# the cost models' numbers of every shipped device (wave_size, alu_lanes, launch_overhead_s, texel_reuse), as
# they were in smartmem_sim/compiler/costs/execution.toml before they moved into the profiles' [execution] tables
EXECUTION = {
    "adreno540": (64, 256, 10e-6, True),
    "adreno740": (64, 1536, 5e-6, True),
    "h100_opencl": (32, 16896, 3e-6, False),
    "h100_opencl_calibrated": (32, 16896, 4.745e-06, False),
    "mali_g57": (16, 96, 10e-6, True),
    "pocl_cpu": (8, 16, 20e-6, True),
    "pocl_cpu_calibrated": (8, 16, 4.055e-07, True),
}


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_has_a_sourced_execution_table(name):
    prof = load_profile(name)
    ex = prof.require_execution()
    assert (ex.wave_size, ex.alu_lanes, ex.launch_overhead_s, ex.texel_reuse) == EXECUTION[name]
    for key in ("wave_size", "alu_lanes", "launch_overhead_s", "texel_reuse"):  # texel_reuse stated everywhere
        assert prof.sources[f"execution.{key}"].strip()
