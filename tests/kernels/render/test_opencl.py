"""The renderer without a device: what the source text must contain."""
from __future__ import annotations

import re

import pytest

from kernels.errors import KernelError
from kernels.library import step_kernels
from kernels.render.opencl import render
from tests.kernels.ops.catalogue import cases

CASES = cases()


def _kernel(name, ins, out, storage="fp32"):
    case = CASES[name]
    plan, _, weights = case.plan(ins, out, storage=storage, out_shapes=[r.shape for r in case.reference()])
    return step_kernels(plan, plan.steps[0], weights)[0]


def test_every_access_goes_through_the_instrumentation_macros():
    src = _kernel("Conv", ("nc4hw4", "buffer"), "phwc4").source
    body = src[src.index("__kernel void"):]
    assert "CLK_ADDRESS_CLAMP_TO_EDGE" in src
    # layouts cycle over the inputs: x and bias on images, w in a buffer
    assert body.count("SM_READ_IMAGEF(") == 2 and body.count("SM_LOAD(") == 1
    assert body.count("SM_WRITE_IMAGEF(") == 1
    assert not re.search(r"(?<!SM_)read_imagef\(|(?<!SM_)write_imagef\(", body)
    assert "SM_LOG_PARAMS" in body


def test_padded_reads_are_guarded():
    src = _kernel("Conv", ("nc4hw4", "buffer"), "nc4hw4").source
    assert re.search(r"if \(q\d+ >= 0 && q\d+ < 6 && q\d+ >= 0 && q\d+ < 7\)", src)


def test_fp16_buffers_use_vload_half_and_images_stay_float4():
    k = _kernel("Add_bcast", ("nc4hw4", "buffer"), "buffer", storage="fp16")
    assert "__global const half*" in k.source and "SM_LOAD_HALF(" in k.source and "SM_STORE_HALF(" in k.source
    assert "read_imageh" not in k.source and "SM_READ_IMAGEF(" in k.source


def test_lane_loop_skips_padding_lanes():
    k = _kernel("Add_bcast", ("nc4hw4", "buffer"), "nc4hw4")  # 6 channels: lanes 2, 3 of the 2nd texel are padding
    assert "for (int lane = 0; lane < 4; ++lane)" in k.source
    assert re.search(r"if \(!\(.*lane < 6\)\) continue;", k.source)


def test_render_is_deterministic_and_checks_storage():
    k = _kernel("Softmax", ("lane_last",), "lane_last")
    assert render(k.program, "fp32") == render(k.program, "fp32")
    with pytest.raises(KernelError, match="storage"):
        render(k.program, "fp64")
