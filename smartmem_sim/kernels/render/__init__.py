"""OpenCL C source text from access programs; testable without a device."""
from smartmem_sim.kernels.render.opencl import render

__all__ = ["render"]
