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
