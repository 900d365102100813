"""Every distinct generated kernel of the tiny twins under oclgrind: no out-of-bounds access, no data race,
and (where oclgrind can tell) no uninitialized value.

How: the plan runs once on the CPU OpenCL device to get every tensor's value; then each distinct kernel
(deduplicated by source: identical kernels share a hash-named entry, kernels/render/opencl.py) runs
alone on oclgrind, its inputs uploaded with those values and its output left uninitialised.

Which oclgrind (21.10) checks are on, and why:
- out-of-bounds buffer accesses: always (oclgrind checks every global load and store). Image reads are
  not bounds-checked by oclgrind; our sampler clamps to the edge, and test_trace_matches_kernel.py checks
  that every image coordinate a kernel reads lies inside the image.
- data races (OCLGRIND_DATA_RACES): on for every kernel.
- uninitialized values (OCLGRIND_UNINITIALIZED): on for kernels that read only buffers; OFF for kernels that
  read an image, because oclgrind 21.10 marks every read_imagef result as uninitialized even when the
  whole image was uploaded (test_oclgrind_marks_image_reads_uninitialized below reproduces it with a
  four-line kernel, so every such kernel would be reported). Builds use -cl-opt-disable: with the
  optimizer on, oclgrind's uninitialized checker aborts on LLVM's ``freeze`` instruction.

CI runs the distinct kernels of one sample plan; every tiny twin (all three policies, deduplicated within a
model) is marked ``exhaustive`` (about 1700 distinct kernels at 1-5 s each under oclgrind).
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels.runtime.oclgrind import BufferArg, Checks, ImageArg, run_under_oclgrind
from tests.kernels.zoo_runs import POLICIES, load_twin, tiny_twins

OPTIONS = ["-cl-opt-disable"]
CI_SAMPLE = [("sd_text_encoder", ("smartmem",))]
PARAMS = [pytest.param(m, p, id=f"{m}-{'+'.join(p)}") for m, p in CI_SAMPLE] + [
    pytest.param(m, POLICIES, id=f"{m}-all", marks=pytest.mark.exhaustive) for m in tiny_twins()]


def _values(handle, plan, feeds):
    from kernels.execute import _weight, execute

    keep = tuple(n for n in plan.tensors if n not in plan.outputs and plan.tensors[n].kind == "intermediate")
    res = execute(plan, handle, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}, keep=keep)
    values = dict(res.outputs)
    values.update({n: feeds[plan.tensors[n].source or n] for n in plan.inputs})
    values.update({n: _weight(plan, n, {}) for n, t in plan.tensors.items() if t.kind == "weight"})
    return res.kernels, values


def _args(plan, k, values):
    args = []
    for tensor in k.args:
        t = plan.tensors[tensor]
        if tensor == k.output:
            args.append(ImageArg(width=t.layout.width, height=t.layout.height) if t.on_image
                        else BufferArg(nbytes=4 * int(np.prod(t.shape))))
            continue
        v = np.asarray(values[tensor], np.float32)
        args.append(ImageArg(data=t.layout.pack(v)) if t.on_image
                    else BufferArg(data=np.ascontiguousarray(np.transpose(v, t.layout.order)).ravel()))
    return args


def checks_for(plan, k) -> Checks:
    reads_image = any(plan.tensors[a].on_image for a in k.args if a != k.output)
    return Checks(data_races=True, uninitialized=not reads_image)


@pytest.mark.opencl
@pytest.mark.slow
@pytest.mark.parametrize("model,policies", PARAMS)
def test_tiny_twin_kernels_clean_under_oclgrind(cl_device, oclgrind_icd, model, policies):
    from compiler.pipeline import compile_model

    _, graph, feeds = load_twin(model)
    seen, failures = set(), []
    for policy in policies:
        plan = compile_model(graph, policy)
        kernels, values = _values(cl_device, plan, feeds)
        for k in kernels:
            if k.entry in seen:
                continue
            seen.add(k.entry)
            report = run_under_oclgrind(k.source, k.entry, k.global_size, k.local_size, _args(plan, k, values),
                                        options=OPTIONS, checks=checks_for(plan, k), icd=oclgrind_icd)
            if not report.ok:
                failures.append(f"{policy} {k.name} ({k.entry}): {report.summary()}")
    assert not failures, "\n".join(failures[:20])
    assert seen


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
    stops reporting the first case, turn the check back on in checks_for."""
    img = np.ones((1, 4, 4), np.float32)
    buf = BufferArg(data=np.ones(4, np.float32)) if uploaded else BufferArg(nbytes=16)
    report = run_under_oclgrind(_PROBE.replace("USE", use), "k", (4,), (4,), [ImageArg(data=img), buf,
                                BufferArg(nbytes=16)], options=OPTIONS, icd=oclgrind_icd)
    assert (report.kinds().get("uninitialized", 0) > 0) == reported, report.summary()
