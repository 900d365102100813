"""memsim: a simulator of 2.5D texture memory (image2d + buffers, per-core texture L1, shared L2, DRAM).

It knows nothing of DNNs and imports nothing from the other packages of this project. Typical use::

    import memsim
    profile = memsim.load_profile("adreno740")
    table = memsim.SurfaceTable([memsim.Image2D(512, 512, "fp16")], profile.image_layout)
    report = profile.hierarchy().simulate(trace, table)   # trace: memsim.Trace
    print(report.table())

or, for plain byte addresses, ``memsim.simulate_addresses(addrs, levels=[{"size": ..., "ways": ..., "line": ...}])``.
"""
from memsim.addresses import simulate_addresses
from memsim.cache import CacheLevel
from memsim.errors import MemsimError
from memsim.hierarchy import Hierarchy
from memsim.profiles import DeviceProfile, list_profiles, load_profile
from memsim.report import LevelStats, Report
from memsim.study import run_study
from memsim.surfaces import Buffer, Image2D, ImageLayout, SurfaceTable
from memsim.timing import DramSpec
from memsim.trace import Trace

__all__ = [
    "Buffer", "CacheLevel", "DeviceProfile", "DramSpec", "Hierarchy", "Image2D", "ImageLayout", "LevelStats",
    "MemsimError", "Report", "SurfaceTable", "Trace", "list_profiles", "load_profile", "run_study",
    "simulate_addresses",
]
