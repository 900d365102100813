"""Layout search (policy ``search``): candidate layouts per stored tensor, a factor problem whose factors are
the plan's steps priced by a CostModel, and solvers (exact variable elimination where the graph allows,
coordinate descent beyond, brute force for tests). The search only proposes; smartmem_sim/compiler/costs/model.py prices."""
from smartmem_sim.compiler.search.candidates import candidate_layouts
from smartmem_sim.compiler.search.policy import search_layouts
from smartmem_sim.compiler.search.problem import LayoutProblem, build_problem
from smartmem_sim.compiler.search.solve import brute_force, coordinate_descent, solve, variable_elimination

__all__ = ["LayoutProblem", "brute_force", "build_problem", "candidate_layouts", "coordinate_descent",
           "search_layouts", "solve", "variable_elimination"]
