"""smartmem_sim/compiler/costs/compulsory.py: a sample's shared-level misses bounded by the kernel's footprint.
Properties over random counts (the end-to-end check against exact runs is in tests/smartmem_sim/test_simulation.py)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim import memsim
from smartmem_sim.compiler.costs.compulsory import LEVEL_KEYS, cap_shared_levels, sectors

PROFILES = {name: memsim.load_profile(name) for name in ("adreno740", "h100_opencl", "pocl_cpu")}


@st.composite
def counts(draw, levels):
    out = {"levels": [], "rows": 1000.0}
    accesses = draw(st.floats(1e3, 1e9))
    for _ in levels:
        misses = draw(st.floats(0, 1)) * accesses
        lv = {k: 0.0 for k in LEVEL_KEYS}
        lv.update(accesses=accesses, misses=misses, hits=accesses - misses, sector_misses=misses * draw(st.floats(0, 1)),
                  bytes_read=accesses * 16, bytes_filled=misses * 32, writebacks=draw(st.floats(0, 1e5)))
        out["levels"].append(lv)
        accesses = misses + lv["writebacks"]
    out.update(dram_read=accesses * 32, dram_written=draw(st.floats(0, 1e6)), dram_requests=accesses)
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(PROFILES)), footprint=st.integers(0, 64 << 20))
def test_counts_other_than_hits_never_grow_and_a_fitting_footprint_bounds_the_shared_levels(data, name, footprint):
    prof = PROFILES[name]
    before = data.draw(counts(prof.levels))
    after = cap_shared_levels(before, prof.levels, footprint)
    for lv, b, a in zip(prof.levels, before["levels"], after["levels"], strict=True):
        for k in LEVEL_KEYS:
            if k == "hits":  # a miss the bound takes away is a hit
                continue
            assert a[k] <= b[k] * (1 + 1e-12) + 1e-9, (lv.name, k)
        assert a["hits"] + a["misses"] == pytest.approx(a["accesses"])
        if lv.per_core:
            assert a == b  # a core's own level keeps what the window saw
        elif footprint <= lv.size:
            assert a["misses"] <= sectors(footprint, lv.sector or lv.line)
            assert a["bytes_filled"] <= footprint
    shared = [lv for lv in prof.levels if not lv.per_core]
    assert after["dram_written"] == before["dram_written"]
    if footprint <= shared[-1].size:
        assert after["dram_read"] <= footprint
    if footprint > max(lv.size for lv in shared):
        assert after == before  # fits nowhere: no bound applies
