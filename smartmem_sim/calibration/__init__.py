"""Calibration of a memsim device profile on a real OpenCL device (``smartmem calibrate``) and validation
of a profile's predictions against measured kernel times (``smartmem validate``).

- ``fit``: the explicit fits (knees of latency-vs-footprint curves, line and sector sizes from stride
  sweeps, least squares for bandwidth / launch overhead, memory parallelism against memsim's timing formula);
- ``measure``: the adaptive sweeps that run smartmem_sim/kernels/microbench on a device and record raw rows;
- ``profile_out``: turns fitted numbers into a strict profile TOML with a source per number;
- ``validate``: the kernel matrix (zoo models x policies), predictions under a profile, error statistics;
- ``stats``: rank correlation and accuracy summaries.
"""
