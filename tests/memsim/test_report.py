"""Report: JSON-able dict and a printable table."""
import json

import numpy as np

from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.hierarchy import Hierarchy


def test_report_dict_and_table():
    h = Hierarchy([CacheLevel(name="L1", size=256, ways=2, line=64, per_core=True),
                   CacheLevel(name="L2", size=1024, ways=2, line=64)], cores=2, name="toy")
    rep = h.simulate_resolved(np.arange(100) * 8, np.arange(100) % 2, np.arange(100) % 5 == 0, np.full(100, 8))
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["device"] == "toy" and d["rows"] == 100
    assert [lv["name"] for lv in d["levels"]] == ["L1", "L2"]
    assert d["levels"][0]["accesses"] == rep.level("L1").accesses
    lines = rep.table().splitlines()
    assert lines[2].startswith("L1") and lines[3].startswith("L2") and lines[4].startswith("DRAM")
    assert f"{rep.level('L1').accesses:,}" in lines[2]
