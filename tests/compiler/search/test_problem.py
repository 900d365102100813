"""smartmem_sim/compiler/search/problem.py: repeated blocks share one factor table without changing any number, and a
cost model that gives a table of the wrong shape is an error."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.compiler.costs import AnalyticalCost
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.pipeline import compile_model
from smartmem_sim.compiler.search.problem import build_problem
from tests.compiler.search.graphs import attention_graph

ZOO = pytest.importorskip("smartmem_sim.zoo")
from smartmem_sim.zoo import store  # noqa: E402


class _Unshared(AnalyticalCost):
    """The same formula, but the problem may not reuse tables across steps."""

    keyed_by_signature = False


class _Counting(AnalyticalCost):
    def __init__(self):
        super().__init__("adreno740")
        self.tables = 0

    def evaluate_table(self, plan, step, options):
        self.tables += 1
        return super().evaluate_table(plan, step, options)


def test_shared_tables_equal_tables_priced_step_by_step():
    if not store.model_path("cswin", True).exists():
        pytest.skip("zoo tiny twin 'cswin' is not committed")
    from smartmem_sim.compiler.frontend import load_model

    plan = compile_model(load_model(ZOO.load("cswin", tiny=True, weights=False)), "smartmem", "fp16")
    counting = _Counting()
    shared = build_problem(plan, counting, limit=3)
    alone = build_problem(plan, _Unshared("adreno740"), limit=3)
    assert [f.variables for f in shared.factors] == [f.variables for f in alone.factors]
    for a, b in zip(shared.factors, alone.factors, strict=True):
        np.testing.assert_array_equal(a.table, b.table)
    assert shared.constant == alone.constant
    # the twin repeats its blocks: fewer tables priced than steps with variables
    assert counting.tables < len(shared.factors)
    assert shared.evaluations < alone.evaluations


class _WrongShape(AnalyticalCost):
    def evaluate_table(self, plan, step, options):
        return np.zeros(3)


def test_a_table_of_the_wrong_shape_names_the_step():
    plan = compile_model(attention_graph(), "smartmem", "fp16")
    with pytest.raises(CompilerError, match="evaluate_table of step"):
        build_problem(plan, _WrongShape("adreno740"))
