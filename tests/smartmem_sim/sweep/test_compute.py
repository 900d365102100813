"""smartmem_sim/sweep/compute.py in this process (no cluster): a group's records against
smartmem_sim.simulation.simulate_model, files written atomically, cache reads, task errors, stale workers."""
from __future__ import annotations

import json

import onnx
import pytest

from smartmem_sim import memsim
from smartmem_sim.simulation import simulate_model
from smartmem_sim.sweep import Task, task_key
from smartmem_sim.sweep.compute import checksum, compute_group, read_result, result_path, worker_code_version
from tests.compiler.search.graphs import attention


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "attn.onnx"
    onnx.save(attention(), str(path))
    return path


def jobs(tasks):
    return [(t, task_key(t)) for t in tasks]


def test_a_group_matches_simulate_model_and_is_written(onnx_path, tmp_path):
    # two devices: the tasks of a policy are computed together (compute_tasks), and the first search prices
    # its candidates on both devices (PricedOnAll); each record must be what the task gives alone
    policies = ("smartmem", "search", "naive", "fusion")
    tasks = [Task(str(onnx_path), d, p) for p in policies for d in ("adreno740", "h100_opencl")]
    records = compute_group(jobs(tasks), str(tmp_path), worker_code_version())
    assert [r["policy"] for r in records] == [p for p in ("naive", "fusion", "smartmem", "search") for _ in "ab"]
    assert [r["device"] for r in records] == ["adreno740", "h100_opencl"] * 4
    for r in records:
        ref = simulate_model(str(onnx_path), r["device"], r["policy"])
        assert r["seconds"] == pytest.approx(ref.seconds, rel=1e-12)
        assert r["dram_bytes"] == pytest.approx(ref.dram_bytes, rel=1e-12)
        assert r["transforms"] == len(ref.transforms) and len(r["per_kernel"]) == len(ref.kernels)
        # energy_joules (the field experiments/ reads): the task alone's, and the sum of its kernels'
        assert r["energy_joules"] == pytest.approx(ref.energy_joules, rel=1e-12) and r["energy_joules"] > 0
        assert r["energy_joules"] == pytest.approx(sum(k["energy_joules"] for k in r["per_kernel"]), rel=1e-12)
        assert set(r["energy_pj_per_byte"]) == {*r["misses"], "DRAM"}
        assert r["model"] == str(onnx_path) and r["wall_s"] >= 0
        on_disk = json.loads(result_path(tmp_path, r["key"]).read_text())
        assert on_disk.pop("checksum") == checksum(r) and on_disk == r
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    naive, smartmem = records[0], records[4]
    assert naive["transforms"] > smartmem["transforms"] == 0


def test_an_override_equals_the_same_profile_given_as_a_file(onnx_path, tmp_path):
    text = memsim.profiles.profile_path("adreno740").read_text()
    prof = tmp_path / "small_l1.toml"
    prof.write_text(text.replace("size = 2048", "size = 1024", 1))
    by_override = Task(str(onnx_path), "adreno740", "smartmem", overrides=(("levels.L1.size", 1024),))
    by_file = Task(str(onnx_path), str(prof), "smartmem")
    shipped = Task(str(onnx_path), "adreno740", "smartmem")
    a, b, c = (compute_group(jobs([t]), str(tmp_path / n), worker_code_version())[0]
               for n, t in (("a", by_override), ("b", by_file), ("c", shipped)))
    assert a["key"] == b["key"] != c["key"]
    assert a["seconds"] == pytest.approx(b["seconds"], rel=1e-12)
    assert a["misses"]["L1"] > c["misses"]["L1"]  # a quarter of the L1 misses more


def test_a_failing_task_gives_an_error_record_and_the_rest_complete(onnx_path, tmp_path):
    bad = onnx_path.parent / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    good = Task(str(onnx_path), "adreno740", "naive")
    records = compute_group(jobs([Task(str(bad), "adreno740", "naive"), good]), str(tmp_path), worker_code_version())
    assert records[0]["model"] == str(bad) and records[0]["policy"] == "naive" and records[0]["error"]
    assert "seconds" in records[1] and "error" not in records[1]
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == [records[1]["key"]]  # errors are not cached


def test_cached_results_are_read_not_recomputed(onnx_path, tmp_path):
    t = Task(str(onnx_path), "adreno740", "naive")
    first = compute_group(jobs([t]), str(tmp_path), worker_code_version())

    def boom(*args):
        raise AssertionError("recomputed")

    assert compute_group(jobs([t]), str(tmp_path), worker_code_version(), task_fn=boom) == first
    # a torn file (as after a crash mid-write, which the atomic write prevents) is recomputed
    result_path(tmp_path, first[0]["key"]).write_text('{"key": ')
    assert read_result(tmp_path, first[0]["key"]) is None
    again = compute_group(jobs([t]), str(tmp_path), worker_code_version())
    assert again[0]["seconds"] == first[0]["seconds"]


@pytest.mark.parametrize("plant, reason", [
    (lambda rec: {**rec, "seconds": 123}, "checksum"),            # a planted time: 123000 ms in every table
    (lambda rec: {**rec, "seconds": "oops", "checksum": checksum({**{k: v for k, v in rec.items() if k != "checksum"},
                                                                 "seconds": "oops"})}, "'seconds'"),
    (lambda rec: {k: v for k, v in rec.items() if k != "checksum"}, "checksum"),   # written by something else
    (lambda rec: [rec], "not a JSON object"),
])
def test_a_planted_or_corrupted_record_is_detected_and_recomputed(onnx_path, tmp_path, plant, reason):
    t = Task(str(onnx_path), "adreno740", "naive")
    (first,) = compute_group(jobs([t]), str(tmp_path), worker_code_version())
    path = result_path(tmp_path, first["key"])
    path.write_text(json.dumps(plant(json.loads(path.read_text()))))
    rejected = []
    assert read_result(tmp_path, first["key"], rejected) is None
    assert rejected and rejected[0][0] == first["key"] and reason in rejected[0][1]
    (again,) = compute_group(jobs([t]), str(tmp_path), worker_code_version())
    assert again["seconds"] == pytest.approx(first["seconds"]) and read_result(tmp_path, first["key"]) is not None


def test_a_worker_with_other_code_refuses(onnx_path, tmp_path):
    t = Task(str(onnx_path), "adreno740", "naive")
    records = compute_group(jobs([t]), str(tmp_path), "0123456789abcdef")
    assert "differs from the client's 0123456789abcdef" in records[0]["error"]
    assert not list(tmp_path.glob("*.json"))


def test_a_given_task_fn_computes_every_task_itself(onnx_path, tmp_path):
    # with a stand-in, search tasks must not be computed jointly (PricedOnAll) behind its back
    tasks = [Task(str(onnx_path), d, "search") for d in ("adreno740", "h100_opencl")]
    seen = []

    def fake(task, key, code, context):
        seen.append(task.device)
        return {**task.as_json(), "key": key, "code_version": code, "seconds": 1.0}

    records = compute_group(jobs(tasks), str(tmp_path), worker_code_version(), task_fn=fake)
    assert seen == ["adreno740", "h100_opencl"] and [r["seconds"] for r in records] == [1.0, 1.0]
