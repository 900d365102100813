"""Pass of policy ``search``: after smartmem's moves (elimination, fusion, reduction-dim layouts and extra
copies), re-choose the layouts of the searchable tensors (smartmem_sim/compiler/search/problem.py) to minimize the plan's
predicted time under a CostModel. The smartmem layouts are candidate 0 of every variable, so the result is
never predicted slower than smartmem's under the same cost model."""
from __future__ import annotations

from dataclasses import replace

from smartmem_sim.compiler.costs.model import CostModel
from smartmem_sim.compiler.search.problem import build_problem
from smartmem_sim.compiler.search.solve import solve
from smartmem_sim.layout.plan import Plan
from smartmem_sim.layout.signature import step_tensors


def search_layouts(plan: Plan, cost: CostModel, limit: int = 4) -> dict[tuple[str, str], str]:
    """Re-lay out ``plan`` in place; returns {(step id, tensor): reason} for every step touching a tensor
    whose layout changed, and records a summary in ``plan.search`` (a dict)."""
    problem = build_problem(plan, cost, limit)
    assignment, method = solve(problem)
    before, after = problem.total(problem.current()), problem.total(assignment)
    if after > before:  # cannot happen for exact elimination or descent from the current layouts
        assignment, after = problem.current(), before
    notes: dict[tuple[str, str], str] = {}
    changed = {}
    for name, j in assignment.items():
        if j:
            old = plan.tensors[name].layout
            new = problem.candidates[name][j]
            plan.tensors[name] = replace(plan.tensors[name], layout=new)
            changed[name] = (old, new)
    for step in plan.steps:
        for name in step_tensors(step):
            if name in changed:
                old, new = changed[name]
                notes[(step.id, name)] = (f"search ({method}, {cost.device}): '{name}' stored as {new.name} "
                                          f"instead of smartmem's {old.name}; predicted plan time "
                                          f"{before * 1e3:.4g} -> {after * 1e3:.4g} ms")
    plan.search = {"method": method, "device": cost.device, "variables": len(problem.candidates),
                   "factors": len(problem.factors), "evaluations": problem.evaluations,
                   "predicted_before_s": before, "predicted_after_s": after, "changed": sorted(changed)}
    return notes
