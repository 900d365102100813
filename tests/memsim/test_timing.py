"""The timing/energy estimate follows its documented formula (checked by hand on small numbers)."""
import numpy as np
import pytest

from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.timing import DramSpec


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


# ---------------------------------------------------------------- occupancy, issue, active cores

from smartmem_sim.memsim.report import LevelStats  # noqa: E402
from smartmem_sim.memsim.timing import Occupancy, cycles_from_terms, estimate, in_flight_requests  # noqa: E402

L1 = CacheLevel(name="L1", size=256, ways=1, line=64, per_core=True, latency_cycles=10, bandwidth_bytes_per_cycle=4)
L2 = CacheLevel(name="L2", size=1024, ways=1, line=64, latency_cycles=100, bandwidth_bytes_per_cycle=8)


def _stats(l1_acc, l1_bytes, l2_acc, l2_bytes):
    return [LevelStats("L1", l1_acc, l1_acc, 0, 0, l1_bytes, 0, 0, 0, copies=4),
            LevelStats("L2", l2_acc, l2_acc, 0, 0, l2_bytes, 0, 0, 0)]


def _est(occ, **kw):
    dram = DramSpec(bandwidth_bytes_per_s=0, latency_cycles=500)
    return estimate([L1, L2], _stats(100, 1600, 10, 640), [4, 1], dram, 0, 0, 2, 1e9, 1000.0, **kw, occupancy=occ)


def test_few_work_items_limit_requests_in_flight():
    occ = Occupancy(max_items_per_core=16, reads_in_flight_per_item=2, accesses_per_core_per_cycle=1000)
    latency_sum = 100 * 10 + 10 * 100 + 2 * 500
    t = _est(occ, work_items=5)  # 5 items x 2 reads = 10 in flight, far below memory_parallelism 1000
    assert t["in_flight"] == 10
    assert t["latency_cycles"] == pytest.approx(latency_sum / 10)
    # many items: resident = min(10**6, 4 cores x 16) = 64, x 2 = 128 in flight
    assert _est(occ, work_items=10**6)["in_flight"] == 128
    # the device-wide limit binds when the items could keep more in flight
    big = Occupancy(max_items_per_core=10**6, reads_in_flight_per_item=2, accesses_per_core_per_cycle=1000)
    assert _est(big, work_items=10**6)["in_flight"] == 1000
    # no work-item count or no occupancy: memory_parallelism alone (the bare cache-study formula)
    assert _est(occ)["in_flight"] == 1000 and _est(None, work_items=5)["in_flight"] == 1000


def test_issue_term_and_active_cores():
    occ = Occupancy(max_items_per_core=10**6, reads_in_flight_per_item=10**6, accesses_per_core_per_cycle=2)
    lat = (100 * 10 + 10 * 100 + 2 * 500) / 1000
    # 4 cores: L1 1600 B / (4 B/cycle x 4 copies) = 100, L2 640 / 8 = 80, issue 1000 / (4 x 2) = 125
    t = _est(occ, issued_accesses=1000)
    assert t["issue_cycles"] == 125 and t["transfer_cycles"]["L1"] == 100
    assert t["cycles"] == pytest.approx(125 + lat)
    # one active core: L1 bandwidth of one copy (400), issue 1000 / 2 = 500, compute 40 x 4 / 1 = 160
    t1 = _est(occ, issued_accesses=1000, active_cores=1, compute_cycles=40)
    assert t1["transfer_cycles"]["L1"] == 400 and t1["issue_cycles"] == 500 and t1["compute_cycles"] == 160
    assert t1["cycles"] == pytest.approx(500 + lat)
    # compute bound: 400 cycles of compute on all 4 cores
    assert _est(occ, compute_cycles=400)["cycles"] == pytest.approx(400 + lat)
    with pytest.raises(MemsimError, match="work_items"):
        _est(occ, work_items=-1)


def test_vector_forms_match_estimate():
    occ = Occupancy(max_items_per_core=16, reads_in_flight_per_item=3, accesses_per_core_per_cycle=1)
    items = np.array([1.0, 30.0, 1e9])
    got = in_flight_requests(items, 4, 100.0, occ)
    assert got.tolist() == [3.0, 90.0, 100.0]  # min(100, min(items, 4 x 16) x 3)
    assert cycles_from_terms(np.array([1.0, 2.0]), np.array([10.0, 10.0]), np.array([5.0, 2.0])).tolist() == [3.0, 7.0]


def test_occupancy_validation():
    with pytest.raises(MemsimError, match="occupancy: field 'reads_in_flight_per_item' must be > 0"):
        Occupancy(max_items_per_core=1, reads_in_flight_per_item=0, accesses_per_core_per_cycle=1)
    with pytest.raises(MemsimError, match="x.toml: missing key"):
        Occupancy.from_dict({"max_items_per_core": 1}, where="x.toml")
    with pytest.raises(MemsimError, match="unknown key"):
        Occupancy.from_dict({"max_items_per_core": 1, "reads_in_flight_per_item": 1,
                             "accesses_per_core_per_cycle": 1, "warps": 2}, where="x.toml")
