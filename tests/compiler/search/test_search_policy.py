"""Policy `search`: optimal under its cost model on small graphs (brute force over the whole layout
problem), never predicted slower than smartmem under the same model, and still computing the model."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from smartmem_sim.compiler.costs import AnalyticalCost
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.compiler.reference import run_plan
from smartmem_sim.compiler.search.problem import build_problem
from smartmem_sim.compiler.search.solve import brute_force
from tests.compiler.passes.builders import feeds_for, ort_outputs
from tests.compiler.search.graphs import attention, attention_graph

ZOO = pytest.importorskip("smartmem_sim.zoo")
from smartmem_sim.zoo import store  # noqa: E402


@pytest.mark.parametrize("tokens,dim,heads", [(16, 32, 4), (8, 16, 2)])
def test_search_reaches_the_brute_force_optimum(tokens, dim, heads):
    cost = AnalyticalCost("adreno740")
    graph = attention_graph(tokens=tokens, dim=dim, heads=heads)
    smart = compile_model(graph, "smartmem", "fp16")
    problem = build_problem(smart, cost, limit=3)
    best = problem.total(brute_force(problem))
    plan = compile_model(graph, "search", "fp16", cost=cost)
    got = sum(k.seconds for k in cost.evaluate_plan(plan))
    assert got == pytest.approx(best, rel=1e-12)
    assert got <= sum(k.seconds for k in cost.evaluate_plan(smart))
    assert plan.search["method"].startswith("exact")


def test_search_plan_computes_the_model():
    m = attention()
    feeds = feeds_for(m)
    plan = compile_model(attention_graph(), "search", "fp32", cost=AnalyticalCost("adreno740"), search_candidates=4)
    assert plan.search["changed"], "the test graph should make the search move some layout"
    for got, want in zip(run_plan(plan, feeds), ort_outputs(m, feeds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["swin", "cswin", "vit", "convnext"])
def test_search_never_worse_than_smartmem_on_zoo_twins(name):
    if not store.model_path(name, True).exists():
        pytest.skip(f"zoo tiny twin '{name}' is not committed")
    from smartmem_sim.compiler.frontend import load_model

    graph = load_model(ZOO.load(name, tiny=True, weights=False))
    cost = AnalyticalCost("adreno740")
    smart = sum(k.seconds for k in cost.evaluate_plan(compile_model(graph, "smartmem", "fp16")))
    search = sum(k.seconds for k in cost.evaluate_plan(compile_model(graph, "search", "fp16", cost=cost)))
    assert search <= smart * (1 + 1e-12)


def _one_texel(plan):
    return replace(plan, steps=[replace(s, tile=(1, 1)) for s in plan.steps])


def test_predicted_time_is_the_simulated_time_of_the_plan_and_optimal_under_the_simulator():
    """With the memsim-backed model: the search's own prediction equals simulating the plan it returns
    (kernels are priced one at a time with cold caches in both), the smartmem plan is its prediction
    before, and no assignment of the layout problem is better (brute force)."""
    from smartmem_sim.compiler.costs import SimulatedCost
    from smartmem_sim.kernels.trace.sample import ProgramSampler
    from smartmem_sim.simulation import simulate_plan

    cost = SimulatedCost("adreno740", ProgramSampler(), row_budget=4000, windows=2)
    graph = attention_graph(tokens=8, dim=16, heads=2)
    # the search runs before any tile is chosen (pipeline.py): it starts from smartmem's plan, one texel per item
    smart = _one_texel(compile_model(graph, "smartmem", "fp16"))
    problem = build_problem(smart, cost, limit=2)
    best = problem.total(brute_force(problem))
    plan = compile_model(graph, "search", "fp16", cost=cost, search_candidates=2)
    got = simulate_plan(plan, cost=cost).seconds
    assert got == pytest.approx(plan.search["predicted_after_s"], rel=1e-12)
    # its layouts are the optimum; the tiles chosen after it (row blocks, tuning) can only lower the time
    assert simulate_plan(_one_texel(plan), cost=cost).seconds == pytest.approx(best, rel=1e-12)
    assert got <= best * (1 + 1e-12)
    assert simulate_plan(smart, cost=cost).seconds == pytest.approx(plan.search["predicted_before_s"], rel=1e-12)
    assert got <= plan.search["predicted_before_s"] * (1 + 1e-12)
