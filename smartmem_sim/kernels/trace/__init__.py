"""memsim traces from access programs (the same index expressions the renderer prints)."""
from smartmem_sim.kernels.trace.generate import ItemAccesses, item_accesses, kernel_trace, scheduled_trace

__all__ = ["ItemAccesses", "item_accesses", "kernel_trace", "scheduled_trace"]
