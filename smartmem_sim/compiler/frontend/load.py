"""load_model: a path or ModelProto -> cleaned -> the compiler's IR."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import onnx

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend.clean import clean_model
from smartmem_sim.compiler.frontend.export import to_graph
from smartmem_sim.compiler.frontend.messages import single_line_errors
from smartmem_sim.compiler.frontend.read import read_model
from smartmem_sim.compiler.ir import Graph


@single_line_errors
def load_model(path_or_proto: str | os.PathLike | onnx.ModelProto, dims: Mapping[str, int] | None = None,
               name: str | None = None) -> Graph:
    """Read (a file: with its external data), clean (see ``clean_model``) and build a Graph.

    ``name`` labels error messages and the graph; it defaults to the file name or the graph's name.
    """
    if isinstance(path_or_proto, onnx.ModelProto):
        model = path_or_proto
        label = name or model.graph.name or "model"
    elif isinstance(path_or_proto, str | os.PathLike):
        model = read_model(path_or_proto)
        label = name or str(path_or_proto)
    else:
        raise CompilerError(f"load_model needs a path or an onnx.ModelProto, got {type(path_or_proto).__name__}")
    cleaned = clean_model(model, dims, label)
    graph_name = name or (Path(path_or_proto).stem if not isinstance(path_or_proto, onnx.ModelProto)
                          else model.graph.name or "model")
    return to_graph(cleaned, graph_name)
