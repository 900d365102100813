"""Batches of launches in one oclgrind process (smartmem_sim/kernels/runtime/oclgrind_batch.py): every diagnostic goes to
the launch that caused it, allocations of earlier launches do not hide uninitialised reads of later ones, and
a launch that hangs is recorded as failed while the rest of its batch still runs."""
from __future__ import annotations

import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.oclgrind import BufferArg, Checks, write_job
from smartmem_sim.kernels.runtime.oclgrind_batch import BatchRunner, Job, batches

SRC = """
__kernel void oob(__global float* a) { a[get_global_id(0) + 1] = 1.0f; }
__kernel void ok(__global float* a) { a[get_global_id(0)] = 1.0f; }
__kernel void race(__global float* a) { a[0] = (float)get_global_id(0); }
__kernel void uninit(__global const float* b, __global float* o) {
  o[get_global_id(0)] = b[get_global_id(0)] > 0.0f ? 1.0f : 2.0f;
}
__kernel void spin(__global float* a) {
  float x = 0.0f;
  for (int i = 0; i < 100000000; ++i) x += (float)i;
  a[get_global_id(0)] = x;
}
"""
ARGS = {"oob": 1, "ok": 1, "race": 1, "uninit": 2, "spin": 1}


def _jobs(tmp_path, names, checks=None):
    checks = checks or Checks()
    jobs = []
    for i, name in enumerate(names):
        folder = tmp_path / f"job{i}"
        write_job(folder, SRC, name, (4,), (4,), [BufferArg(nbytes=16)] * ARGS[name])
        jobs.append(Job(f"{i}-{name}", folder, checks))
    return jobs


def _run(jobs, **kw):
    got = {}
    with BatchRunner(lambda r: got.__setitem__(r.key, r), icd=kw.pop("icd"), **kw) as runner:
        runner.submit(jobs)
        runner.drain()
    return got


@pytest.mark.opencl
def test_each_diagnostic_goes_to_its_own_launch(tmp_path, oclgrind_icd):
    names = ["ok", "oob", "ok", "race", "uninit", "ok", "uninit"]
    got = _run(_jobs(tmp_path, names), icd=oclgrind_icd)
    assert sorted(got) == sorted(f"{i}-{n}" for i, n in enumerate(names))
    for key, r in got.items():
        kinds = {d.kind for d in r.diagnostics}
        want = {"ok": set(), "oob": {"invalid_write"}, "race": {"data_race"}, "uninit": {"uninitialized"}}
        assert r.error is None and kinds == want[key.split("-")[1]], (key, r.diagnostics)
        assert all(d.kernel == key.split("-")[1] for d in r.diagnostics)
        assert r.seconds > 0 and r.cpu_s > 0
    # the second uninit launch runs after six others allocated and kept memory: still caught
    assert got["6-uninit"].diagnostics


@pytest.mark.opencl
def test_a_hanging_launch_fails_alone_and_the_batch_goes_on(tmp_path, oclgrind_icd):
    got = _run(_jobs(tmp_path, ["ok", "spin", "oob"], Checks(data_races=False, uninitialized=False)),
               icd=oclgrind_icd, job_timeout_s=3)
    assert got["0-ok"].ok
    assert got["1-spin"].error and "ran past 3 s" in got["1-spin"].error
    assert [d.kind for d in got["2-oob"].diagnostics] == ["invalid_write"] and got["2-oob"].error is None


@pytest.mark.opencl
def test_a_build_error_is_the_launch_error(tmp_path, oclgrind_icd):
    folder = tmp_path / "bad"
    write_job(folder, "__kernel void k(__global float* a) { a[0] = undefined_name; }", "k", (1,), None,
              [BufferArg(nbytes=4)])
    (ok,) = _jobs(tmp_path, ["ok"])
    got = _run([Job("bad", folder), ok], icd=oclgrind_icd)
    assert "undefined_name" in got["bad"].error and got["0-ok"].ok


def test_batches_split_by_size_and_by_checks(tmp_path):
    a, b = Checks(), Checks(uninitialized=False)
    jobs = [Job(str(i), tmp_path, c) for i, c in enumerate([a, a, a, b, b, a])]
    assert [[j.key for j in run] for run in batches(jobs, 2)] == [["0", "1"], ["2"], ["3", "4"], ["5"]]
    with pytest.raises(KernelError, match="batch_size"):
        list(batches(jobs, 0))
