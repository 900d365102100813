"""Every distinct generated kernel of the tiny twins under oclgrind: no out-of-bounds access, no data race,
and (where oclgrind can tell) no uninitialized value.

How: every stored tensor's value comes from onnxruntime (each holds an ONNX value, packed by its layout);
each distinct kernel (deduplicated by source: identical kernels share a hash-named entry,
smartmem_sim/kernels/render/opencl.py) runs as generated on oclgrind, its inputs uploaded with those values and its
output left uninitialised.

Which oclgrind (21.10) checks are on, and why:
- out-of-bounds buffer accesses: always (oclgrind checks every global load and store). Image reads are
  not bounds-checked by oclgrind; our sampler clamps to the edge, and test_trace_matches_kernel.py checks
  that every image coordinate a kernel reads lies inside the image.
- data races (OCLGRIND_DATA_RACES): on for every kernel.
- uninitialized values (OCLGRIND_UNINITIALIZED): on for kernels that read only buffers; OFF for kernels that
  read an image, because oclgrind 21.10 marks every read_imagef result as uninitialized even when the
  whole image was uploaded (test_oclgrind_marks_image_reads_uninitialized below reproduces it with a
  four-line kernel, so every such kernel would be reported). Those kernels build optimized (2-3x faster
  under oclgrind); kernels checked for uninitialized values build with -cl-opt-disable: with the optimizer
  on, oclgrind's uninitialized checker aborts on LLVM's ``freeze`` instruction.

The checker is smartmem_sim/oclgrind_sweep.py (``python -m smartmem_sim.oclgrind_sweep``: every tiny
twin x every policy, batches of kernels per oclgrind process, results cached by launch, CSV report); CI runs
it in full outside pytest (``make check-kernels``). Here CI runs the distinct kernels of one sample plan
through the same code; every tiny twin x policy is marked ``exhaustive`` (about 1800 distinct kernels).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from smartmem_sim.kernels.runtime.oclgrind import BufferArg, ImageArg, run_under_oclgrind
from smartmem_sim.oclgrind_sweep import main, run_sweep, tiny_twins

OPTIONS = ["-cl-opt-disable"]
CI_SAMPLE = [("sd_text_encoder", ("smartmem",))]


@pytest.fixture(scope="module")
def sample_cache(tmp_path_factory, oclgrind_icd):
    """The CI sample checked once (a cache folder shared by the tests of this module)."""
    cache = tmp_path_factory.mktemp("oclgrind-cache")
    (model, policies), = CI_SAMPLE
    return cache, run_sweep([model], policies, cache_dir=cache, progress=False)


@pytest.mark.opencl
@pytest.mark.slow
def test_sample_plan_kernels_clean_under_oclgrind(sample_cache):
    _, records = sample_cache
    bad = [r for r in records if r["status"] != "ok"]
    assert not bad, "\n".join(f"{r['kernel']} ({r['entry']}): {r['diagnostics']}" for r in bad[:20])
    assert len(records) == len({r["entry"] for r in records}) > 5
    assert not any(r["cached"] for r in records)
    assert all(r["cpu_s"] > 0 for r in records)


@pytest.mark.opencl
@pytest.mark.slow
def test_a_second_run_reads_the_cache_and_reports_findings(sample_cache, capsys):
    """Resuming costs nothing per kernel; a cached finding still fails the run (exit status 1, summary)."""
    cache, first = sample_cache
    (model, policies), = CI_SAMPLE
    out = cache / "report.csv"
    assert main(["--models", model, "--policies", ",".join(policies), "--cache-dir", str(cache),
                 "--csv", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["entry"] for r in rows] == [r["entry"] for r in first] and all(r["cached"] == "True" for r in rows)
    # plant a finding in one cached result: the run must report it
    victim = sorted((cache / "results").glob("*.json"))[0]
    result = json.loads(victim.read_text())
    result["diagnostics"] = [{"kind": "invalid_write", "message": "Invalid write of size 4 at global memory "
                              "address 0x10", "line": 7, "source_text": "o[i] = v;"}]
    victim.write_text(json.dumps(result))
    capsys.readouterr()
    assert main(["--models", model, "--policies", ",".join(policies), "--cache-dir", str(cache),
                 "--csv", str(out), "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "1 with findings" in text and result["entry"] in text and "invalid_write" in text
    assert sum(r["status"] == "diagnostics" for r in csv.DictReader(out.open())) == 1


@pytest.mark.opencl
@pytest.mark.slow
def test_a_relative_cache_dir_works(oclgrind_icd, tmp_path, monkeypatch):
    """`make check-kernels` passes the default, relative .cache/oclgrind; the oclgrind processes must still
    find their jobs (they once failed every kernel that way)."""
    monkeypatch.chdir(tmp_path)
    records = run_sweep(["vit"], ("naive",), cache_dir=Path("rel/cache"), progress=False)
    assert records and all(r["status"] == "ok" for r in records), [r["status"] for r in records][:5]


def test_unknown_model_or_policy_is_exit_status_2(capsys):
    assert main(["--models", "no_such_net", "--no-progress"]) == 2
    assert main(["--policies", "smartmem,bogus", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no_such_net" in err and "bogus" in err


@pytest.mark.opencl
@pytest.mark.slow
@pytest.mark.exhaustive
def test_every_tiny_twin_kernel_clean_under_oclgrind(oclgrind_icd, tmp_path):
    from smartmem_sim.compiler.pipeline import POLICIES

    records = run_sweep(tiny_twins(), POLICIES, cache_dir=tmp_path, progress=False)
    bad = [r for r in records if r["status"] != "ok"]
    assert not bad, "\n".join(f"{r['model']}/{r['policy']} {r['kernel']}: {r['diagnostics']}" for r in bad[:20])


_PROBE = """
__constant sampler_t s = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP_TO_EDGE | CLK_FILTER_NEAREST;
__kernel void k(__read_only image2d_t a, __global const float* b, __global float* o) {
  const int x = get_global_id(0);
  const float v = USE;
  o[x] = v > 0.0f ? 1.0f : 2.0f;
}"""


@pytest.mark.opencl
@pytest.mark.parametrize("use,uploaded,reported", [
    ("read_imagef(a, s, (int2)(x, 0)).x", True, True),  # the false positive: the image is fully uploaded
    ("b[x]", True, False),
    ("b[x]", False, True),  # a genuinely uninitialized buffer is caught
])
def test_oclgrind_marks_image_reads_uninitialized(oclgrind_icd, use, uploaded, reported):
    """Why the uninitialized check is off for kernels that read images (module docstring); if oclgrind
    stops reporting the first case, turn the check back on in smartmem_sim.oclgrind_sweep.checks_for."""
    img = np.ones((1, 4, 4), np.float32)
    buf = BufferArg(data=np.ones(4, np.float32)) if uploaded else BufferArg(nbytes=16)
    report = run_under_oclgrind(_PROBE.replace("USE", use), "k", (4,), (4,), [ImageArg(data=img), buf,
                                BufferArg(nbytes=16)], options=OPTIONS, icd=oclgrind_icd)
    assert (report.kinds().get("uninitialized", 0) > 0) == reported, report.summary()
