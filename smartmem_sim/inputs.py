"""Random model inputs for a run (``smartmem run``, validation, the oclgrind sweep): seeded, by graph input."""
from __future__ import annotations

import numpy as np

from smartmem_sim.compiler.ir import Graph
from smartmem_sim.errors import UserError

# ops through which an integer input keeps its values on the way to the Gather it indexes
_INDEX_PASSTHROUGH = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast", "Identity", "Expand", "Transpose")
DEFAULT_INT_HIGH = 1000  # integer inputs that index nothing (e.g. a diffusion timestep): [0, 1000)


def random_inputs(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Inputs for a run, by graph input name, from ``numpy.random.default_rng(seed)`` in input order.

    Float inputs are standard normal. Integer inputs (token ids, timesteps) are uniform integers in
    ``[0, n)``: ``n`` is the smallest axis they index through Gather/GatherElements (following
    Reshape-like ops and Casts), else :data:`DEFAULT_INT_HIGH`. Boolean inputs are fair coin flips.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        kind = np.dtype(t.dtype).kind
        if kind == "f":
            out[name] = rng.standard_normal(t.shape).astype(t.dtype)
        elif kind in "iu":
            out[name] = rng.integers(0, _index_bound(graph, name), size=t.shape).astype(t.dtype)
        elif kind == "b":
            out[name] = rng.integers(0, 2, size=t.shape).astype(bool)
        else:
            raise UserError(f"input '{name}': cannot draw random values of dtype {t.dtype}")
    return out


def _index_bound(graph: Graph, name: str) -> int:
    bounds, todo, seen = [], [name], set()
    while todo:
        tensor = todo.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        for nid in graph.consumers(tensor):
            node = graph.node(nid)
            if node.op_type in ("Gather", "GatherElements") and len(node.inputs) > 1 and node.inputs[1] == tensor:
                shape = graph.tensor(node.inputs[0]).shape
                bounds.append(shape[int(node.attr("axis", 0)) % len(shape)])
            elif node.op_type in _INDEX_PASSTHROUGH and node.inputs[0] == tensor:
                todo.extend(node.outputs)
    return min(bounds, default=DEFAULT_INT_HIGH)
