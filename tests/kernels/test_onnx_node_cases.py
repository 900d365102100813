"""The ONNX backend node tests for every operator we have a kernel for, regenerated in memory from the onnx
wheel's case generators (onnx.backend.test.case.node.<op>: importing the module runs its ``export``
functions, which build a one-node model with its input and expected output arrays; no files needed).

Each case runs as a one-node model through compile_model (smartmem) and smartmem_sim.kernels.execute on the CPU OpenCL
device, and its outputs must equal the expected ones within the case's own tolerances, as onnx's backend
runner uses them (rtol 1e-3 and atol 1e-7 unless the case says otherwise; some expected values are
hand-written with 4 decimals), atol at least 1e-5 (kernels compute in float).
Integer and boolean outputs (TopK indices, comparisons) are compared as the floats the kernels write.

Out of scope, skipped with the reason in the skip message:
- dtypes other than float32 for float data (float16/float64/bfloat16/float8: our storage is fp32 or fp16
  with float compute, and the reference values are in those types), string tensors;
- integer *data* inputs other than shape/axes/indices-like operands: every integer input, and the float
  parameters in PARAMETER_INPUTS (Resize roi/scales, Pad's value), becomes a constant (our kernels take
  shapes, axes, pads, scales and indices when the kernel is generated; runtime indices are tested in
  tests/kernels/ops against onnxruntime);
- empty tensors (a zero-sized dim) and outputs without a static shape (dynamic shapes);
- features our kernels reject with a KernelError/CompilerError naming them (Resize cubic or
  tf_crop_and_resize, Pad reflect/edge, MaxPool indices, ...): the message is the skip reason.
CI runs the cases of CI_OPS; every other supported op is marked ``exhaustive``.
"""
from __future__ import annotations

import importlib

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import smartmem_sim.kernels.ops  # noqa: F401
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.builder import BODIES
from smartmem_sim.layout.plan import COPY

CI_OPS = {"Resize", "Gather", "GatherElements", "TopK", "Softmax", "Conv", "LayerNormalization", "Concat"}
OPS = sorted(op for op in BODIES if op != COPY)
# float inputs that are parameters, not data (our kernels need them when generated): made constants too
PARAMETER_INPUTS = {"Resize": (1, 2, 3), "Pad": (2,)}


def node_cases(op: str) -> list:
    """The wheel's node test cases of ``op`` (its generator module is named after the op, lower case)."""
    from onnx.backend.test.case import node

    node._TargetOpType = op
    node._NodeTestCases.clear()
    try:
        importlib.import_module(f"onnx.backend.test.case.node.{op.lower()}")
    except ModuleNotFoundError:
        return []
    finally:
        node._TargetOpType = None
    return [c for c in node._NodeTestCases if c.model is not None and c.data_sets]


def _elem_np(vi) -> np.dtype | None:
    t = vi.type.tensor_type.elem_type
    return None if t == 0 else helper.tensor_dtype_to_np_dtype(t)


def out_of_scope(model: onnx.ModelProto, inputs: list, outputs: list) -> str | None:
    for vi, a in zip(model.graph.input, inputs, strict=False):
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            return f"input '{vi.name}' is {a.dtype} (only float32 data)"
        if a.dtype.kind not in "fiub":
            return f"input '{vi.name}' has dtype {a.dtype}"
        if a.size == 0:
            return f"input '{vi.name}' is empty"
    for vi, a in zip(model.graph.output, outputs, strict=False):
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            return f"output '{vi.name}' is {a.dtype} (only float32 data)"
        if a.dtype.kind not in "fiub" or a.size == 0:
            return f"output '{vi.name}' has dtype {a.dtype} or is empty"
    return None


def _with_constants(model: onnx.ModelProto, inputs: list) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Integer inputs become initializers; returns the model and the float/bool feeds."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep, feeds = [], {}
    params = PARAMETER_INPUTS.get(model.graph.node[0].op_type, ())
    positions = {name: i for i, name in enumerate(model.graph.node[0].input)}
    for vi, a in zip(model.graph.input, inputs, strict=True):
        a = np.asarray(a)
        if a.dtype.kind in "iu" or positions.get(vi.name) in params:
            m.graph.initializer.append(numpy_helper.from_array(a, vi.name))
        else:
            keep.append(vi)
            feeds[vi.name] = a
    del m.graph.input[:]
    m.graph.input.extend(keep)
    return m, feeds


def run_case(handle, case) -> list[str]:
    """Run every data set of a case; return the mismatch messages (raises pytest.skip when out of scope)."""
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import execute

    failures = []
    for inputs, outputs in case.data_sets:
        why = out_of_scope(case.model, inputs, outputs)
        if why:
            pytest.skip(f"{case.name}: out of scope: {why}")
        model, feeds = _with_constants(case.model, inputs)
        try:
            graph = load_model(model, name=case.name)
            plan = compile_model(graph, "smartmem")
            result = execute(plan, handle, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs})
        except (KernelError, CompilerError) as exc:
            pytest.skip(f"{case.name}: unsupported: {str(exc).splitlines()[0][:300]}")
        names = [o.name for o in case.model.graph.output]
        by_source = {plan.tensors[n].source or n: result.outputs[n] for n in plan.outputs}
        for name, want in zip(names, outputs, strict=True):
            got = by_source[name]
            want = np.asarray(want).astype(np.float32)
            rtol, atol = float(case.rtol), max(float(case.atol), 1e-5)
            if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
                err = float(np.nanmax(np.abs(got - want))) if got.shape == want.shape else float("nan")
                failures.append(f"{case.name} output '{name}': max error {err:.3g} (shape {got.shape} vs {want.shape})")
    return failures


def _cases_params():
    params = []
    for op in OPS:
        marks = () if op in CI_OPS else (pytest.mark.exhaustive,)
        params.append(pytest.param(op, id=op, marks=marks))
    return params


@pytest.mark.opencl
@pytest.mark.parametrize("op", _cases_params())
def test_onnx_node_cases(cl_device, op):
    cases = node_cases(op)
    if not cases:
        pytest.skip(f"the onnx wheel has no node cases in onnx.backend.test.case.node.{op.lower()}")
    failures, ran, skipped = [], 0, []
    for case in cases:
        try:
            failures += run_case(cl_device, case)
            ran += 1
        except pytest.skip.Exception as exc:
            skipped.append(str(exc))
    print(f"{op}: {ran} cases ran, {len(skipped)} out of scope:\n  " + "\n  ".join(skipped))
    assert not failures, "\n".join(failures)
    if not ran:
        pytest.skip(f"{op}: every case is out of scope: " + "; ".join(skipped)[:500])
