"""The pieces of the tiny-twin oclgrind checker (smartmem_sim/oclgrind_sweep.py) that decide what each
kernel sees: the values uploaded (from onnxruntime) must be what the plan computes on a real OpenCL device,
and the cache key must change whenever the launch does."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.runtime.oclgrind import Checks
from smartmem_sim.oclgrind_sweep import (
    UNINITIALIZED_OPTIONS,
    _load_twin,
    build_options,
    launch_args,
    launch_key,
    plan_values,
)
from tests.kernels.zoo_runs import MODELS


@pytest.fixture(scope="module")
def vit_plan():
    from smartmem_sim.compiler.pipeline import compile_model

    proto, graph, feeds = _load_twin(MODELS / "vit.tiny.onnx")
    return compile_model(graph, "smartmem"), proto, feeds


@pytest.mark.opencl
@pytest.mark.slow
def test_values_from_onnxruntime_equal_the_plan_run_on_the_device(cl_device, vit_plan):
    from smartmem_sim.kernels.execute import execute

    plan, proto, feeds = vit_plan
    values = plan_values(plan, proto, feeds)
    assert set(values) == set(plan.tensors)
    keep = tuple(n for n, t in plan.tensors.items() if t.kind == "intermediate" and n not in plan.outputs)
    got = execute(plan, cl_device, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}, keep=keep)
    assert len(got.outputs) > 10
    for name, v in got.outputs.items():
        scale = float(np.abs(v).max()) or 1.0
        np.testing.assert_allclose(values[name], v, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def test_the_cache_key_follows_the_launch(vit_plan):
    from smartmem_sim.kernels.execute import _weight
    from smartmem_sim.kernels.library import plan_kernels

    plan, proto, feeds = vit_plan
    values = plan_values(plan, proto, feeds, device=object())  # every value has an ONNX name: no device used
    consts = {n: _weight(plan, n, {}) for n, t in plan.tensors.items() if t.kind == "weight"}
    k = next(k for k in plan_kernels(plan, consts) if len(k.args) > 1)
    args = launch_args(plan, k, values)
    key = launch_key(k, args, Checks())
    assert key == launch_key(k, launch_args(plan, k, values), Checks())
    assert key != launch_key(k, args, Checks(uninitialized=False))
    first_input = next(t for t in k.args if t != k.output)
    changed = dict(values, **{first_input: values[first_input] + 1.0})
    assert key != launch_key(k, launch_args(plan, k, changed), Checks())


def test_only_the_uninitialized_check_builds_unoptimized():
    assert build_options(Checks(uninitialized=True)) == UNINITIALIZED_OPTIONS == ("-cl-opt-disable",)
    assert build_options(Checks(uninitialized=False)) == ()
