"""Timing and energy estimates from cache counts: simple, documented, and meant to be calibrated.

Units: cycles of the core clock (``clock_hz``), bytes, picojoules.

For every cache level k (with ``copies_k`` copies: one per core for per-core levels)::

    traffic_k          = bytes_read_k + bytes_stored_k            # bytes the level serves or absorbs
    transfer_cycles_k  = traffic_k / (bandwidth_bytes_per_cycle_k * copies_k)   # 0 if bandwidth is 0
    dram_cycles        = (dram_bytes_read + dram_bytes_written) / (dram.bandwidth_bytes_per_s / clock_hz)
    latency_cycles     = (sum_k accesses_k * latency_cycles_k + dram_requests * dram.latency_cycles)
                         / memory_parallelism
    cycles             = max(compute_cycles, max_k transfer_cycles_k, dram_cycles) + latency_cycles
    seconds            = cycles / clock_hz
    energy_pj          = sum_k traffic_k * energy_pj_per_byte_k
                         + (dram_bytes_read + dram_bytes_written) * dram.energy_pj_per_byte

i.e. the busiest of compute and each level's bandwidth bounds the run (a roofline), and the latency of
every request is exposed divided by how many requests the whole device keeps in flight
(``memory_parallelism``, a profile number to calibrate). No overlap between the bandwidth and latency
terms is assumed, so this errs slow for well-pipelined kernels; calibration fits memory_parallelism.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from memsim.errors import MemsimError, nonneg_number

FORMULA = (
    "cycles = max(compute_cycles, max_k traffic_k / (bandwidth_k * copies_k), dram_bytes / dram_bytes_per_cycle)"
    " + (sum_k accesses_k * latency_k + dram_requests * dram_latency) / memory_parallelism;"
    " traffic_k = bytes_read_k + bytes_stored_k; seconds = cycles / clock_hz;"
    " energy_pj = sum_k traffic_k * pj_per_byte_k + dram_bytes * dram_pj_per_byte"
)


@dataclass(frozen=True)
class DramSpec:
    """Main memory (the profile's ``[dram]`` table).

    Args:
        bandwidth_bytes_per_s: sustained bandwidth, bytes per second (0 = unlimited).
        latency_cycles: cycles of the core clock for a request that reaches DRAM.
        energy_pj_per_byte: picojoules per byte moved to or from DRAM.
    """

    bandwidth_bytes_per_s: float = 0.0
    latency_cycles: float = 0.0
    energy_pj_per_byte: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, nonneg_number("dram", f.name, getattr(self, f.name)))

    @classmethod
    def from_dict(cls, table: dict, where: str = "dram") -> DramSpec:
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise MemsimError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        try:
            return cls(**table)
        except MemsimError as exc:
            raise MemsimError(f"{where}: {exc}") from None


def estimate(levels, stats, copies, dram: DramSpec, dram_bytes_read: int, dram_bytes_written: int,
             dram_requests: int, clock_hz: float, memory_parallelism: float,
             compute_cycles: float | None = None) -> dict:
    """Apply the module's formula. ``levels``: CacheLevel list; ``stats``: matching LevelStats list;
    ``copies``: copies per level. Returns cycles, seconds, energy_pj and the terms that made them."""
    if clock_hz <= 0:
        raise MemsimError(f"clock_hz must be > 0, got {clock_hz}")
    if memory_parallelism <= 0:
        raise MemsimError(f"memory_parallelism must be > 0, got {memory_parallelism}")
    if compute_cycles is not None and (not np.isfinite(compute_cycles) or compute_cycles < 0):
        raise MemsimError(f"compute_cycles must be finite and >= 0, got {compute_cycles}")
    transfer = {}
    latency_sum = 0.0
    energy = 0.0
    for level, st, n in zip(levels, stats, copies, strict=True):
        traffic = st.bytes_read + st.bytes_stored
        bw = level.bandwidth_bytes_per_cycle * n
        transfer[level.name] = traffic / bw if bw > 0 else 0.0
        latency_sum += st.accesses * level.latency_cycles
        energy += traffic * level.energy_pj_per_byte
    dram_bytes = dram_bytes_read + dram_bytes_written
    dram_per_cycle = dram.bandwidth_bytes_per_s / clock_hz
    transfer["DRAM"] = dram_bytes / dram_per_cycle if dram_per_cycle > 0 else 0.0
    latency_sum += dram_requests * dram.latency_cycles
    energy += dram_bytes * dram.energy_pj_per_byte
    latency_cycles = latency_sum / memory_parallelism
    bound = max([compute_cycles or 0.0, *transfer.values()])
    cycles = bound + latency_cycles
    return {
        "cycles": cycles,
        "seconds": cycles / clock_hz,
        "energy_pj": energy,
        "compute_cycles": float(compute_cycles or 0.0),
        "transfer_cycles": transfer,
        "latency_cycles": latency_cycles,
        "clock_hz": float(clock_hz),
        "memory_parallelism": float(memory_parallelism),
        "formula": FORMULA,
    }
