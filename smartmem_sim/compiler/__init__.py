"""Compiler: ONNX -> IR (networkx) -> passes (classify, eliminate, fuse, search) -> Plan."""
