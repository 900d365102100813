"""Sweeps: grids of (model, device, policy, ...) tasks computed on dask.distributed, cached by content hash.

    from smartmem_sim.sweep import Task, load_config, run_sweep, task_key
    tasks = [Task("swin", "adreno740", p, tiny=True) for p in ("naive", "smartmem")]
    records = run_sweep(tasks, cache_dir=".cache/sweep")     # one dict per task, in task order

A killed sweep resumes: results are files ``cache_dir/<task_key>.json`` written atomically as each task
finishes, and a rerun computes only the missing ones. task.py says what the key hashes; compute.py what a
worker keeps between tasks; runner.py how groups, retries and failures work; config.py the TOML format.
"""
from smartmem_sim.sweep.config import SweepConfig, load_config, read_config
from smartmem_sim.sweep.runner import SweepOutcome, execute, run_sweep
from smartmem_sim.sweep.task import Task, code_version, task_key

__all__ = ["SweepConfig", "SweepOutcome", "Task", "code_version", "execute", "load_config", "read_config",
           "run_sweep", "task_key"]
