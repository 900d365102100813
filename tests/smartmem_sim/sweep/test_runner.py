"""smartmem_sim/sweep/runner.py on a real 2-worker LocalCluster, with a stand-in task function (stand_in.py)
so the tests exercise dask (groups, a killed worker, resume, failures) in seconds, not the simulator."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from smartmem_sim.errors import UserError
from smartmem_sim.sweep import Task, execute, run_sweep, task_key
from smartmem_sim.sweep.runner import ALLOWED_FAILURES, WORKER_ENVIRON, local_cluster
from tests.smartmem_sim.sweep import stand_in

pytest.importorskip("distributed")  # the [dist] extra
cloudpickle = pytest.importorskip("cloudpickle")

MODELS = ("vit", "resnext", "regnet", "convnext")
DEVICES = ("adreno740", "mali_g57")


def grid(policies=("naive", "smartmem")):
    """4 models x 2 devices x len(policies) tasks in 4 groups, one per model (tiny twins; keys only, nothing
    is simulated)."""
    return [Task(m, d, p, tiny=True) for m in MODELS for d in DEVICES for p in policies]


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    cloudpickle.register_pickle_by_value(stand_in)
    with local_cluster(2) as cluster, Client(cluster) as cl:
        # Client and workers each hash the sources once per process; other people editing the tree between
        # the two would make the workers refuse every task, so line them up on one version first.
        for _ in range(5):
            mine = stand_in.fresh_code_version()
            if set(cl.run(stand_in.fresh_code_version).values()) == {mine}:
                break
        cl.code = mine  # the tests hash their tasks under this version
        yield cl
    cloudpickle.unregister_pickle_by_value(stand_in)


def result_files(cache: Path) -> dict[str, dict]:
    out = {}
    for p in cache.glob("*.json"):
        rec = json.loads(p.read_text())  # every file is whole, valid JSON
        assert p.stem == rec["key"]
        out[p.stem] = rec
    return out


def test_the_cluster_gives_up_after_allowed_failures(client):
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == ALLOWED_FAILURES
    assert len(client.scheduler_info()["workers"]) == 2


def _worker_environ(names):
    return {n: os.environ.get(n) for n in names}


def test_workers_start_with_the_sweep_environment(client):
    # the malloc settings only act when set before the worker process starts (glibc reads them once)
    seen = client.run(_worker_environ, sorted(WORKER_ENVIRON))
    assert seen and all(env == WORKER_ENVIRON for env in seen.values())


def test_a_failing_task_is_reported_and_the_others_complete(client, tmp_path):
    tasks = grid()
    fn = partial(stand_in.slow_task, log_dir=str(tmp_path), seconds=0.05, fail_model="regnet")
    out = execute(tasks, tmp_path / "cache", client=client, progress=False, task_fn=fn, code=client.code)
    assert [(r["model"], r["device"], r["policy"]) for r in out.records] == \
        [(t.model, t.device, t.policy) for t in tasks]
    failed = [r for r in out.records if "error" in r]
    assert {r["model"] for r in failed} == {"regnet"} and len(failed) == 4 == len(out.failed)
    assert all("stand-in failure for regnet" in r["error"] for r in failed)
    files = result_files(tmp_path / "cache")
    assert set(files) == {r["key"] for r in out.records if "error" not in r}
    assert out.computed == 12 and out.cached == 0


def test_resume_computes_only_what_is_missing(client, tmp_path):
    tasks = grid()
    cache, log = tmp_path / "cache", tmp_path / "log"
    log.mkdir()
    fn = partial(stand_in.slow_task, log_dir=str(log), seconds=0.05)
    first = execute(tasks, cache, client=client, progress=False, task_fn=fn, code=client.code)
    assert first.computed == 16 and not first.failed
    assert all(len(pids) == 1 for pids in stand_in.starts(log).values())

    again = execute(tasks, cache, client=client, progress=False, task_fn=fn, code=client.code)
    assert again.computed == 0 and again.cached == 16
    assert sum(len(p) for p in stand_in.starts(log).values()) == 16  # no task ran again
    assert again.records == first.records

    lost = [first.records[3]["key"], first.records[10]["key"]]
    for k in lost:
        (cache / f"{k}.json").unlink()
    third = execute(tasks, cache, client=client, progress=False, task_fn=fn, code=client.code)
    assert third.computed == 2 and third.cached == 14
    runs = stand_in.starts(log)
    assert sorted(k for k, pids in runs.items() if len(pids) == 2) == sorted(lost)


def test_duplicate_tasks_run_once_and_fill_every_position(client, tmp_path):
    t = Task("vit", "adreno740", "naive", tiny=True)
    fn = partial(stand_in.slow_task, log_dir=str(tmp_path), seconds=0.01)
    out = execute([t, t], tmp_path / "cache", client=client, progress=False, task_fn=fn, code=client.code)
    assert out.computed == 1 and out.records[0] == out.records[1]


def test_a_worker_killed_mid_sweep_loses_nothing(client, tmp_path):
    """Kill the worker process that is running the second task of a group; the scheduler reruns the
    group elsewhere, the finished first task is read from disk, and every key ends up exactly once."""
    tasks = grid()
    cache, log = tmp_path / "cache", tmp_path / "log"
    log.mkdir()
    keys = {task_key(t, client.code): t for t in tasks}
    fn = partial(stand_in.slow_task, log_dir=str(log), seconds=0.6)
    killed: dict = {}

    def kill_one():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for key, pids in stand_in.starts(log).items():
                if keys[key].policy == "smartmem" and not (cache / f"{key}.json").exists() \
                        and len(stand_in.starts(log)) >= 3:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.update(key=key, pid=pids[0])
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one)
    killer.start()
    out = execute(tasks, cache, client=client, progress=False, task_fn=fn, code=client.code)
    killer.join()
    assert killed, "the sweep ended before a worker could be killed"

    assert not out.failed and out.computed == 16
    files = result_files(cache)
    assert set(files) == set(keys)  # every result present, each once (one file per key)
    runs = stand_in.starts(log)
    again = {k for k, pids in runs.items() if len(pids) > 1}
    assert again == {killed["key"]}  # only the task the kill interrupted ran twice
    assert files[killed["key"]]["pid"] != killed["pid"]
    # the first task of the killed group had finished on the dead worker and was not recomputed
    group = [k for k, t in keys.items() if (t.model, t.device) == (keys[killed["key"]].model,
                                                                    keys[killed["key"]].device)]
    first = next(k for k in group if k != killed["key"])
    assert runs[first] == [killed["pid"]] and files[first]["pid"] == killed["pid"]
    client.wait_for_workers(2, timeout=120)  # the nanny restarted the dead worker


def test_run_sweep_checks_its_input(tmp_path):
    with pytest.raises(UserError, match="Task objects"):
        run_sweep([("vit", "adreno740")], tmp_path)
    with pytest.raises(UserError, match="workers"):
        run_sweep([Task("vit", tiny=True)], tmp_path, workers=0)
    with pytest.raises(UserError, match="nosuchnet / adreno740 / naive"):
        run_sweep([Task("nosuchnet", "adreno740", "naive")], tmp_path)
