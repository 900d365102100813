"""Operator kernels as access programs: one body per operator family, registered by ONNX op type.

Importing this package registers every body (see kernels/ops/builder.py)."""
from kernels.ops import conv, copy, elementwise, indexing, matmul, normalize, reduce, resize  # noqa: F401  (registration)
from kernels.ops.builder import BODIES, build_program
from kernels.ops.program import AccessProgram

__all__ = ["BODIES", "AccessProgram", "build_program"]
