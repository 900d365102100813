"""A sample of generated kernels under oclgrind: no out-of-bounds access, uninitialized read or data race.
(oclgrind 21.10 does not report out-of-bounds image *reads*; the trace test checks read coordinates.)
Written images and buffers start uninitialised, so a kernel that skipped a texel or element it must write
(or read one it never wrote) would be reported."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.runtime.oclgrind import BufferArg, ImageArg, run_under_oclgrind
from tests.kernels.ops.catalogue import cases

CASES = cases()
# Windowed kernels (Conv, MaxPool) read their input from a buffer here: with an image input, oclgrind 21.10's
# uninitialized-value plugin reports "control flow depends on uninitialized value" for values returned by
# read_imagef of a fully uploaded image (it does not track image contents); Concat covers image reads.
SAMPLE = [
    ("Conv", ("buffer", "buffer_rev"), "phwc4"),
    ("Concat", ("buffer", "lane_rows", "buffer_rev"), "nc4hw4"),
    ("MaxPool", ("buffer_rev",), "nc4hw4"),
    ("Split", ("buffer",), "buffer_rev"),
]


@pytest.mark.opencl
@pytest.mark.slow
@pytest.mark.parametrize("name,ins,out", SAMPLE, ids=[s[0] for s in SAMPLE])
def test_generated_kernel_is_clean_under_oclgrind(oclgrind_icd, name, ins, out):
    case = CASES[name]
    plan, inputs, weights = case.plan(ins, out, out_shapes=[r.shape for r in case.reference()])
    values = {**inputs, **weights}
    for k in step_kernels(plan, plan.steps[0], weights):
        args = []
        for tensor in k.args:
            t = plan.tensors[tensor]
            written = tensor == k.output
            if t.on_image:
                args.append(ImageArg(width=t.layout.width, height=t.layout.height) if written
                            else ImageArg(data=t.layout.pack(values[tensor].astype(np.float32))))
            else:
                n = int(np.prod(t.shape))
                args.append(BufferArg(nbytes=4 * n) if written else BufferArg(
                    data=np.ascontiguousarray(np.transpose(values[tensor], t.layout.order)).astype(np.float32).ravel()))
        # -cl-opt-disable: oclgrind 21.10's uninitialized-value plugin aborts on LLVM's `freeze`, which the
        # optimizer emits for hoisted divisions; unoptimized code keeps every check meaningful
        report = run_under_oclgrind(k.source, k.entry, k.global_size, k.local_size, args, options=["-cl-opt-disable"])
        report.check()
