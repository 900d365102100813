"""Run a grid of tasks on dask.distributed, reading what is cached and computing the rest.

Flow: the client hashes every task (task.py), reads ``cache_dir/<key>.json`` where present, groups the
missing tasks by (model, tiny, batch, storage) so a worker runs every device and policy of one model
together (sharing the loaded graph, the cost models' kernel memos, and one compilation and trace of each
device-independent plan: compute.py), and submits one dask task per group, biggest models first. Workers write results as they finish them (compute.py); the
client writes any it receives that are still missing, and reports progress over ``as_completed``.

Failures: a worker that dies takes its group back to the scheduler, which reruns it elsewhere (what the
dead worker had finished is on disk and is not recomputed); a group that kills
``ALLOWED_FAILURES + 1`` workers is given up as KilledWorker. A task that raises becomes an error record
(model, device, policy, error) and the others go on. Nothing failed is cached, so a rerun retries it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from smartmem_sim.errors import UserError
from smartmem_sim.sweep.compute import compute_group, error_record, read_result, write_result
from smartmem_sim.sweep.task import Task, code_version, task_key

# Times one group may be on a worker that dies before the scheduler gives up on it (dask's default is 3).
# A kill or a crash is retried; a group that brings down three workers is taken to be the cause.
ALLOWED_FAILURES = 2

# Environment of the local cluster's worker processes (set by each nanny before it starts its worker), on
# top of dask's distributed.nanny.pre-spawn-environ. dask's own default trims the heap above 64 KiB, and
# glibc maps every block over its (adaptive) mmap threshold afresh: our workers allocate and free trace
# arrays of megabytes thousands of times, so each of those page-faulted anew (74 M minor faults, a quarter
# of the paper sweep's CPU time was system time). Keeping freed memory in the heap and raising the mmap
# threshold to glibc's maximum (32 MiB on 64-bit) reuses pages instead. Passive OpenMP waiting: numba's omp
# threading layer otherwise spins idle threads after every parallel region.
WORKER_ENVIRON = {
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TOP_PAD_": str(64 << 20),
    "OMP_WAIT_POLICY": "passive",
}


@dataclass
class SweepOutcome:
    """What a sweep did: ``records`` (one per task, in task order; failed ones carry ``error``),
    how many tasks were ``computed`` now or read ``cached``, and ``wall_s`` of the whole call."""

    records: list[dict]
    computed: int = 0
    cached: int = 0
    wall_s: float = 0.0
    groups: int = 0
    failed: list[dict] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # cached records that failed their check


def run_sweep(tasks: Sequence[Task], cache_dir: str | Path = ".cache/sweep", scheduler: str | None = None,
              workers: int = 2, progress: bool = True) -> list[dict]:
    """One record per task, in task order: ``asdict(task)`` + ``key``, ``wall_s``, ``code_version`` +
    SimulationResult.to_dict() (the task's fields win over the summary's same-named ones); a task that
    failed has ``error`` (and ``traceback``) instead of results.

    Cached results are read; missing ones are computed on dask.distributed: a LocalCluster of ``workers``
    single-threaded worker processes by default, or the scheduler at address ``scheduler`` (its workers
    must see ``cache_dir`` at the same path to write results themselves; the client writes them otherwise).
    """
    return execute(tasks, cache_dir, scheduler, workers, progress).records


def execute(tasks: Sequence[Task], cache_dir: str | Path = ".cache/sweep", scheduler: str | None = None,
            workers: int = 2, progress: bool = True, client=None,
            task_fn: Callable | None = None, group: bool = True, code: str | None = None) -> SweepOutcome:
    """run_sweep with counts. ``client``: an open distributed.Client to use instead of making one;
    ``task_fn``: what computes one record on a worker (compute.compute_task; tests give a stand-in);
    ``group``: False submits every task alone (to measure what grouping saves); ``code``: the code version
    to hash tasks under (default: the sources on disk now; workers that loaded other code refuse)."""
    t0 = time.perf_counter()
    tasks = list(tasks)
    bad = [t for t in tasks if not isinstance(t, Task)]
    if bad:
        raise UserError(f"run_sweep takes Task objects, got {type(bad[0]).__name__}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"workers must be a positive integer, got {workers!r}")
    cache_dir = Path(cache_dir)
    code = code if code is not None else code_version()
    keys = [_key(t, code) for t in tasks]

    found: dict[str, dict] = {}
    missing: dict[str, Task] = {}
    rejected: list[tuple[str, str]] = []
    for t, k in zip(tasks, keys, strict=True):
        if k in found or k in missing:
            continue
        rec = read_result(cache_dir, k, rejected)
        if rec is not None:
            found[k] = rec
        else:
            missing[k] = t
    out = SweepOutcome([], cached=len(found), rejected=rejected)
    for k, why in rejected:
        print(f"sweep: cached record {k} is not used ({why}); computing it again", file=sys.stderr)
    if missing:
        groups = _groups(missing) if group else [[(t, k)] for k, t in missing.items()]
        out.groups = len(groups)
        with _client(client, scheduler, workers) as cl:
            out.computed = _run_groups(cl, groups, cache_dir, code, found, progress, task_fn,
                                       numba_threads=None if (scheduler or client) else _threads_per(workers))
    for t, k in zip(tasks, keys, strict=True):
        rec = found.get(k) or error_record(t, k, "no result came back (the sweep was interrupted)")
        rec = {**rec, **t.as_json()}
        out.records.append(rec)
        if "error" in rec:
            out.failed.append(rec)
    out.wall_s = time.perf_counter() - t0
    return out


def _key(task: Task, code: str) -> str:
    try:
        return task_key(task, code)
    except UserError as exc:
        raise UserError(f"task {task.model} / {task.device} / {task.policy}: {exc}") from None
    except Exception as exc:
        from smartmem_sim.errors import user_error_types

        if isinstance(exc, user_error_types()):
            raise UserError(f"task {task.model} / {task.device} / {task.policy}: {exc}") from None
        raise


def _groups(missing: dict[str, Task]) -> list[list[tuple[Task, str]]]:
    """Missing tasks grouped by everything but the policy and the device (profile and overrides), biggest
    model first (they take longest, so starting them first shortens the tail)."""
    by: dict[tuple, list[tuple[Task, str]]] = {}
    for k, t in missing.items():
        by.setdefault((t.model, t.tiny, t.batch, t.storage), []).append((t, k))
    return sorted(by.values(), key=lambda g: -_size_hint(g[0][0]))


def _size_hint(task: Task) -> int:
    """Operators of the network (zoo stats.toml), times the batch; the file size for an .onnx path."""
    try:
        if task.is_onnx_file:
            return Path(task.model).stat().st_size
        from smartmem_sim.zoo import store

        return int(store.read_stats()[store.file_key(task.model, task.tiny)]["nodes"]) * task.batch
    except (OSError, KeyError, ValueError):
        return 0


def _threads_per(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


@contextmanager
def _client(client, scheduler: str | None, workers: int):
    if client is not None:
        yield client
        return
    from distributed import Client

    if scheduler:
        try:
            cl = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise UserError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        with cl:
            yield cl
        return
    with local_cluster(workers) as cluster, Client(cluster) as cl:
        yield cl


@contextmanager
def local_cluster(workers: int = 2):
    """A LocalCluster of ``workers`` single-threaded worker processes, dashboard on a free port, quiet logs, and
    ALLOWED_FAILURES retries for groups whose worker dies."""
    import dask
    from distributed import LocalCluster

    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENVIRON}
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    with cluster:
        yield cluster


class _FileProgress:
    """Advances the bar per task, not per group: a thread counts the result files workers write (when they
    share the client's file system); finished groups count too, for workers that do not."""

    def __init__(self, bar, cache_dir: Path, keys: list[str], every_s: float = 2.0):
        self.bar, self.cache_dir, self.pending = bar, cache_dir, set(keys)
        self.seen, self.groups_done = 0, 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, args=(every_s,), daemon=True)
        self.thread.start()

    def _watch(self, every_s: float) -> None:
        while not self.stopped.wait(every_s):
            done = {k for k in self.pending if (self.cache_dir / f"{k}.json").exists()}
            with self.lock:
                self.pending -= done
                self.seen += len(done)
                self._show()

    def group_done(self, tasks: int, label: str) -> None:
        with self.lock:
            self.groups_done += tasks
            self.bar.set_postfix_str(label, refresh=False)
            self._show()

    def _show(self) -> None:
        n = max(self.seen, self.groups_done)
        if n > self.bar.n:
            self.bar.update(n - self.bar.n)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        with self.lock:
            self._show()


