"""A device as the cost models see it: the memsim profile plus smartmem_sim/compiler/costs/execution.toml (wave size,
ALU lanes, launch overhead), loaded and checked once."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from smartmem_sim import memsim
from smartmem_sim.compiler.data_tables import read_toml
from smartmem_sim.compiler.errors import CompilerError

EXECUTION_FILE = Path(__file__).with_name("execution.toml")
KEYS = ("wave_size", "alu_lanes", "launch_overhead_s")


@dataclass(frozen=True)
class Device:
    """``profile``: the memsim DeviceProfile; the rest from execution.toml (units in the names)."""

    profile: memsim.DeviceProfile
    wave_size: int
    alu_lanes: float  # fp32 FMA lanes, device-wide
    launch_overhead_s: float
    texel_reuse: bool = True  # kernels keep each read's texels in per-lane registers (smartmem_sim/kernels/ops/program.py)

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def clock_hz(self) -> float:
        return self.profile.clock_hz


@cache
def _execution_table() -> dict:
    data = read_toml(EXECUTION_FILE, "execution table")
    devices = data.get("devices")
    if set(data) != {"devices"} or not isinstance(devices, dict):
        raise CompilerError(f"{EXECUTION_FILE}: expected only [devices.NAME] tables")
    for name, t in devices.items():
        where = f"{EXECUTION_FILE}: [devices.{name}]"
        unknown = sorted(set(t) - {*KEYS, "texel_reuse", "source"})
        if unknown:
            raise CompilerError(f"{where}: unknown key(s) {unknown}; allowed: {list(KEYS)}")
        for k in KEYS:
            v = t.get(k)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (k != "launch_overhead_s" and v <= 0):
                raise CompilerError(f"{where}: '{k}' must be a positive number, got {v!r}")
            if k not in t.get("source", {}):
                raise CompilerError(f"{where}: '{k}' has no source; add it to [devices.{name}.source]")
        if "texel_reuse" in t:  # optional (default true: smartmem_sim/kernels/ops/program.py), but sourced when given
            if not isinstance(t["texel_reuse"], bool):
                raise CompilerError(f"{where}: 'texel_reuse' must be true or false, got {t['texel_reuse']!r}")
            if "texel_reuse" not in t.get("source", {}):
                raise CompilerError(f"{where}: 'texel_reuse' has no source; add it to [devices.{name}.source]")
    return devices


@lru_cache(maxsize=32)
def load_device(name: str) -> Device:
    """The device named like a memsim profile (smartmem_sim/memsim/devices/NAME.toml)."""
    if not isinstance(name, str) or not name:
        raise CompilerError(f"device must be a profile name, got {name!r}")
    try:
        profile = memsim.load_profile(name)
    except memsim.MemsimError as exc:
        raise CompilerError(str(exc)) from None
    table = _execution_table()
    if profile.name not in table:
        raise CompilerError(f"device '{profile.name}' has no [devices.{profile.name}] table in {EXECUTION_FILE} "
                            f"(wave size, ALU lanes, launch overhead); add one with sources")
    t = table[profile.name]
    return Device(profile, int(t["wave_size"]), float(t["alu_lanes"]), float(t["launch_overhead_s"]),
                  t.get("texel_reuse", True))
