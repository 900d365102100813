"""ONNX front end: read, clean (fold shape logic, bind dims, infer static shapes), build the IR, export.

Public API:
    clean_model(model, dims=None, name="model") -> onnx.ModelProto
    load_model(path_or_proto, dims=None) -> compiler.ir.Graph
    export_model(graph) -> onnx.ModelProto
    materialize_weights(model, seed) -> onnx.ModelProto
    read_model(path) -> onnx.ModelProto
"""
from compiler.frontend.clean import WEIGHTS_KEY, clean_model, is_stripped_model
from compiler.frontend.dims import symbolic_dims
from compiler.frontend.export import export_model, to_graph
from compiler.frontend.load import load_model
from compiler.frontend.read import read_model
from compiler.frontend.weights import materialize_weights

__all__ = ["WEIGHTS_KEY", "clean_model", "export_model", "is_stripped_model", "load_model",
           "materialize_weights", "read_model", "symbolic_dims", "to_graph"]
