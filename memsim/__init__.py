"""memsim: a simulator of 2.5D texture memory (image2d + buffers, per-core texture L1, shared L2, DRAM).

It knows nothing of DNNs and imports nothing from the other packages of this project.
"""
from memsim.errors import MemsimError
from memsim.trace import Trace

__all__ = ["MemsimError", "Trace"]
