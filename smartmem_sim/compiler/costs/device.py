"""The device a cost model prices on: a memsim DeviceProfile (smartmem_sim/memsim/devices/NAME.toml), whose
``[execution]`` table (wave size, ALU lanes, launch overhead, texel registers; smartmem_sim/memsim/execution.py)
the cost models need besides its caches. Loaded and checked once, by memsim's profile loader."""
from __future__ import annotations

from smartmem_sim import memsim
from smartmem_sim.compiler.errors import CompilerError


def priced_device(device: str | memsim.DeviceProfile) -> memsim.DeviceProfile:
    """``device`` (a profile name, a .toml path or a loaded profile) with its ``[execution]`` table checked
    present; a CompilerError naming the file and what to add otherwise."""
    if isinstance(device, memsim.DeviceProfile):
        profile = device
    elif isinstance(device, str) and device:
        try:
            profile = memsim.load_profile(device)
        except memsim.MemsimError as exc:
            raise CompilerError(str(exc)) from None
    else:
        raise CompilerError(f"device must be a profile name or a memsim DeviceProfile, got {device!r}")
    try:
        profile.require_execution()
    except memsim.MemsimError as exc:
        raise CompilerError(str(exc)) from None
    return profile
