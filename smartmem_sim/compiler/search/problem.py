"""The layout choice of a plan as a factor problem (PBQP-like, with hyperedges).

Variables: stored tensors whose layout the search may change, each with a list of candidate layouts;
candidate 0 is the plan's current layout. Following the paper's edge rules, layouts are searched only on
edges that touch an ILD&Var operator: a tensor is a variable when it is an activation (not a weight, which
is prepacked offline) on an image and some step that reads or writes it runs an ILD&Var operator.
Factors: every step that touches a variable; its table holds the step's cost (seconds, from the
CostModel) for every combination of its variables' candidates. Steps touching no variable are a constant.
The total predicted time of an assignment is the sum of all factors plus that constant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smartmem_sim.compiler.costs.model import CostModel, check_layouts
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.groups import classify
from smartmem_sim.compiler.passes.layouts import _preferences, _ranked
from smartmem_sim.compiler.search.candidates import candidate_layouts
from smartmem_sim.layout.image import TensorLayout
from smartmem_sim.layout.plan import COPY, Plan, Step
from smartmem_sim.layout.signature import layout_key, step_signature, step_tensors

MAX_FACTOR_ENTRIES = 4096  # a step whose variables have more combinations than this keeps fewer candidates


@dataclass
class Factor:
    step: int  # index into plan.steps
    variables: tuple[str, ...]
    table: np.ndarray  # seconds, one axis per variable (candidate index)


@dataclass
class LayoutProblem:
    plan: Plan
    candidates: dict[str, list[TensorLayout]]
    factors: list[Factor]
    constant: float  # seconds of the steps that touch no variable
    evaluations: int = 0  # entries the cost model priced (a table shared by repeated blocks counts once)
    notes: dict = field(default_factory=dict)

    def total(self, assignment: dict[str, int]) -> float:
        """Predicted seconds of the plan under an assignment (tensor -> candidate index)."""
        return self.constant + sum(float(f.table[tuple(assignment[v] for v in f.variables)]) for f in self.factors)

    def current(self) -> dict[str, int]:
        return {v: 0 for v in self.candidates}


def _is_ild_var(step: Step) -> bool:
    if step.op_type == COPY:
        return False
    try:
        return str(classify(step.op_type)) == "ILD&Var"
    except CompilerError:
        return False


def search_variables(plan: Plan) -> list[str]:
    """Tensors the search may re-lay out (module docstring), in plan order."""
    out: dict[str, None] = {}
    for step in plan.steps:
        if not _is_ild_var(step):
            continue
        for name in step_tensors(step):
            t = plan.tensors[name]
            if t.kind != "weight" and t.on_image:
                out[name] = None
    return list(out)


def table_key(plan: Plan, step: Step, options: dict[str, list[TensorLayout]]) -> str:
    """Equal for two steps whose factor tables are equal under a cost model keyed by signature: the step's
    signature with the plan's layouts plus every variable's candidate layouts (by access-relevant key)."""
    pos = {n: i for i, n in enumerate(step_tensors(step))}
    tried = tuple((pos[v], tuple(layout_key(c) for c in cs)) for v, cs in options.items())
    return step_signature(plan, step, check_layouts(plan, step, None)) + repr(tried)


def build_problem(plan: Plan, cost: CostModel, limit: int = 4) -> LayoutProblem:
    """Candidates (up to ``limit`` per variable) and every factor's table, priced by ``cost``.

    Steps of equal signature with equal candidate lists (the repeated blocks of a network) share one
    table when ``cost.keyed_by_signature``: the model is asked once per distinct table."""
    prefs = _preferences(plan)
    names = search_variables(plan)
    cands = {n: candidate_layouts(plan, n, _ranked(prefs.get(n, [])), limit) for n in names}
    factors: list[Factor] = []
    constant = 0.0
    evaluations = 0
    tables: dict[str, np.ndarray] = {}
    for i, step in enumerate(plan.steps):
        vars_ = tuple(n for n in step_tensors(step) if n in cands)
        if not vars_:
            constant += cost.evaluate(plan, step).seconds
            evaluations += 1
            continue
        # keep the table small: trim the candidate lists of this step's widest variables
        sizes = [len(cands[v]) for v in vars_]
        while math.prod(sizes) > MAX_FACTOR_ENTRIES:
            k = int(np.argmax(sizes))
            sizes[k] -= 1
        options = {v: cands[v][:s] for v, s in zip(vars_, sizes, strict=True)}
        key = table_key(plan, step, options) if cost.keyed_by_signature else None
        table = tables.get(key) if key is not None else None
        if table is None:
            table = np.asarray(cost.evaluate_table(plan, step, options), dtype=float)
            if table.shape != tuple(sizes):
                raise CompilerError(f"cost model {type(cost).__name__}: evaluate_table of step '{step.id}' gave "
                                    f"shape {table.shape}, expected {tuple(sizes)}")
            evaluations += table.size
            if key is not None:
                tables[key] = table
        full = np.full([len(cands[v]) for v in vars_], np.inf)  # trimmed candidates are never chosen here
        full[tuple(slice(0, s) for s in sizes)] = table
        factors.append(Factor(i, vars_, full))
    return LayoutProblem(plan, cands, factors, constant, evaluations)
