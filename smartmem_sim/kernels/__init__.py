"""Kernels: one definition per operator x layout, emitting OpenCL C and the memsim access trace."""
