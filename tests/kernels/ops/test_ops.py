"""Every operator body x a set of layouts, on the CPU OpenCL device, against onnxruntime.

Tolerances: fp32 storage rtol 1e-4 / atol 1e-5 (float compute, different summation order);
fp16 storage rounds every stored value to 11 significant bits, so rtol 1e-2 / atol 1e-2 on the
values of magnitude <= ~4 used here."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.execute import execute
from tests.kernels.ops.catalogue import cases

CASES = cases()
# (input layouts cycled over the inputs, output layout); names resolve by rank (tests/kernels/cases.py)
LAYOUT_SETS = [
    (("nc4hw4", "lane_last"), "nc4hw4"),
    (("lane_rows", "buffer"), "phwc4"),
    (("buffer_rev", "nchw4c", "lane_last"), "lane_rows"),
    (("no_lane", "lane_rows"), "buffer"),
]


def _run(cl_device, case, in_l, out_l, storage="fp32"):
    ref = case.reference()
    plan, inputs, weights = case.plan(in_l, out_l, storage=storage, out_shapes=[r.shape for r in ref])
    result = execute(plan, cl_device, inputs, weights)
    return ref, [result.outputs[n] for n in plan.outputs]


@pytest.mark.opencl
@pytest.mark.parametrize("layouts", LAYOUT_SETS, ids=lambda ls: f"{'+'.join(ls[0])}->{ls[1]}")
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_onnxruntime(cl_device, name, layouts):
    ref, got = _run(cl_device, CASES[name], *layouts)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5, err_msg=f"{name} {layouts}")


@pytest.mark.opencl
@pytest.mark.parametrize("name", ["Add_bcast", "MatMul", "Conv", "Softmax", "LayerNormalization", "Concat"])
def test_op_fp16_storage(cl_device, name):
    case = CASES[name]
    ref, got = _run(cl_device, case, ("nc4hw4", "buffer"), "lane_last", storage="fp16")
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-2, atol=1e-2, err_msg=name)
