"""Graph analysis: op counts, layout-transformation operators, parameters, MACs, tensor sizes.

``summarize(graph) -> dict``; the definitions live in the docstring of ``smartmem_sim.compiler.analysis.counts``.
"""
from smartmem_sim.compiler.analysis.counts import constant_tensors, is_layout_transform
from smartmem_sim.compiler.analysis.summary import summarize

__all__ = ["constant_tensors", "is_layout_transform", "summarize"]
