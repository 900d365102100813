"""How a device runs kernels: the ``[execution]`` table of its profile (smartmem_sim/memsim/devices/NAME.toml).

memsim's caches do not use these numbers: a profile without the table loads and simulates traces as
before. The cost models (smartmem_sim/compiler/costs/) need them to price a kernel and ask for them with
``DeviceProfile.require_execution()``, which names the file and what to add when the table is missing.

Keys (no others), each with a source in ``[execution.source]`` (a source starting with "guess" marks a guess)::

    [execution]
    wave_size = 64              # work-items that issue one instruction together (the trace's lock-step unit)
    alu_lanes = 1536            # fp32 FMA lanes of the whole device (compute: inner-loop iterations / alu_lanes cycles)
    launch_overhead_s = 5e-6    # seconds added per kernel launch (driver + dispatch), independent of the kernel
    texel_reuse = true          # optional, default true (sourced when given): kernels keep each read's texels
                                # in per-lane registers (smartmem_sim/kernels/ops/program.py)
    [execution.source]
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.timing import _from_table

# Upper bounds, far above any GPU, so a typo fails naming the field instead of sizing the issue order's arrays
# by it: waves are 8-128 work-items on real GPUs (NVIDIA 32, AMD 64, Adreno 64/128, Mali 16); no launch
# costs a second.
MAX_WAVE_SIZE = 4096
MAX_LAUNCH_OVERHEAD_S = 1.0


@dataclass(frozen=True)
class Execution:
    """A profile's ``[execution]`` table (units in the names)."""

    wave_size: int
    alu_lanes: float  # fp32 FMA lanes, device-wide
    launch_overhead_s: float
    texel_reuse: bool = True  # kernels keep each read's texels in per-lane registers (smartmem_sim/kernels/ops/program.py)

    def __post_init__(self) -> None:
        w = self.wave_size
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise MemsimError(f"field 'wave_size' must be a positive integer, got {w!r}")
        if w > MAX_WAVE_SIZE:
            raise MemsimError(f"field 'wave_size' = {w} is larger than any GPU's wave (at most {MAX_WAVE_SIZE}); "
                              "check the number")
        for name in ("alu_lanes", "launch_overhead_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0 \
                    or (name == "alu_lanes" and v == 0):
                kind = "a finite number >= 0" if name == "launch_overhead_s" else "a positive number"
                raise MemsimError(f"field '{name}' must be {kind}, got {v!r}")
            if name == "launch_overhead_s" and v > MAX_LAUNCH_OVERHEAD_S:
                raise MemsimError(f"field 'launch_overhead_s' = {v} s is longer than any kernel launch (at most "
                                  f"{MAX_LAUNCH_OVERHEAD_S} s); give it in seconds (5e-6 is 5 us)")
            object.__setattr__(self, name, float(v))
        if not isinstance(self.texel_reuse, bool):
            raise MemsimError(f"field 'texel_reuse' must be true or false, got {self.texel_reuse!r}")

    @classmethod
    def from_dict(cls, table: dict, where: str = "execution") -> Execution:
        """From the table's keys without its ``source``; errors name ``where`` and the field."""
        if not isinstance(table, dict):
            raise MemsimError(f"{where}: must be a table")
        missing = [f.name for f in fields(cls) if f.name != "texel_reuse" and f.name not in table]
        if missing:
            raise MemsimError(f"{where}: missing key(s) {', '.join(missing)}")
        return _from_table(cls, table, where)  # unknown keys, then the fields' own checks
