"""A stand-in for compute.compute_task that sleeps instead of simulating, so the dask machinery (groups,
retries after a killed worker, resume, error records) is tested in seconds. Shipped to workers by value
(cloudpickle.register_pickle_by_value), so they need not import tests/.

Every call leaves a marker ``<log_dir>/<key>.<pid>.<ns>.start`` before it sleeps; the record names its pid."""
from __future__ import annotations

import os
import time
from pathlib import Path


def slow_task(task, key, code, context, log_dir: str, seconds: float = 0.5, fail_model: str = "") -> dict:
    Path(log_dir, f"{key}.{os.getpid()}.{time.time_ns()}.start").touch()
    time.sleep(seconds)
    if task.model == fail_model:
        raise RuntimeError(f"stand-in failure for {task.model}")
    return {**task.as_json(), "key": key, "code_version": code, "seconds": 1e-3, "pid": os.getpid(),
            "wall_s": seconds}


def starts(log_dir) -> dict[str, list[int]]:
    """key -> pids that started it (one entry per start), from the markers."""
    out: dict[str, list[int]] = {}
    for p in Path(log_dir).glob("*.start"):
        key, pid, _, _ = p.name.split(".")
        out.setdefault(key, []).append(int(pid))
    return out


def fresh_code_version() -> str:
    """This process's code version taken again (tests line the client and workers up on one version)."""
    from smartmem_sim.sweep import compute

    compute._WORKER_CODE = None
    return compute.worker_code_version()
