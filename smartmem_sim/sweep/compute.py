"""The worker side of a sweep: compute a group of tasks (one model on several devices under several
policies) and write each result as soon as it is done.

Who writes: the worker writes ``cache_dir/<key>.json`` atomically (smartmem_sim/atomic.py) the moment a
job finishes (a job: one task, or the tasks of one policy on several devices, see below), so a worker that
dies mid-group loses only the job it was on, and the retried group skips what is already there. The client also writes any record it receives whose file is missing (the same
bytes), so on a cluster whose workers do not share the client's file system the results still land on the
client's side (runner.py).

A worker process keeps, across tasks and groups: numba's compiled code (loaded once per process from the
on-disk cache), and one memsim-backed cost model per device profile (SimulatedCost memoizes kernels by
signature, so the kernels that naive, fusion, smartmem and search share are simulated once per worker).
Within a group, the tasks of a policy whose plan does not depend on the device (all but search) are one
job (:func:`compute_tasks`): the plan is compiled once and every step is priced on all their devices in
a row, so its work-items are traced once (smartmem_sim.simulation.simulate_plan_on).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smartmem_sim.atomic import write_text
from smartmem_sim.sweep.task import Task, build_device, code_version, profile_hash

# Policies of a group run in this order: search starts from smartmem's decisions, so it finds their
# kernels already in the cost model's memo.
POLICY_ORDER = ("naive", "fusion", "smartmem", "search")


def device_dependent(policy: str) -> bool:
    """Whether compiling under ``policy`` asks the device's cost model (search's layouts, the tuned policies'
    tiles): such a task is compiled for its own device, never shared with a group on other devices."""
    from smartmem_sim.compiler.pipeline import TUNED

    return policy == "search" or policy in TUNED

_COST_MODELS: dict[str, Any] = {}  # profile hash -> SimulatedCost, for the life of the worker process
_NUMBA_THREADS_SET = False
_WORKER_CODE: str | None = None


def worker_code_version() -> str:
    """The code version this process runs: taken once, right after importing the modules that compute
    (later edits on disk do not change what this process executes)."""
    global _WORKER_CODE
    if _WORKER_CODE is None:
        import smartmem_sim.compiler.pipeline  # noqa: F401
        import smartmem_sim.simulation  # noqa: F401

        _WORKER_CODE = code_version()
    return _WORKER_CODE


def result_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"{key}.json"


def check_record(record, key: str) -> str | None:
    """Why a cached record of ``key`` cannot be used (None: it can): not an object, another key, a checksum
    that does not match its content (a record edited or written by something else), or fields of the wrong
    type or range."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("key") != key:
        return f"its key is {record.get('key')!r}"
    body = {k: v for k, v in record.items() if k != "checksum"}
    if record.get("checksum") != checksum(body):
        return "its checksum does not match its content"
    secs = record.get("seconds")
    if isinstance(secs, bool) or not isinstance(secs, int | float) or not math.isfinite(secs) or secs < 0:
        return f"'seconds' is {secs!r}, not a finite number >= 0"
    if not isinstance(record.get("code_version"), str):
        return "no 'code_version'"
    return None


