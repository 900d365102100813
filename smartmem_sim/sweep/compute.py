"""The worker side of a sweep: compute a group of tasks (one model on one device, several policies) and
write each result as soon as it is done.

Who writes: the worker writes ``cache_dir/<key>.json`` atomically (smartmem_sim/atomic.py) the moment a
task finishes, so a worker that dies mid-group loses only the task it was on, and the retried group skips
what is already there. The client also writes any record it receives whose file is missing (the same
bytes), so on a cluster whose workers do not share the client's file system the results still land on the
client's side (runner.py).

A worker process keeps, across tasks and groups: numba's compiled code (loaded once per process from the
on-disk cache), and one memsim-backed cost model per device profile (SimulatedCost memoizes kernels by
signature, so the kernels that naive, fusion, smartmem and search share are simulated once per worker).
"""
from __future__ import annotations

import json
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

_COST_MODELS: dict[str, Any] = {}  # profile hash -> SimulatedCost, for the life of the worker process
_NUMBA_THREADS_SET = False
_WORKER_CODE: str | None = None


def worker_code_version() -> str:
    """The code version this process runs: taken once, right after importing the modules that compute
    (later edits on disk do not change what this process executes)."""
    global _WORKER_CODE
    if _WORKER_CODE is None:
        import compiler.pipeline  # noqa: F401
        import smartmem_sim.simulate  # noqa: F401

        _WORKER_CODE = code_version()
    return _WORKER_CODE


def result_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"{key}.json"


def read_result(cache_dir: str | Path, key: str) -> dict | None:
    """The cached record of ``key``, or None when missing or unreadable (a torn file is recomputed)."""
    path = result_path(cache_dir, key)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or "seconds" not in record:
        return None
    return record


def write_result(cache_dir: str | Path, record: dict) -> None:
    write_text(result_path(cache_dir, record["key"]), dumps(record))


def dumps(record: dict) -> str:
    return json.dumps(record, default=_json_default, separators=(",", ":"))


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


def cost_model_for(task: Task):
    """The worker's shared SimulatedCost of the task's (possibly overridden) profile."""
    from compiler.costs import SimulatedCost
    from smartmem_sim.simulate import ProgramSampler

    h = profile_hash(task)
    if h not in _COST_MODELS:
        device = build_device(task)
        _COST_MODELS[h] = SimulatedCost(device, ProgramSampler.for_device(device))
    return _COST_MODELS[h]


def compute_task(task: Task, key: str, code: str, context: dict | None = None) -> dict:
    """Compile and simulate one task; the record that goes to ``<key>.json``. ``context`` is shared by the
    tasks of one group (it keeps the loaded graph)."""
    from smartmem_sim.simulate import compile_for, load_graph, simulate_plan

    t0, c0 = time.perf_counter(), time.process_time()
    context = {} if context is None else context
    if "graph" not in context:
        context["graph"] = load_graph(task.model, task.tiny, batch=task.batch)
    cost = cost_model_for(task)
    plan = compile_for(context["graph"], task.policy, cost.device, task.storage, cost)
    result = simulate_plan(plan, cost.device, cost)
    record = result.to_dict()
    # the task's own fields win over the summary's same-named ones (model/device/policy name the task as asked)
    record.update(task.as_json())
    # cpu_s: this process's CPU time, what wall_s would be on an idle core (all numba threads counted)
    record.update(key=key, code_version=code, wall_s=round(time.perf_counter() - t0, 3),
                  cpu_s=round(time.process_time() - c0, 3))
    return json.loads(dumps(record))


def _set_numba_threads(threads: int | None) -> None:
    global _NUMBA_THREADS_SET
    if threads is None or _NUMBA_THREADS_SET:
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    _NUMBA_THREADS_SET = True


def compute_group(jobs: Sequence[tuple[Task, str]], cache_dir: str, code: str, numba_threads: int | None = None,
                  task_fn: Callable[[Task, str, str, dict], dict] = compute_task) -> list[dict]:
    """Compute the (task, key) jobs of one group in order, skipping those already cached; write each result
    as it is done. A task that raises gives an error record (model, device, policy, error) instead of a
    result and is not cached; the others go on. Returns one record per job.

    ``code``: the client's code version; a worker whose sources differ refuses (its results would be filed
    under keys that do not describe them). ``numba_threads``: numba threads of this worker (None: numba's
    default); the local cluster gives each of its single-threaded workers a share of the cores.
    ``task_fn(task, key, code, context)``: computes one record (compute_task; tests give a stand-in).
    """
    _set_numba_threads(numba_threads)
    mine = worker_code_version()
    if mine != code:
        msg = (f"worker code version {mine} differs from the client's {code}: the sources changed under the "
               "sweep or the cluster runs another checkout; restart the workers")
        return [error_record(task, key, msg) for task, key in jobs]
    records = []
    context: dict = {}
    order = {p: i for i, p in enumerate(POLICY_ORDER)}
    for task, key in sorted(jobs, key=lambda j: order.get(j[0].policy, len(order))):
        cached = read_result(cache_dir, key)
        if cached is not None:
            records.append(cached)
            continue
        try:
            record = task_fn(task, key, code, context)
            write_result(cache_dir, record)
        except Exception as exc:  # noqa: BLE001 - reported per task; the group's other tasks go on
            record = error_record(task, key, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        records.append(record)
    return records


def error_record(task: Task, key: str, error: str, trace: str = "") -> dict:
    return {**task.as_json(), "key": key, "error": error, "traceback": trace, "pid": os.getpid()}
