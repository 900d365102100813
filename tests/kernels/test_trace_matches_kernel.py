"""Trace == kernel: an instrumented build of each generated kernel logs the coordinates every work-item
accesses; they equal the trace generator's rows for that work-item (same sequence, hence the same
multiset), and every access lies inside its image or buffer.

The matrix covers each operator family with layouts that put the lane on different dims, buffers, and
operands read through absorbed index maps (a transposed MatMul operand, a reshaped Copy)."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.execute import allocate, upload
from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.runtime.instrument import AccessLog
from smartmem_sim.kernels.runtime.launch import compile_source, launch
from smartmem_sim.kernels.trace.generate import item_accesses
from smartmem_sim.layout.ops import Reshape, Transpose
from tests.kernels.cases import Case, rand
from tests.kernels.ops.catalogue import cases

CASES = cases()
MATRIX = [
    ("Add_bcast", ("phwc4", "buffer"), "nc4hw4"),
    ("Add_bcast", ("nchw4c", "lane_last"), "buffer_rev"),
    ("Where", ("lane_rows", "buffer", "no_lane"), "lane_last"),
    ("Transpose", ("nc4hw4",), "phwc4"),
    ("Concat", ("lane_rows", "buffer", "lane_last"), "lane_rows"),
    ("Split", ("lane_last",), "buffer"),
    ("Slice", ("lane_rows",), "lane_last"),
    ("Gather", ("lane_rows",), "lane_last"),
    ("Pad", ("phwc4",), "nc4hw4"),
    ("MatMul", ("lane_rows", "lane_last"), "lane_rows"),
    ("MatMul", ("lane_last", "lane_rows"), "lane_last"),  # both operands' lanes along K (SmartMem's choice)
    ("MatMul_batched_bcast", ("nc4hw4", "buffer"), "lane_last"),
    ("Gemm", ("lane_last", "buffer"), "no_lane"),
    ("Conv", ("nc4hw4", "buffer"), "phwc4"),
    ("Conv_strided_dilated", ("phwc4", "lane_last"), "nchw4c"),
    ("Conv_depthwise", ("nchw4c", "buffer"), "nc4hw4"),
    ("Softmax_axis1", ("lane_rows",), "lane_last"),
    ("LayerNormalization", ("lane_last", "buffer"), "buffer"),
    ("GroupNormalization", ("nc4hw4", "buffer"), "nc4hw4"),
    ("ReduceSum_nokeep", ("lane_rows",), "lane_last"),
    ("MaxPool", ("nc4hw4",), "phwc4"),
    ("AveragePool", ("phwc4",), "nc4hw4"),
    # data-dependent reads: the index tensor is uploaded and its contents given to the trace generator
    ("Gather_runtime", ("lane_last", "lane_rows"), "nc4hw4"),
    ("GatherElements_runtime", ("buffer", "nc4hw4"), "lane_rows"),
    ("TopK", ("lane_rows",), "lane_last"),
    ("Resize_linear_half_pixel", ("phwc4",), "nc4hw4"),
    ("Resize_nearest_asymmetric_floor", ("lane_rows",), "buffer"),
]


def _check_kernel(handle, plan, weights, storage="fp32", inputs=None, texel_reuse=True) -> int:
    """Check every kernel of the plan's first step; the number of accesses the device logged."""
    values = {**(inputs or {}), **weights}
    logged = 0
    for k in step_kernels(plan, plan.steps[0], weights, texel_reuse=texel_reuse):
        acc = item_accesses(k.program, storage, values, texel_reuse=texel_reuse)
        per_item = np.bincount(acc.item, minlength=int(np.prod(k.program.global_size)))
        log = AccessLog(handle, k.global_size, capacity=int(per_item.max()) + 1)  # (the launch: maybe padded)
        mem = {n: allocate(handle, plan.tensors[n], storage) for n in k.args}
        for n in k.args:
            if n in values and n != k.output:  # contents matter where reads depend on data
                upload(mem[n], plan.tensors[n], values[n], storage)
        program = compile_source(handle, k.source, log.options(k.surfaces()))
        launch(handle, program, k.entry, k.global_size, k.local_size, [*(mem[a] for a in k.args), *log.args])
        rec = log.read().on_grid(k.global_size, k.program.global_size)
        assert np.array_equal(rec.counts, per_item), f"{k.name}: access counts per work-item differ"
        logged += int(rec.counts.sum())
        for gid in range(len(rec)):
            got = rec.item(gid).astype(np.int64)
            want = acc.of_item(gid)
            assert np.array_equal(got, want), f"{k.name}: work-item {gid} accessed\n{got}\nexpected\n{want}"
        # in range: texel coordinates inside the image, byte offsets inside the buffer
        for sid, s in enumerate(k.program.surfaces):
            rows = acc.surface == sid
            if s.on_image:
                assert acc.x[rows].min(initial=0) >= 0 and acc.x[rows].max(initial=0) < s.layout.width
                assert acc.y[rows].min(initial=0) >= 0 and acc.y[rows].max(initial=0) < s.layout.height
            else:
                nbytes = int(np.prod(s.layout.shape)) * (4 if storage == "fp32" else 2)
                assert acc.x[rows].min(initial=0) >= 0 and (acc.x[rows] + acc.nbytes[rows]).max(initial=0) <= nbytes
    return logged


