"""summarize(graph): one JSON-ready dict describing a graph (definitions in smartmem_sim.compiler.analysis.counts)."""
from __future__ import annotations

from typing import Any

from smartmem_sim.compiler.analysis import counts
from smartmem_sim.compiler.ir import Graph


def summarize(graph: Graph) -> dict[str, Any]:
    """Keys: model, nodes, op_histogram, layout_transforms {total, by_op, nodes}, parameters,
    parameter_bytes, constant_int_elements, macs {total, conv, conv_transpose, matmul_weight,
    matmul_activation, gemm}, tensors {activation_count, activation_bytes, largest}, inputs, outputs,
    stripped_weights. Sizes in bytes, MACs as multiply-accumulate counts for one inference."""
    params = counts.parameters(graph)

    def io(names):
        return [{"name": n, "shape": list(graph.tensor(n).shape), "dtype": str(graph.tensor(n).dtype)}
                for n in names]

    return {
        "model": graph.name,
        "nodes": len(graph),
        "op_histogram": counts.op_histogram(graph),
        "layout_transforms": counts.layout_transforms(graph),
        **params,
        "macs": counts.macs(graph),
        "tensors": counts.tensor_sizes(graph),
        "inputs": io(graph.inputs),
        "outputs": io(graph.outputs),
        "stripped_weights": any(graph.is_stripped(n) for n in graph.initializers),
    }
