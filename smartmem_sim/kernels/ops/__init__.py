"""Operator kernels as access programs: one body per operator family, registered by ONNX op type.

Importing this package registers every body (see smartmem_sim/kernels/ops/builder.py)."""
from smartmem_sim.kernels.ops import conv, copy, elementwise, indexing, matmul, normalize, reduce, resize  # noqa: F401  (registration)
from smartmem_sim.kernels.ops.builder import BODIES, build_program
from smartmem_sim.kernels.ops.program import AccessProgram

__all__ = ["BODIES", "AccessProgram", "build_program"]
