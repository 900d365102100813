"""Solvers of a LayoutProblem: assignment tensor -> candidate index minimizing the sum of the factors.

- ``variable_elimination``: exact min-sum elimination in a greedy min-degree order (a heap of scope sizes,
  updated only for the eliminated variable's neighbours: O(n log n) bookkeeping, not O(n^2) rescans); gives up
  (returns None) when an intermediate table would exceed ``max_entries`` (graphs of large treewidth).
- ``coordinate_descent``: from a start assignment, repeatedly set each variable to its best value given
  the others until nothing improves; never worse than the start (a local optimum, no guarantee beyond).
- ``brute_force``: every assignment (tests, tiny graphs).
- ``solve``: exact when possible, else coordinate descent from the plan's current layouts.
"""
from __future__ import annotations

import heapq
import itertools
import math

import numpy as np

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.search.problem import LayoutProblem

MAX_ENTRIES = 1 << 20


def _join(tables: list[tuple[tuple[str, ...], np.ndarray]], order: tuple[str, ...], sizes) -> np.ndarray:
    out = np.zeros([sizes[v] for v in order])
    for vars_, t in tables:
        perm = sorted(range(len(vars_)), key=lambda i: order.index(vars_[i]))
        arr = np.transpose(t, perm)
        shape = [sizes[v] if v in vars_ else 1 for v in order]
        out = out + arr.reshape(shape)
    return out


def variable_elimination(problem: LayoutProblem, max_entries: int = MAX_ENTRIES) -> dict[str, int] | None:
    """Exact minimum of the problem, or None when some intermediate table would exceed ``max_entries``.

    Order: greedy, the variable whose scope (variables it shares a table with) has the fewest
    combinations first, ties by name. Tables are added up in the order they were made, so the
    result does not depend on how the bookkeeping is stored."""
    sizes = {v: len(c) for v, c in problem.candidates.items()}
    tables: dict[int, tuple[tuple[str, ...], np.ndarray]] = {}
    touching: dict[str, set[int]] = {v: set() for v in sizes}
    for i, f in enumerate(problem.factors):
        tables[i] = (f.variables, f.table)
        for v in f.variables:
            touching[v].add(i)
    next_id = len(tables)

    def scope_of(v: str) -> set[str]:
        s: set[str] = set()
        for i in touching[v]:
            s.update(tables[i][0])
        s.discard(v)
        return s

    def width(v: str) -> int:  # Python ints: a huge scope cannot overflow into a small number
        return math.prod(sizes[u] for u in scope_of(v))

    current = {v: width(v) for v in sizes}
    heap = [(w, v) for v, w in current.items()]
    heapq.heapify(heap)
    trail = []  # (var, scope, argmin table over var)
    while heap:
        w, v = heapq.heappop(heap)
        if current.get(v) != w:
            continue  # stale entry: v was eliminated or its scope changed since
        del current[v]
        scope = tuple(sorted(scope_of(v)))
        if w * sizes[v] > max_entries:
            return None
        ids = sorted(touching[v])
        order = (*scope, v)
        joined = _join([tables[i] for i in ids], order, sizes)
        trail.append((v, scope, np.argmin(joined, axis=-1)))
        for i in ids:
            for u in tables.pop(i)[0]:
                touching[u].discard(i)
        tables[next_id] = (scope, np.min(joined, axis=-1))
        for u in scope:
            touching[u].add(next_id)
        next_id += 1
        for u in scope:  # only the eliminated variable's neighbours change scope
            current[u] = width(u)
            heapq.heappush(heap, (current[u], u))
    out: dict[str, int] = {}
    for v, scope, arg in reversed(trail):
        out[v] = int(arg[tuple(out[u] for u in scope)]) if scope else int(arg)
    return out


def coordinate_descent(problem: LayoutProblem, start: dict[str, int] | None = None, rounds: int = 50) -> dict[str, int]:
    x = dict(start if start is not None else problem.current())
    by_var: dict[str, list] = {v: [] for v in problem.candidates}
    for f in problem.factors:
        for v in f.variables:
            by_var[v].append(f)
    for _ in range(rounds):
        changed = False
        for v in problem.candidates:
            costs = np.zeros(len(problem.candidates[v]))
            for f in by_var[v]:
                idx = tuple(slice(None) if u == v else x[u] for u in f.variables)
                costs = costs + f.table[idx]
            best = int(np.argmin(costs))
            if costs[best] < costs[x[v]] - 1e-15:
                x[v], changed = best, True
        if not changed:
            break
    return x


def brute_force(problem: LayoutProblem, max_assignments: int = 1 << 16) -> dict[str, int]:
    names = list(problem.candidates)
    total = math.prod(len(problem.candidates[v]) for v in names)
    if total > max_assignments:
        raise CompilerError(f"brute force over {total} assignments is over the limit {max_assignments}")
    best, best_cost = None, np.inf
    for idx in itertools.product(*(range(len(problem.candidates[v])) for v in names)):
        a = dict(zip(names, idx, strict=True))
        c = problem.total(a)
        if c < best_cost:
            best, best_cost = a, c
    return best if best is not None else {}


def solve(problem: LayoutProblem) -> tuple[dict[str, int], str]:
    """(assignment, method): exact elimination when no intermediate table exceeds MAX_ENTRIES; otherwise
    (graphs of large treewidth) the heuristic: coordinate descent from the current layouts, which is never
    worse than them. ``method`` says which one ran."""
    exact = variable_elimination(problem)
    if exact is not None:
        return exact, "exact (variable elimination)"
    return coordinate_descent(problem), "coordinate descent from the smartmem layouts"
