"""The kernel cache (smartmem_sim/kernel_cache.py): kept counts give the same numbers as simulating, the key
changes with every count-relevant parameter and with nothing else, and a broken cache never stops a run."""
from __future__ import annotations

import dataclasses

import pytest

from smartmem_sim import kernel_cache, memsim
from smartmem_sim.compiler.costs import SimulatedCost
from smartmem_sim.kernel_cache import KernelCache
from smartmem_sim.simulation import compile_for, load_graph, simulate_plan


@pytest.fixture(scope="module")
def plan():
    return compile_for(load_graph("vit", tiny=True), "fusion")


def _profile(**level_changes):
    prof = memsim.load_profile("adreno740")
    l2 = dataclasses.replace(prof.levels[1], **level_changes) if level_changes else prof.levels[1]
    return dataclasses.replace(prof, levels=[prof.levels[0], l2, *prof.levels[2:]])


def _run(plan, store, profile=None):
    cost = SimulatedCost(profile or memsim.load_profile("adreno740"), store=store)
    return simulate_plan(plan, cost=cost), cost


def test_kept_counts_give_the_numbers_of_a_simulation(plan, tmp_path):
    fresh, fresh_cost = _run(plan, None)
    store = KernelCache(tmp_path)
    first, _ = _run(plan, store)
    assert store.hits == 0 and store.misses > 0 and store.entries() > 0
    again, cost = _run(plan, KernelCache(tmp_path))  # another process would open it like this
    assert cost.store.misses == 0 and cost.store.hits == store.misses
    assert cost.simulated_rows == 0 < fresh_cost.simulated_rows
    for a, b, c in zip(fresh.kernels, first.kernels, again.kernels, strict=True):
        assert repr(a) == repr(b) == repr(c)  # repr: a nan error bound equals itself


def test_a_timing_parameter_keeps_the_counts_and_changes_the_time(plan, tmp_path):
    store = KernelCache(tmp_path)
    base, _ = _run(plan, store)
    slower = _profile(latency_cycles=_profile().levels[1].latency_cycles * 4)
    kept, cost = _run(plan, KernelCache(tmp_path), slower)
    assert cost.store.misses == 0
    fresh, _ = _run(plan, None, slower)
    assert [k.seconds for k in kept.kernels] == [k.seconds for k in fresh.kernels]
    assert sum(k.seconds for k in kept.kernels) > sum(k.seconds for k in base.kernels)


def test_a_cache_geometry_change_is_simulated_again(plan, tmp_path):
    store = KernelCache(tmp_path)
    _run(plan, store)
    bigger = _profile(size=_profile().levels[1].size * 2)
    changed, cost = _run(plan, KernelCache(tmp_path), bigger)
    assert cost.store.hits == 0 and cost.simulated_rows > 0
    fresh, _ = _run(plan, None, bigger)
    assert [k.seconds for k in changed.kernels] == [k.seconds for k in fresh.kernels]


def test_the_scope_names_code_and_geometry_only(monkeypatch):
    store = KernelCache("/nonexistent-never-opened")
    prof = _profile()
    base = store.scope(prof, True, 20_000, 3)
    assert store.scope(prof, True, 20_000, 3) == base
    assert store.scope(_profile(energy_pj_per_byte=99.0), True, 20_000, 3) == base
    assert store.scope(_profile(bandwidth_bytes_per_cycle=1.0), True, 20_000, 3) == base
    assert store.scope(_profile(ways=prof.levels[1].ways * 2), True, 20_000, 3) != base
    assert store.scope(prof, False, 20_000, 3) != base
    assert store.scope(prof, True, 10_000, 3) != base
    assert store.scope(dataclasses.replace(prof, cores=prof.cores // 2), True, 20_000, 3) != base
    kernel_cache.counts_code_version.cache_clear()
    monkeypatch.setattr(kernel_cache, "COUNT_PACKAGES", ("layout",))
    try:
        assert store.scope(prof, True, 20_000, 3) != base
    finally:
        kernel_cache.counts_code_version.cache_clear()


def test_an_unusable_folder_is_reported_once_and_the_run_goes_on(plan, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = KernelCache(blocker)
    result, cost = _run(plan, store)
    fresh, _ = _run(plan, None)
    assert [k.seconds for k in result.kernels] == [k.seconds for k in fresh.kernels]
    err = capsys.readouterr().err
    assert err.count("kernel cache") == 1 and "SMARTMEM_CACHE" in err


def test_the_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SMARTMEM_CACHE", "off")
    assert kernel_cache.cache_folder() is None and kernel_cache.default_cache() is None
    monkeypatch.setenv("SMARTMEM_CACHE", str(tmp_path / "k"))
    assert kernel_cache.cache_folder() == tmp_path / "k"
    monkeypatch.delenv("SMARTMEM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel_cache.cache_folder() == tmp_path / "xdg" / "smartmem-sim"


def test_a_value_that_is_not_json_turns_the_cache_off_with_one_message(tmp_path, capsys):
    store = KernelCache(tmp_path)
    store.put("a", {"counts": [1.0]})
    store.put("b", {"counts": object()})
    assert store.get("a") is None  # off after the failure: nothing read or written any more
    store.put("c", {"counts": [2.0]})
    assert capsys.readouterr().err.count("kernel cache") == 1
    assert KernelCache(tmp_path).get("a") == {"counts": [1.0]} and KernelCache(tmp_path).get("c") is None


def test_the_command_reports_and_clears_the_cache(plan, tmp_path, monkeypatch, capsys):
    import json

    from smartmem_sim import cli

    monkeypatch.setenv("SMARTMEM_CACHE", str(tmp_path))
    _run(plan, KernelCache(tmp_path))
    assert cli.main(["kernel-cache", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["enabled"] and doc["entries"] == KernelCache(tmp_path).entries() > 0 and doc["bytes"] > 0
    assert cli.main(["kernel-cache", "--clear"]) == 0
    assert "deleted" in capsys.readouterr().out and not (tmp_path / kernel_cache.FILE_NAME).exists()
    monkeypatch.setenv("SMARTMEM_CACHE", "off")
    assert cli.main(["kernel-cache"]) == 0 and "off" in capsys.readouterr().out


def test_the_shipped_profiles_are_not_code(tmp_path, monkeypatch):
    (tmp_path / "memsim" / "devices").mkdir(parents=True)
    (tmp_path / "memsim" / "engine.py").write_text("X = 1\n")
    (tmp_path / "memsim" / "devices" / "dev.toml").write_text("latency_cycles = 30\n")
    monkeypatch.setattr(kernel_cache, "PACKAGE_ROOT", tmp_path)
    monkeypatch.setattr(kernel_cache, "PROFILES", tmp_path / "memsim" / "devices")
    monkeypatch.setattr(kernel_cache, "COUNT_PACKAGES", ("memsim",))

    def version():
        kernel_cache.counts_code_version.cache_clear()
        return kernel_cache.counts_code_version()

    try:
        base = version()
        (tmp_path / "memsim" / "devices" / "dev.toml").write_text("latency_cycles = 60\n")
        assert version() == base
        (tmp_path / "memsim" / "engine.py").write_text("X = 2\n")
        assert version() != base
    finally:
        kernel_cache.counts_code_version.cache_clear()
