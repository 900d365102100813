"""Tiny zoo twins compiled by smartmem_sim.compiler.pipeline under every policy and run through smartmem_sim.kernels.execute on the
CPU OpenCL device equal onnxruntime (fp32 storage: max error <= 1e-4 of the output's largest magnitude).

CI runs a sample (CI_SAMPLE, one model per new-operator family and the earlier ones); all 18 twins x 4
policies (smartmem_sim.compiler.pipeline.POLICIES: naive, fusion, smartmem, search) are marked ``exhaustive`` (about 9600
kernel launches, ~1800 distinct sources: half an hour or more on 2 cores with a cold PoCL kernel cache):
``pytest -m exhaustive tests/kernels/test_zoo_models.py`` (``-k search`` for the search plans alone)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.kernels.zoo_runs import POLICIES, load_twin, reference, tiny_twins

CI_SAMPLE = {("resnext", "smartmem"), ("resnext", "fusion"), ("vit", "smartmem"), ("sd_text_encoder", "smartmem")}
ALL = [(m, p) for m in tiny_twins() for p in POLICIES]
PARAMS = [pytest.param(m, p, marks=() if (m, p) in CI_SAMPLE else pytest.mark.exhaustive) for m, p in ALL]


@pytest.mark.opencl
@pytest.mark.slow
@pytest.mark.parametrize("model,policy", PARAMS)
def test_tiny_twin_matches_onnxruntime(cl_device, model, policy):
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import execute

    proto, graph, feeds = load_twin(model)
    plan = compile_model(graph, policy)
    want = reference(proto, feeds)
    got = execute(plan, cl_device, {n: feeds[plan.tensors[n].source or n] for n in plan.inputs})
    for n in plan.outputs:
        ref = np.asarray(want[plan.tensors[n].source or n], np.float32)
        assert np.abs(ref).max() > 0
        np.testing.assert_allclose(got.outputs[n], ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()),
                                   err_msg=f"{model} under {policy}")
