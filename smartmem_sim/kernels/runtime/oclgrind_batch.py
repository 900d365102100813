"""Many kernels under oclgrind: batches of launches, one oclgrind process per batch, a few batches at once.

Each launch is a job folder written by :func:`smartmem_sim.kernels.runtime.oclgrind.write_job`. A batch runs in one
``python -m smartmem_sim.kernels.runtime.oclgrind_driver --batch`` process, so Python start-up, the numpy/pyopencl
imports and oclgrind's platform set-up (about 1.5 s together) are paid once per batch instead of once
per kernel. The driver writes result.json into each job folder as soon as the launch finishes, with the
byte range of the oclgrind log that launch wrote (oclgrind writes each message as it finds it), so
every diagnostic is attributed to the launch that caused it.

When oclgrind aborts (a fatal error) or a launch runs past ``job_timeout_s``, the job started last is
recorded as failed with the end of stderr and of the log, and the batch starts again after it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.oclgrind import (
    Checks,
    Diagnostic,
    oclgrind_environment,
    parse_log,
    require_icd,
)

_POLL_S = 0.2  # how often a batch looks for finished jobs and for a stuck one
_STARTUP_S = 120  # Python, numpy, pyopencl and oclgrind start-up before the first job (seconds, loaded machine)


@dataclass(frozen=True)
class Job:
    """One launch to check: ``folder`` as written by write_job; ``key`` names it to the caller."""

    key: str
    folder: Path
    checks: Checks = Checks()


@dataclass
class JobResult:
    """What oclgrind found for one job. ``error`` is set when the launch could not run (a build or
    argument error, an oclgrind abort, a timeout); ``seconds`` is the job's share of the batch's wall
    time (from the end of the previous job to the end of this one, so start-up goes to the first)."""

    key: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    build_s: float = 0.0
    run_s: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of the launch (upload, build, run), all oclgrind threads

    @property
    def ok(self) -> bool:
        return self.error is None and not self.diagnostics


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class _Batch:
    """One batch of jobs sharing a Checks: runs the driver until every job has a result."""

    def __init__(self, jobs: list[Job], icd: str, job_timeout_s: float, emit: Callable[[JobResult], None]):
        self.jobs, self.icd, self.job_timeout_s, self.emit = jobs, icd, job_timeout_s, emit
        self.done: set[str] = set()

    def _pending(self) -> list[Job]:
        return [j for j in self.jobs if j.key not in self.done]

    def _collect(self, log_path: Path, last: list[float]) -> None:
        """Emit every job that has a result.json and was not emitted yet (jobs finish in order)."""
        for job in self._pending():
            path = job.folder / "result.json"
            if not path.exists():
                return
            res = json.loads(path.read_text())
            now = time.perf_counter()
            out = JobResult(job.key, seconds=now - last[0], build_s=res.get("build_s", 0.0),
                            run_s=res.get("run_s", 0.0), cpu_s=res.get("cpu_s", 0.0), error=res.get("error"))
            last[0] = now
            if out.error is None:
                with open(log_path, "rb") as f:
                    f.seek(res["log_start"])
                    out.diagnostics = parse_log(f.read(res["log_end"] - res["log_start"]).decode(errors="replace"))
            self.done.add(job.key)
            self.emit(out)

    def _fail_current(self, why: str, stderr: str, log_path: Path, last: list[float]) -> None:
        job = self._pending()[0]
        started = job.folder / "started"  # holds the log size when the job started
        log = log_path.read_bytes() if log_path.exists() else b""
        log = log[int(started.read_text() or 0):] if started.exists() else b""
        diags = parse_log(log.decode(errors="replace"))
        out = JobResult(job.key, diagnostics=diags + [d for d in parse_log(stderr) if d.kind == "fatal"],
                        error=f"{why}\n{_tail(stderr)}", seconds=time.perf_counter() - last[0])
        last[0] = time.perf_counter()
        # keep the driver from running it again when the batch restarts
        (job.folder / "result.json").write_text(json.dumps({"error": out.error, "log_start": 0, "log_end": 0}))
        self.done.add(job.key)
        self.emit(out)

    def _stuck(self, spawned: float) -> bool:
        """Has the running job (the first without a result) run past the limit? Its clock starts when the
        driver marks it started; before that, start-up may take _STARTUP_S more."""
        pending = self._pending()
        if not pending:
            return False
        try:
            started = (pending[0].folder / "started").stat().st_mtime
        except FileNotFoundError:
            return time.time() - spawned > self.job_timeout_s + _STARTUP_S
        return time.time() - started > self.job_timeout_s

    def run(self) -> None:
        last = [time.perf_counter()]
        for job in self.jobs:  # a mark left by an earlier, killed run would start the clock too early
            (job.folder / "started").unlink(missing_ok=True)
        while self._pending():
            with tempfile.TemporaryDirectory(prefix="sm-oclgrind-batch-") as tmpname:
                tmp = Path(tmpname)
                env = oclgrind_environment(tmp, self.jobs[0].checks, self.icd)
                env["OCLGRIND_NUM_THREADS"] = "1"  # parallelism comes from the batches running side by side
                (tmp / "jobs.txt").write_text("\n".join(str(j.folder) for j in self._pending()) + "\n")
                log_path = tmp / "oclgrind.log"
                cmd = [sys.executable, "-m", "smartmem_sim.kernels.runtime.oclgrind_driver", "--batch", str(tmp / "jobs.txt")]
                with open(tmp / "stderr.txt", "w") as err:
                    proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=err)
                    spawned = time.time()
                    while proc.poll() is None:
                        time.sleep(_POLL_S)
                        self._collect(log_path, last)
                        if self._stuck(spawned):
                            proc.kill()
                            proc.wait()
                            self._fail_current(f"oclgrind: the launch ran past {self.job_timeout_s:g} s",
                                               (tmp / "stderr.txt").read_text(errors="replace"), log_path, last)
                            break
                    else:
                        self._collect(log_path, last)
                        if self._pending():
                            self._fail_current(f"oclgrind stopped with exit status {proc.returncode}",
                                               (tmp / "stderr.txt").read_text(errors="replace"), log_path, last)


def batches(jobs: Iterable[Job], batch_size: int) -> Iterator[list[Job]]:
    """Consecutive jobs of equal Checks, at most ``batch_size`` a batch (oclgrind's checks are per process)."""
    if batch_size < 1:
        raise KernelError(f"batch_size must be at least 1, got {batch_size}")
    run: list[Job] = []
    for job in jobs:
        if run and (len(run) == batch_size or job.checks != run[0].checks):
            yield run
            run = []
        run.append(job)
    if run:
        yield run


class BatchRunner:
    """Runs batches on ``workers`` oclgrind processes at once; ``on_result`` is called (from the
    caller's thread, in :meth:`drain` and :meth:`submit`) for every finished job."""

    def __init__(self, on_result: Callable[[JobResult], None], *, workers: int = 2, job_timeout_s: float = 600,
                 icd: str | None = None):
        if workers < 1:
            raise KernelError(f"workers must be at least 1, got {workers}")
        self.icd = require_icd(icd)
        self.on_result, self.workers, self.job_timeout_s = on_result, workers, job_timeout_s
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="oclgrind")
        self._futures: set[Future] = set()
        self._results: list[JobResult] = []
        self._lock = threading.Lock()

    def _emit(self, result: JobResult) -> None:
        with self._lock:
            self._results.append(result)

    def _flush(self) -> None:
        with self._lock:
            ready, self._results = self._results, []
        for r in ready:
            self.on_result(r)

    def _reap(self, block: bool) -> None:
        """Report finished jobs; with ``block``, until at least one batch has ended."""
        while self._futures:
            done, _ = wait(self._futures, timeout=_POLL_S * 2 if block else 0, return_when=FIRST_COMPLETED)
            for f in done:
                self._futures.discard(f)
                f.result()  # re-raise a failure of the batch machinery itself
            self._flush()
            if done or not block:
                break
        self._flush()

    def submit(self, batch: list[Job]) -> None:
        """Queue a batch; blocks while ``workers`` batches are already running (back-pressure)."""
        while len(self._futures) >= self.workers:
            self._reap(block=True)
        self._futures.add(self._pool.submit(_Batch(batch, self.icd, self.job_timeout_s, self._emit).run))
        self._reap(block=False)

    def poll(self) -> None:
        self._reap(block=False)

    def drain(self) -> None:
        """Wait for every queued batch, reporting results as they come."""
        while self._futures:
            self._reap(block=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BatchRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
