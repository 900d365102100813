"""memsim: a simulator of 2.5D texture memory (image2d + buffers, per-core texture L1, shared L2, DRAM).

It knows nothing of DNNs and imports nothing from the other packages of this project. Typical use::

    from smartmem_sim import memsim
    profile = memsim.load_profile("adreno740")
    table = memsim.SurfaceTable([memsim.Image2D(512, 512, "fp16")], profile.image_layout)
    report = profile.hierarchy().simulate(trace, table)   # trace: memsim.Trace
    print(report.table())

or, for plain byte addresses, ``memsim.simulate_addresses(addrs, levels=[{"size": ..., "ways": ..., "line": ...}])``.
"""
from smartmem_sim.memsim.addresses import simulate_addresses
from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.execution import Execution
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.profiles import DeviceProfile, list_profiles, load_profile
from smartmem_sim.memsim.report import LevelStats, Report
from smartmem_sim.memsim.study import run_study
from smartmem_sim.memsim.surfaces import Buffer, Image2D, ImageLayout, SurfaceTable
from smartmem_sim.memsim.timing import DramSpec
from smartmem_sim.memsim.trace import Trace

__all__ = [
    "Buffer", "CacheLevel", "DeviceProfile", "DramSpec", "Execution", "Hierarchy", "Image2D", "ImageLayout",
    "LevelStats", "MemsimError", "Report", "SurfaceTable", "Trace", "list_profiles", "load_profile", "run_study",
    "simulate_addresses",
]
