"""Which kernels ran: a hash of the OpenCL sources of a plan step's kernels.

A validate CSV records the hash of the kernels that ran on the device; the timing fit compares it with the hash
of the kernels the current code generates, and leaves out rows measured on other kernels.
"""
from __future__ import annotations

import hashlib

from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.ops.builder import step_constants


def source_hash(sources) -> str:
    """First 12 hex digits of sha256 over the kernels' OpenCL sources, in launch order."""
    h = hashlib.sha256()
    for s in sources:
        h.update(s.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def kernel_hash(plan, step, texel_reuse: bool = True) -> str:
    """:func:`source_hash` of the kernels the current code generates for ``step`` (built with or without
    texel registers: smartmem_sim/kernels/ops/program.py)."""
    return source_hash(k.source for k in step_kernels(plan, step, step_constants(plan, step),
                                                      texel_reuse=texel_reuse))
