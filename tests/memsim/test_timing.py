"""The timing/energy estimate follows its documented formula (checked by hand on small numbers)."""
import numpy as np
import pytest

from memsim.cache import CacheLevel
from memsim.errors import MemsimError
from memsim.hierarchy import Hierarchy
from memsim.timing import DramSpec


def test_estimate_by_hand():
    l1 = CacheLevel(name="L1", size=256, ways=1, line=64, per_core=True, latency_cycles=10,
                    bandwidth_bytes_per_cycle=4, energy_pj_per_byte=1)
    l2 = CacheLevel(name="L2", size=1024, ways=1, line=64, latency_cycles=100, bandwidth_bytes_per_cycle=8,
                    energy_pj_per_byte=2)
    h = Hierarchy([l1, l2], cores=2, dram=DramSpec(bandwidth_bytes_per_s=16e9, latency_cycles=500,
                                                   energy_pj_per_byte=10),
                  clock_hz=1e9, memory_parallelism=4)
    # 4 loads of 16 B: core 0 reads line 0 twice, core 1 reads lines 0 and 1.
    rep = h.simulate_resolved(np.array([0, 16, 0, 64]), np.array([0, 0, 1, 1]), np.zeros(4, bool), np.full(4, 16))
    l1s, l2s = rep.levels
    assert (l1s.accesses, l1s.misses, l2s.accesses, l2s.misses) == (4, 3, 3, 2)
    assert (l1s.bytes_read, l2s.bytes_read, rep.dram_bytes_read) == (64, 192, 128)
    transfer_l1 = 64 / (4 * 2)  # two copies
    transfer_l2 = 192 / 8
    transfer_dram = 128 / 16
    latency = (4 * 10 + 3 * 100 + 2 * 500) / 4
    assert rep.timing["transfer_cycles"] == {"L1": transfer_l1, "L2": transfer_l2, "DRAM": transfer_dram}
    assert rep.cycles == pytest.approx(max(transfer_l1, transfer_l2, transfer_dram) + latency)
    assert rep.seconds == pytest.approx(rep.cycles / 1e9)
    assert rep.energy_pj == pytest.approx(64 * 1 + 192 * 2 + 128 * 10)
    with_compute = h.simulate_resolved(np.array([0]), np.array([0]), np.zeros(1, bool), np.full(1, 16),
                                       compute_cycles=1000)
    assert with_compute.cycles == pytest.approx(1000 + (10 + 100 + 500) / 4)
    assert "memory_parallelism" in rep.to_dict()["timing"]["formula"]


def test_dram_spec_validation():
    with pytest.raises(MemsimError, match="dram: field 'latency_cycles'"):
        DramSpec(latency_cycles=-1)
    with pytest.raises(MemsimError, match="x.toml: unknown key"):
        DramSpec.from_dict({"bandwidth": 1}, where="x.toml")
