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
    # a bare cache study (no work-items): no chain; one mean latency fills the pipe; misses of L1 share
    # memory_parallelism = 4 outstanding requests
    fill = (4 * 10 + 3 * 100 + 2 * 500) / 4
    miss = (3 * 100 + 2 * 500) / 4
    assert rep.timing["transfer_cycles"] == {"L1": transfer_l1, "L2": transfer_l2, "DRAM": transfer_dram}
    assert rep.timing["miss_cycles"] == miss and rep.timing["chain_cycles"] == 0
    assert rep.cycles == pytest.approx(max(max(transfer_l1, transfer_l2, transfer_dram) + fill, miss))
    assert rep.seconds == pytest.approx(rep.cycles / 1e9)
    assert rep.energy_pj == pytest.approx(64 * 1 + 192 * 2 + 128 * 10)
    with_compute = h.simulate_resolved(np.array([0]), np.array([0]), np.zeros(1, bool), np.full(1, 16),
                                       compute_cycles=1000)
    assert with_compute.cycles == pytest.approx(max(1000 + 10 + 100 + 500, (100 + 500) / 4))
    assert "memory_parallelism" in rep.to_dict()["timing"]["formula"]


def test_dram_spec_validation():
    with pytest.raises(MemsimError, match="dram: field 'latency_cycles'"):
        DramSpec(latency_cycles=-1)
    with pytest.raises(MemsimError, match="x.toml: unknown key"):
        DramSpec.from_dict({"bandwidth": 1}, where="x.toml")


# ---------------------------------------------------------------- occupancy, issue, active cores

from smartmem_sim.memsim.report import LevelStats  # noqa: E402
from smartmem_sim.memsim.timing import Occupancy, cycles_from_terms, estimate  # noqa: E402

L1 = CacheLevel(name="L1", size=256, ways=1, line=64, per_core=True, latency_cycles=10, bandwidth_bytes_per_cycle=4)
L2 = CacheLevel(name="L2", size=1024, ways=1, line=64, latency_cycles=100, bandwidth_bytes_per_cycle=8)


def _stats(l1_acc, l1_bytes, l2_acc, l2_bytes):
    return [LevelStats("L1", l1_acc, l1_acc, 0, 0, l1_bytes, 0, 0, 0, copies=4),
            LevelStats("L2", l2_acc, l2_acc, 0, 0, l2_bytes, 0, 0, 0)]


def _est(occ, **kw):
    dram = DramSpec(bandwidth_bytes_per_s=0, latency_cycles=500)
    return estimate([L1, L2], _stats(100, 1600, 10, 640), [4, 1], dram, 0, 0, 2, 1e9, 1000.0, **kw, occupancy=occ)


LAT = 100 * 10 + 10 * 100 + 2 * 500  # every access pays L1's 10; the 10 L1 misses L2's 100; 2 DRAM requests 500
MISS = 10 * 100 + 2 * 500


def test_chain_bound_by_work_items_and_rounds():
    occ = Occupancy(max_items_per_core=16, reads_in_flight_per_item=2, accesses_per_core_per_cycle=1000)
    # 5 work-items, each waiting on its share of the latency, two reads overlapped: one round
    t = _est(occ, work_items=5, issued_accesses=100)
    assert t["rounds"] == 1 and t["chain_cycles"] == pytest.approx(LAT / 5 / 2)
    assert t["bound"] == "chain" and t["cycles"] == pytest.approx(LAT / 10)
    # 200 items on 4 cores x 16 resident = 64 at a time: 4 rounds (the last partly filled counts whole)
    t = _est(occ, work_items=200, issued_accesses=100)
    assert t["rounds"] == 4 and t["chain_cycles"] == pytest.approx(4 * LAT / 200 / 2)
    # no work-item count or no occupancy: no chain (the bare cache-study formula)
    assert _est(occ)["chain_cycles"] == 0 and _est(None, work_items=5)["chain_cycles"] == 0


def test_miss_bound_counts_only_what_missed_the_first_level():
    occ = Occupancy(max_items_per_core=10**6, reads_in_flight_per_item=10**6, accesses_per_core_per_cycle=10**6)
    dram = DramSpec(bandwidth_bytes_per_s=0, latency_cycles=500)
    t = estimate([L1, L2], _stats(100, 1600, 10, 640), [4, 1], dram, 0, 0, 2, 1e9, 1.0,
                 occupancy=occ, work_items=10**6, issued_accesses=100)
    assert t["miss_latency_sum_cycles"] == MISS and t["latency_sum_cycles"] == LAT
    assert t["bound"] == "miss" and t["cycles"] == pytest.approx(MISS / 1.0)


def test_issue_term_and_active_cores():
    occ = Occupancy(max_items_per_core=10**6, reads_in_flight_per_item=10**6, accesses_per_core_per_cycle=2)
    fill = LAT / 1000
    # 4 cores: L1 1600 B / (4 B/cycle x 4 copies) = 100, L2 640 / 8 = 80, issue 1000 / (4 x 2) = 125
    t = _est(occ, issued_accesses=1000)
    assert t["issue_cycles"] == 125 and t["transfer_cycles"]["L1"] == 100
    assert t["cycles"] == pytest.approx(125 + fill) and t["bound"] == "throughput + fill"
    # one active core: L1 bandwidth of one copy (400), issue 1000 / 2 = 500, compute 40 x 4 / 1 = 160
    t1 = _est(occ, issued_accesses=1000, active_cores=1, compute_cycles=40)
    assert t1["transfer_cycles"]["L1"] == 400 and t1["issue_cycles"] == 500 and t1["compute_cycles"] == 160
    assert t1["cycles"] == pytest.approx(500 + fill)
    # compute bound: 400 cycles of compute on all 4 cores
    assert _est(occ, compute_cycles=400, issued_accesses=1000)["cycles"] == pytest.approx(400 + fill)
    with pytest.raises(MemsimError, match="work_items"):
        _est(occ, work_items=-1)


def test_vector_form_matches_estimate():
    occ = Occupancy(max_items_per_core=16, reads_in_flight_per_item=3, accesses_per_core_per_cycle=1)
    items = np.array([1.0, 30.0, 1e4])
    scalar = [_est(occ, work_items=float(n), issued_accesses=100) for n in items]
    thr = np.array([t["throughput_cycles"] for t in scalar])
    cyc = cycles_from_terms(thr, np.full(3, LAT), np.full(3, MISS), np.full(3, 100.0), items, np.full(3, 4.0),
                            1000.0, occ)[0]
    assert cyc.tolist() == pytest.approx([t["cycles"] for t in scalar])


def test_occupancy_validation():
    with pytest.raises(MemsimError, match="occupancy: field 'reads_in_flight_per_item' must be > 0"):
        Occupancy(max_items_per_core=1, reads_in_flight_per_item=0, accesses_per_core_per_cycle=1)
    with pytest.raises(MemsimError, match="x.toml: missing key"):
        Occupancy.from_dict({"max_items_per_core": 1}, where="x.toml")
    with pytest.raises(MemsimError, match="unknown key"):
        Occupancy.from_dict({"max_items_per_core": 1, "reads_in_flight_per_item": 1,
                             "accesses_per_core_per_cycle": 1, "warps": 2}, where="x.toml")