def checksum(body: dict) -> str:
    """sha256 of a record's canonical JSON (sorted keys), without its own checksum field."""
    return hashlib.sha256(json.dumps(body, default=_json_default, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


def read_result(cache_dir: str | Path, key: str, rejected: list | None = None) -> dict | None:
    """The cached record of ``key`` (without its checksum), or None when missing, torn or failing
    :func:`check_record` (then it is recomputed; ``rejected`` collects (key, reason) of records that were
    there but failed)."""
    path = result_path(cache_dir, key)
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        reason = "not valid JSON (torn or edited)"
    else:
        reason = check_record(record, key)
    if reason is not None:
        if rejected is not None:
            rejected.append((key, reason))
        return None
    record.pop("checksum")  # a property of the file, not of the result
    return record


def write_result(cache_dir: str | Path, record: dict) -> None:
    body = {k: v for k, v in record.items() if k != "checksum"}
    write_text(result_path(cache_dir, record["key"]), dumps({**body, "checksum": checksum(body)}))


def dumps(record: dict) -> str:
    return json.dumps(record, default=_json_default, separators=(",", ":"))


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


def cost_model_for(task: Task):
    """The worker's shared SimulatedCost of the task's (possibly overridden) profile; simulated counts are
    shared with other workers and runs through the kernel cache (smartmem_sim/kernel_cache.py)."""
    from smartmem_sim.compiler.costs import SimulatedCost
    from smartmem_sim.kernel_cache import default_cache

    h = profile_hash(task)
    if h not in _COST_MODELS:
        device = build_device(task)
        _COST_MODELS[h] = SimulatedCost(device, store=default_cache())
    return _COST_MODELS[h]


def compute_task(task: Task, key: str, code: str, context: dict | None = None) -> dict:
    """Compile and simulate one task; the record that goes to ``<key>.json``. ``context`` is shared by the
    tasks of one group (it keeps the loaded graph)."""
    return compute_tasks([task], [key], code, context)[0]


def compute_tasks(tasks: Sequence[Task], keys: Sequence[str], code: str, context: dict | None = None,
                  price_also: Sequence[Task] = ()) -> list[dict]:
    """The records of tasks that differ only in device (and profile overrides): the plan is compiled once
    (under the first task's device, which only the device-dependent policies read, so their tasks come
    alone: :func:`device_dependent`) and
    simulated on every task's device. Each record is the one :func:`compute_task` would give; its
    ``wall_s`` and ``cpu_s`` are an equal share of the joint time. ``price_also``: tasks (search ones of
    the same model, on other devices) whose cost models the search also asks (PricedOnAll), so that their
    own searches later find every price memoized."""
    from smartmem_sim.simulation import PricedOnAll, compile_for, simulate_plan_on

    first = tasks[0]
    same = {(t.model, t.policy, t.tiny, t.batch, t.storage) for t in tasks}
    if len(same) != 1 or (device_dependent(first.policy) and len(tasks) > 1):
        raise ValueError("compute_tasks: tasks must differ only in device and overrides, and a task whose "
                         "compile asks the device (search, tuned policies) comes alone")
    t0, c0 = time.perf_counter(), time.process_time()
    context = {} if context is None else context
    graph_key = ("graph", first.model, first.tiny, first.batch)
    if graph_key not in context:
        from smartmem_sim.simulation import load_graph

        context[graph_key] = load_graph(first.model, first.tiny, batch=first.batch)
    costs = [cost_model_for(t) for t in tasks]
    search_cost = PricedOnAll([costs[0]] + [cost_model_for(t) for t in price_also]) if price_also else costs[0]
    plan = compile_for(context[graph_key], first.policy, costs[0].device, first.storage, search_cost)
    results = simulate_plan_on(plan, costs)
    wall, cpu = (time.perf_counter() - t0) / len(tasks), (time.process_time() - c0) / len(tasks)
    records = []
    for task, key, result in zip(tasks, keys, results, strict=True):
        record = result.to_dict()
        # the task's own fields win over the summary's same-named ones (model/device/policy name the task as asked)
        record.update(task.as_json())
        # cpu_s: this process's CPU time, what wall_s would be on an idle core (all numba threads counted)
        record.update(key=key, code_version=code, wall_s=round(wall, 3), cpu_s=round(cpu, 3))
        records.append(json.loads(dumps(record)))
    return records


def _set_numba_threads(threads: int | None) -> None:
    global _NUMBA_THREADS_SET
    if threads is None or _NUMBA_THREADS_SET:
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    _NUMBA_THREADS_SET = True


def compute_group(jobs: Sequence[tuple[Task, str]], cache_dir: str, code: str, numba_threads: int | None = None,
                  task_fn: Callable[[Task, str, str, dict], dict] | None = None) -> list[dict]:
    """Compute the (task, key) jobs of one group, skipping those already cached; write each result as it is
    done. A task that raises gives an error record (model, device, policy, error) instead of a result and
    is not cached; the others go on. Returns one record per job, in POLICY_ORDER (then as given).

    ``code``: the client's code version; a worker whose sources differ refuses (its results would be filed
    under keys that do not describe them). ``numba_threads``: numba threads of this worker (None: numba's
    default); the local cluster gives each of its single-threaded workers a share of the cores.
    ``task_fn(task, key, code, context)``: computes one record, one task at a time (tests give a stand-in);
    by default tasks that differ only in device are computed together (:func:`compute_tasks`).
    """
    _set_numba_threads(numba_threads)
    mine = worker_code_version()
    if mine != code:
        msg = (f"worker code version {mine} differs from the client's {code}: the sources changed under the "
               "sweep or the cluster runs another checkout; restart the workers")
        return [error_record(task, key, msg) for task, key in jobs]
    order = {p: i for i, p in enumerate(POLICY_ORDER)}
    jobs = sorted(jobs, key=lambda j: order.get(j[0].policy, len(order)))
    records: list[dict | None] = [read_result(cache_dir, key) for _, key in jobs]
    context: dict = {}
    pending = [i for i, r in enumerate(records) if r is None]
    for batch in _batches(pending, jobs, task_fn is None):
        done = None
        later = _later_searches(batch, pending, jobs) if task_fn is None else []
        if len(batch) > 1 or later:
            try:
                done = compute_tasks([jobs[i][0] for i in batch], [jobs[i][1] for i in batch], code, context,
                                     price_also=later)
            except Exception:  # noqa: BLE001 - computed again one task at a time, which names the culprit
                done = None
        if done is None:
            done = [_one_task(jobs[i][0], jobs[i][1], code, context, task_fn) for i in batch]
        for i, record in zip(batch, done, strict=True):
            if "error" not in record:
                write_result(cache_dir, record)
            records[i] = record
    return records


def _batches(pending: list[int], jobs: Sequence[tuple[Task, str]], joint: bool) -> list[list[int]]:
    """Indices of the pending jobs in batches of tasks computed together: same model, policy and storage,
    any device (device-dependent policies' tasks and, unless ``joint``, every task alone)."""
    out: dict[tuple, list[int]] = {}
    for i in pending:
        t = jobs[i][0]
        alone = not joint or device_dependent(t.policy)
        out.setdefault((i,) if alone else (t.model, t.policy, t.tiny, t.batch, t.storage), []).append(i)
    return sorted(out.values())


def _later_searches(batch: list[int], pending: list[int], jobs: Sequence[tuple[Task, str]]) -> list[Task]:
    """For a search batch: the pending search tasks of the same network after it (on other devices), whose
    prices its search also makes; [] for any other batch."""
    first = jobs[batch[0]][0]
    if first.policy != "search":
        return []
    same = (first.model, first.tiny, first.batch, first.storage)
    return [jobs[i][0] for i in pending if i > batch[-1] and jobs[i][0].policy == "search"
            and (jobs[i][0].model, jobs[i][0].tiny, jobs[i][0].batch, jobs[i][0].storage) == same]


def _one_task(task: Task, key: str, code: str, context: dict, task_fn) -> dict:
    try:
        return (task_fn or compute_task)(task, key, code, context)
    except Exception as exc:  # noqa: BLE001 - reported per task; the group's other tasks go on
        return error_record(task, key, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def error_record(task: Task, key: str, error: str, trace: str = "") -> dict:
    return {**task.as_json(), "key": key, "error": error, "traceback": trace, "pid": os.getpid()}
