"""memsim: a simulator of 2.5D texture memory (image2d + buffers, per-core texture L1, shared L2, DRAM).

It knows nothing of DNNs and imports nothing from the other packages of this project. Typical use::

    from smartmem_sim import memsim
    profile = memsim.load_profile("adreno740")
    table = memsim.SurfaceTable([memsim.Image2D(512, 512, "fp16")], profile.image_layout)
    report = profile.hierarchy().simulate(trace, table)   # trace: memsim.Trace
    print(report.table())

or, for plain byte addresses, ``memsim.simulate_addresses(addrs, levels=[{"size": ..., "ways": ..., "line": ...}])``.
"""
import os

from smartmem_sim.memsim import _numba_sources

# memsim's parallel passes are short (a kernel's trace is often 10-60k rows), and libgomp's workers spin after
# each one: on a full-size Swin compare that spinning was a third of the CPU time (24.6 s of CPU, 16.2 s wall;
# 16.3 s of CPU, 16.9 s wall with passive waiting; this project's 2-core VM). Set only if the user did not.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # spelled as the sweep runner sets it for workers
_numba_sources.refresh()

from smartmem_sim.memsim.addresses import simulate_addresses  # noqa: E402
from smartmem_sim.memsim.cache import CacheLevel  # noqa: E402
from smartmem_sim.memsim.errors import MemsimError  # noqa: E402
from smartmem_sim.memsim.execution import Execution  # noqa: E402
from smartmem_sim.memsim.hierarchy import Hierarchy  # noqa: E402
from smartmem_sim.memsim.profiles import DeviceProfile, list_profiles, load_profile  # noqa: E402
from smartmem_sim.memsim.report import LevelStats, Report  # noqa: E402
from smartmem_sim.memsim.study import run_study  # noqa: E402
from smartmem_sim.memsim.surfaces import Buffer, Image2D, ImageLayout, SurfaceTable  # noqa: E402
from smartmem_sim.memsim.timing import DramSpec  # noqa: E402
from smartmem_sim.memsim.trace import Trace  # noqa: E402

__all__ = [
    "Buffer", "CacheLevel", "DeviceProfile", "DramSpec", "Execution", "Hierarchy", "Image2D", "ImageLayout",
    "LevelStats", "MemsimError", "Report", "SurfaceTable", "Trace", "list_profiles", "load_profile", "run_study",
    "simulate_addresses",
]