@pytest.mark.opencl
@pytest.mark.parametrize("name,ins,out", MATRIX, ids=[f"{m[0]}-{'+'.join(m[1])}->{m[2]}" for m in MATRIX])
def test_trace_equals_instrumented_kernel(cl_device, name, ins, out):
    case = CASES[name]
    plan, inputs, weights = case.plan(ins, out, out_shapes=[r.shape for r in case.reference()])
    _check_kernel(cl_device, plan, weights, inputs=inputs)


@pytest.mark.opencl
def test_trace_through_absorbed_maps_and_fp16(cl_device):
    r = np.random.default_rng(3)
    # B stored transposed (N, K) and read through the Transpose's inverse map; A stored as (2, 15) reshaped
    a, b = rand(r, 5, 6), rand(r, 6, 4)
    case = Case("MatMul", [a, b])
    maps = {0: Reshape((5, 6)).inverse((30,)), 1: Transpose((1, 0)).inverse((4, 6))}
    plan, _, weights = case.plan(("lane_last", "lane_rows"), "nc4hw4", out_shapes=[(5, 4)], maps=maps, storage="fp16")
    _check_kernel(cl_device, plan, weights, storage="fp16")


@pytest.mark.opencl
def test_device_fetches_one_texel_per_register_fill(cl_device):
    """The instrumented MatMul logs the hand count: per output texel and 4 values of K, 1 texel of A (lanes
    along K) and 1 texel of B per valid lane (lanes along K too), i.e. 5 reads per 16 multiply-adds."""
    M, K, N = 3, 12, 8
    r = np.random.default_rng(5)
    case = Case("MatMul", [rand(r, M, K), rand(r, K, N)])
    plan, _, weights = case.plan(("lane_last", "lane_rows"), "lane_last", out_shapes=[(M, N)])
    texels = M * (N // 4)
    assert _check_kernel(cl_device, plan, weights) == texels * (K // 4) * (1 + 4) + texels


@pytest.mark.opencl
@pytest.mark.parametrize("name,ins,out", [("MatMul", ("lane_last", "lane_rows"), "lane_last"),
                                          ("Conv", ("nc4hw4", "buffer"), "phwc4")], ids=["MatMul", "Conv-padded"])
def test_device_without_texel_reuse_fetches_every_read(cl_device, name, ins, out):
    """texel_reuse=False: the instrumented build logs what the trace replays, one fetch per read execution
    that is on; for MatMul (no guards) that is the hand count K reads of A and of B per valid lane."""
    case = CASES[name]
    plan, inputs, weights = case.plan(ins, out, out_shapes=[r.shape for r in case.reference()])
    logged = _check_kernel(cl_device, plan, weights, inputs=inputs, texel_reuse=False)
    assert logged > _check_kernel(cl_device, plan, weights, inputs=inputs, texel_reuse=True)
    if name == "MatMul":
        (m, k), (_, n) = (a.shape for a in case.inputs)
        assert logged == m * n * k * 2 + m * (n // 4 + (n % 4 > 0))


@pytest.mark.opencl
@pytest.mark.parametrize("out", ["nc4hw4", "buffer"])
def test_trace_equals_kernel_on_a_padded_launch(cl_device, out):
    """A 13x13 grid has no divisor that fills a work-group, so the launch is rounded up to whole
    work-groups: the work-items past the grid log nothing (on_grid checks) and the rest log the trace."""
    r = np.random.default_rng(5)
    case = Case("Add", [rand(r, 1, 8, 13, 13), rand(r, 1, 8, 13, 13)])
    plan, inputs, weights = case.plan(("nc4hw4", "buffer"), out, out_shapes=[(1, 8, 13, 13)])
    (k,) = step_kernels(plan, plan.steps[0], weights)
    assert k.program.padded and k.global_size != k.program.global_size
    assert _check_kernel(cl_device, plan, weights, inputs=inputs) > 0
