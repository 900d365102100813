"""ONNX front end: read, clean (fold shape logic, bind dims, infer static shapes), build the IR, export.

Public API:
    clean_model(model, dims=None, name="model") -> onnx.ModelProto
    load_model(path_or_proto, dims=None) -> smartmem_sim.compiler.ir.Graph
    export_model(graph) -> onnx.ModelProto
    materialize_weights(model, seed) -> onnx.ModelProto
    read_model(path) -> onnx.ModelProto
"""
from smartmem_sim.compiler.frontend.clean import WEIGHTS_KEY, clean_model, is_stripped_model
from smartmem_sim.compiler.frontend.dims import symbolic_dims
from smartmem_sim.compiler.frontend.export import export_model, to_graph
from smartmem_sim.compiler.frontend.load import load_model
from smartmem_sim.compiler.frontend.read import read_model
from smartmem_sim.compiler.frontend.weights import materialize_weights

__all__ = ["WEIGHTS_KEY", "clean_model", "export_model", "is_stripped_model", "load_model",
           "materialize_weights", "read_model", "symbolic_dims", "to_graph"]
