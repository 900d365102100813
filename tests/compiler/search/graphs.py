"""Small attention-like graphs for cost and search tests (built with tests/compiler/passes/builders.py)."""
from __future__ import annotations

import numpy as np
from onnx import helper

from smartmem_sim.compiler.frontend import load_model
from tests.compiler.passes.builders import model


def attention(tokens: int = 16, dim: int = 32, heads: int = 4, seed: int = 0):
    """x[1,T,D] -> q, k = x @ Wq, x @ Wk -> heads -> softmax(q k^T) @ q -> [1,H,T,D/H]."""
    rng = np.random.default_rng(seed)
    d = dim // heads
    inits = {"wq": rng.standard_normal((dim, dim)).astype(np.float32),
             "wk": rng.standard_normal((dim, dim)).astype(np.float32),
             "shape": np.array([1, tokens, heads, d], np.int64)}
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("MatMul", ["x", "wk"], ["k"]),
        helper.make_node("Reshape", ["q", "shape"], ["q4"]),
        helper.make_node("Reshape", ["k", "shape"], ["k4"]),
        helper.make_node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qh", "kt"], ["s"]),
        helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "qh"], ["y"]),
    ]
    return model(nodes, {"x": (1, tokens, dim)}, {"y": (1, heads, tokens, d)}, inits)


def attention_graph(**kw):
    return load_model(attention(**kw))