def _group_key(group: list[tuple[Task, str]], run: str) -> str:
    """The dask key of a group in one execute call. ``run`` is new per call: the scheduler keeps a future
    under its key until every client reference is gone, so a key reused by the next call on the same client
    could hand back the previous call's result (or its error) instead of running the group."""
    digest = hashlib.sha1(json.dumps(sorted(k for _, k in group)).encode()).hexdigest()[:16]
    return f"smartmem-sweep-{digest}-{run}"


def _run_groups(client, groups, cache_dir: Path, code: str, found: dict[str, dict], progress: bool,
                task_fn: Callable | None, numba_threads: int | None) -> int:
    """Submit every group, collect as they complete; fills ``found``; returns tasks computed now."""
    from distributed import as_completed
    from tqdm import tqdm

    futures = {}
    run = uuid.uuid4().hex[:8]
    for rank, group in enumerate(groups):
        extra = {} if task_fn is None else {"task_fn": task_fn}
        fut = client.submit(compute_group, group, str(cache_dir), code, numba_threads, **extra,
                            key=_group_key(group, run), priority=len(groups) - rank, retries=0)
        futures[fut] = group
    computed = 0
    bar = tqdm(total=sum(len(g) for g in groups), unit="task", desc="sweep", disable=not progress,
               dynamic_ncols=True)
    watcher = _FileProgress(bar, cache_dir, [k for g in groups for _, k in g]) if progress else None
    try:
        for fut in as_completed(futures):
            group = futures[fut]
            if fut.status == "finished":
                records = fut.result()
            else:  # the group itself failed (KilledWorker after ALLOWED_FAILURES, or cancelled)
                exc = fut.exception()
                msg = f"{type(exc).__name__}: {exc}"
                records = [read_result(cache_dir, k) or error_record(t, k, msg) for t, k in group]
            for rec in records:
                if "error" not in rec:
                    if read_result(cache_dir, rec["key"]) is None:
                        write_result(cache_dir, rec)  # workers without the client's file system
                    computed += 1
                else:
                    bar.write(f"failed: {rec['model']} / {rec['device']} / {rec['policy']}: {rec['error']}")
                found[rec["key"]] = rec
            first = group[0][0]
            if watcher is not None:
                watcher.group_done(len(group), f"{first.model} on {first.device}")
    finally:
        if watcher is not None:
            watcher.stop()
        bar.close()
        for fut in futures:
            fut.release()
    return computed
