"""Calibrated profiles: strict TOML memsim loads, every fitted number marked, guesses kept as guesses."""
from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from smartmem_sim import memsim
from smartmem_sim.calibration import profile_out
from smartmem_sim.calibration.measure import Calibration
from smartmem_sim.memsim.profiles import profile_from_dict


def fake_calibration() -> Calibration:
    cal = Calibration("Test / GPU", 2.0e9, 132)
    for key, value in {"capacity_0": 230_000, "capacity_1": 24e6, "line": 128, "fetch_bytes": 32,
                       "image_latency_0": 60.0, "image_latency_1": 176.0, "image_latency_2": 400.0,
                       "buffer_latency_0": 20.0, "buffer_latency_1": 143.0, "buffer_latency_2": 315.0,
                       "bandwidth_image_0": 8e12, "bandwidth_image_1": 7.9e12, "bandwidth_image_2": 1.3e12,
                       "launch_ns": 4000.0}.items():
        cal.put(key, value, f"test {key}")
    return cal


def test_profile_loads_and_marks_sources(tmp_path):
    base = memsim.load_profile("h100_opencl")
    prof = profile_out.build_profile(fake_calibration(), base, "h100_test", (3e4, "fit on test kernels"), "2026-01-01")
    text = profile_out.to_toml(prof, "test header")
    path = tmp_path / "p.toml"
    path.write_text(text)
    p = memsim.load_profile(path)
    assert p.name == "h100_test" and p.cores == 132 and p.clock_hz == 2.0e9
    l1, l2 = p.levels
    assert l1.size == 262144  # 230 KB rounded to 4 ways x 128 B x 2^k
    assert l2.size == 25 * 128 * 8192  # 24 MB -> 26.2 MB (25 ways)
    assert (l1.line, l1.sector) == (128, 32)
    assert l1.latency_cycles == pytest.approx(120.0)  # 60 ns at 2 GHz
    assert l2.latency_cycles == pytest.approx(232.0)  # (176 - 60) ns
    assert p.dram.latency_cycles == pytest.approx(344.0)  # buffer plateaus (315 - 143) ns
    assert l1.bandwidth_bytes_per_cycle == pytest.approx(8e12 / 2e9 / 132, rel=1e-5)  # 6 digits written
    # the base's [occupancy] (not measured by microbenchmarks) is carried over with the base's sources
    assert p.occupancy == base.occupancy
    assert p.sources["occupancy.reads_in_flight_per_item"].startswith("guess (base profile h100_opencl")
    assert p.dram.bandwidth_bytes_per_s == pytest.approx(1.3e12)
    assert p.memory_parallelism == pytest.approx(3e4)
    for key in ("cores", "clock_hz", "memory_parallelism", "levels.L1.size", "levels.L2.latency_cycles",
                "dram.latency_cycles"):
        assert p.sources[key].startswith("calibrated: ") and "2026-01-01, Test / GPU" in p.sources[key]
    # what calibration does not measure stays a guess
    assert "levels.L1.ways" in p.guesses() and "levels.L1.energy_pj_per_byte" in p.guesses()
    assert text.startswith("# test header")


def test_missing_measurements_keep_base_values():
    base = memsim.load_profile("pocl_cpu")
    cal = Calibration("Test / CPU", 2.4e9, 2)
    cal.put("capacity_0", 30_000, "one knee only")
    cal.put("image_latency_0", 2.0, "l1")
    prof = profile_out.build_profile(cal, base, "cpu_test", None, "2026-01-01")
    p = profile_from_dict(tomllib.loads(profile_out.to_toml(prof, "h")), "t")
    assert p.levels[0].size == 32768 and p.levels[1].size == base.levels[1].size
    assert p.levels[2].latency_cycles == base.levels[2].latency_cycles
    assert p.memory_parallelism == base.memory_parallelism
    assert p.sources["levels.L2.size"].startswith("base profile pocl_cpu (not calibrated): ")


def test_execution_table_carries_the_base_and_the_measured_launch_overhead(tmp_path):
    base = memsim.load_profile("h100_opencl")
    text = profile_out.to_toml(profile_out.build_profile(fake_calibration(), base, "x_cal", None, "2026-01-01"), "h")
    assert "\n[execution]\n" in text and "\n[execution.source]\n" in text
    path = tmp_path / "x_cal.toml"
    path.write_text(text)
    p = memsim.load_profile(path)
    ex = p.require_execution()
    assert ex.launch_overhead_s == pytest.approx(4e-6)  # launch_ns = 4000
    assert (ex.wave_size, ex.alu_lanes, ex.texel_reuse) == (32, 16896.0, False)  # h100_opencl's
    assert p.sources["execution.launch_overhead_s"] == "calibrated: median empty-kernel device time, 2026-01-01, Test / GPU"
    assert p.sources["execution.wave_size"] == f"base profile h100_opencl (not calibrated): {base.sources['execution.wave_size']}"
    assert p.sources["execution.alu_lanes"].startswith("base profile h100_opencl (not calibrated): H100 SXM")
    assert "execution.launch_overhead_s" not in p.guesses()
    # a cache-only base gives a cache-only profile
    bare = replace(base, execution=None, sources={k: s for k, s in base.sources.items() if not k.startswith("execution.")})
    assert "execution" not in profile_out.build_profile(fake_calibration(), bare, "x", None, "2026-01-01")
