"""The device a cost model prices on is the memsim profile itself (smartmem_sim/compiler/costs/device.py): its
[execution] table is optional for memsim, required (with a named error) by the cost models."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim import memsim
from smartmem_sim.compiler.costs import AnalyticalCost, SimulatedCost, priced_device
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.memsim.profiles import DEVICES_DIR


def test_a_name_and_a_loaded_profile_give_the_same_device():
    prof = memsim.load_profile("mali_g57")
    assert priced_device(prof) is prof
    assert priced_device("mali_g57") == prof
    assert SimulatedCost(prof).dev is prof and AnalyticalCost(prof).dev is prof
    assert SimulatedCost("h100_opencl").sampler.texel_reuse is False  # from h100_opencl.toml's [execution]
    assert SimulatedCost("mali_g57").sampler.texel_reuse is True


def test_a_profile_without_execution_loads_for_memsim_but_not_for_a_cost_model(tmp_path):
    text = (DEVICES_DIR / "adreno540.toml").read_text()
    path = tmp_path / "cache_only.toml"
    path.write_text(text[:text.index("\n[execution]\n")])
    prof = memsim.load_profile(path)
    assert prof.execution is None
    n = 500  # memsim alone simulates on it
    rep = prof.hierarchy().simulate_resolved(np.arange(n) * 64, np.arange(n) % prof.cores, np.zeros(n, bool),
                                             np.full(n, 8))
    assert rep.levels[0].accesses == n
    for device in (str(path), prof):
        for model in (SimulatedCost, AnalyticalCost):
            with pytest.raises(CompilerError, match=r"has no \[execution\] table.*add \[execution\]") as info:
                model(device)
            assert str(path) in str(info.value)


def test_bad_device_arguments():
    with pytest.raises(CompilerError, match="unknown device profile 'adreno999'"):
        SimulatedCost("adreno999")
    with pytest.raises(CompilerError, match="device must be a profile name or a memsim DeviceProfile"):
        AnalyticalCost(42)
