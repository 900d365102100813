"""Timing and energy estimates from cache counts: simple, documented, and meant to be calibrated.

Units: cycles of the core clock (``clock_hz``), bytes, picojoules.

For every cache level k (``copies_k`` copies: one per core for per-core levels), with ``active`` = the
cores that get work (all of them unless the caller says fewer: a kernel of 4 work-groups runs on 4 cores)::

    traffic_k          = bytes_read_k + bytes_stored_k                     # bytes the level serves or absorbs
    transfer_cycles_k  = traffic_k / (bandwidth_bytes_per_cycle_k * min(copies_k, active))  # 0 if bw is 0
    dram_cycles        = (dram_bytes_read + dram_bytes_written) / (dram.bandwidth_bytes_per_s / clock_hz)
    compute            = compute_cycles * cores / active                    # caller: ops / device ALU lanes
    issue_cycles       = issued_accesses / (active * occupancy.accesses_per_core_per_cycle)
    resident_items     = min(work_items, cores * occupancy.max_items_per_core)
    in_flight          = min(memory_parallelism, resident_items * occupancy.reads_in_flight_per_item)
    latency_cycles     = (sum_k accesses_k * latency_cycles_k + dram_requests * dram.latency_cycles) / in_flight
    cycles             = max(compute, issue_cycles, max_k transfer_cycles_k, dram_cycles) + latency_cycles
    seconds            = cycles / clock_hz
    energy_pj          = sum_k traffic_k * energy_pj_per_byte_k
                         + (dram_bytes_read + dram_bytes_written) * dram.energy_pj_per_byte

i.e. the busiest of compute, instruction issue and each level's bandwidth bounds the run (a roofline), and
the latency of every request is exposed divided by the requests in flight (Little's law). How many can be
in flight is the smaller of a device-wide limit (``memory_parallelism``: MSHRs, memory queues) and what
the kernel's resident work-items can have outstanding: a LayerNorm of 197 rows, each a serial loop over
its row, keeps ~197 x k reads in flight however many the device could take. For a kernel whose every
work-item is resident, latency_cycles is therefore the serial chain of one work-item: accesses per item x
mean latency / reads_in_flight_per_item. No overlap between the roofline and latency terms is assumed:
on 3,693 measured H100 kernels the sum and the max fit about equally (train loss 0.439 vs 0.468 under
the base profile, 0.451 vs 0.431 under the calibrated one; experiments/results/calibration/h100/README.md),
and the sum is the simpler bound to reason about (it errs slow for well-pipelined kernels).

Without an :class:`Occupancy` (``occupancy=None``) or without ``work_items``, in-flight requests are
``memory_parallelism`` alone and there is no issue term: the formula of a bare cache study, which knows
no work-items (memsim.Hierarchy.simulate).

:func:`cycles_from_terms` is the same formula on numpy arrays of per-kernel terms, so that calibration
(smartmem_sim/calibration/timing_fit.py) fits exactly what :func:`estimate` computes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from smartmem_sim.memsim.errors import MemsimError, nonneg_number

FORMULA = (
    "cycles = max(compute_cycles * cores / active, issued / (active * accesses_per_core_per_cycle),"
    " max_k traffic_k / (bandwidth_k * min(copies_k, active)), dram_bytes / dram_bytes_per_cycle)"
    " + (sum_k accesses_k * latency_k + dram_requests * dram_latency)"
    " / min(memory_parallelism, min(work_items, cores * max_items_per_core) * reads_in_flight_per_item);"
    " traffic_k = bytes_read_k + bytes_stored_k; seconds = cycles / clock_hz;"
    " energy_pj = sum_k traffic_k * pj_per_byte_k + dram_bytes * dram_pj_per_byte"
)


def _from_table(cls, table: dict, where: str):
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise MemsimError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    try:
        return cls(**table)
    except MemsimError as exc:
        raise MemsimError(f"{where}: {exc}") from None


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
        return _from_table(cls, table, where)


@dataclass(frozen=True)
class Occupancy:
    """How much of the device a kernel can keep busy (the profile's ``[occupancy]`` table).

    Args:
        max_items_per_core: work-items resident on one core at once (NVIDIA: max threads per SM).
        reads_in_flight_per_item: memory requests one resident work-item keeps outstanding on average
            (1 = every read waits for the previous one; unrolled independent reads raise it).
        accesses_per_core_per_cycle: trace rows (work-item loads/stores of one texel or element) one core
            issues per cycle at most (load/store and texture units).
    """

    max_items_per_core: float
    reads_in_flight_per_item: float
    accesses_per_core_per_cycle: float

    def __post_init__(self) -> None:
        for f in fields(self):
            v = nonneg_number("occupancy", f.name, getattr(self, f.name))
            if v <= 0:
                raise MemsimError(f"occupancy: field '{f.name}' must be > 0, got {v}")
            object.__setattr__(self, f.name, v)

    @classmethod
    def from_dict(cls, table: dict, where: str = "occupancy") -> Occupancy:
        missing = [f.name for f in fields(cls) if f.name not in table]
        if missing:
            raise MemsimError(f"{where}: missing key(s) {', '.join(missing)}")
        return _from_table(cls, table, where)


def cycles_from_terms(roofline_cycles, latency_sum_cycles, in_flight):
    """cycles = roofline + latency_sum / in_flight (module docstring); scalars or numpy arrays."""
    return np.asarray(roofline_cycles, dtype=float) + np.asarray(latency_sum_cycles, dtype=float) / in_flight


def in_flight_requests(work_items, cores: int, memory_parallelism: float, occupancy: Occupancy | None):
    """min(memory_parallelism, min(work_items, cores * max_items_per_core) * reads_in_flight_per_item);
    ``memory_parallelism`` alone without an occupancy."""
    if occupancy is None:
        return np.full_like(np.asarray(work_items, dtype=float), float(memory_parallelism))
    resident = np.minimum(np.asarray(work_items, dtype=float), cores * occupancy.max_items_per_core)
    return np.minimum(memory_parallelism, resident * occupancy.reads_in_flight_per_item)


def estimate(levels, stats, copies, dram: DramSpec, dram_bytes_read: int, dram_bytes_written: int,
             dram_requests: int, clock_hz: float, memory_parallelism: float,
             compute_cycles: float | None = None, *, occupancy: Occupancy | None = None,
             work_items: float | None = None, active_cores: float | None = None,
             issued_accesses: float | None = None) -> dict:
    """Apply the module's formula. ``levels``: CacheLevel list; ``stats``: matching LevelStats list;
    ``copies``: copies per level. ``compute_cycles``: cycles if every core computed (ops / device lanes).
    ``work_items`` / ``active_cores`` / ``issued_accesses`` describe the kernel (default: unlimited, all
    cores, no issue term). Returns cycles, seconds, energy_pj and the terms that made them."""
    if clock_hz <= 0:
        raise MemsimError(f"clock_hz must be > 0, got {clock_hz}")
    if memory_parallelism <= 0:
        raise MemsimError(f"memory_parallelism must be > 0, got {memory_parallelism}")
    if compute_cycles is not None and (not np.isfinite(compute_cycles) or compute_cycles < 0):
        raise MemsimError(f"compute_cycles must be finite and >= 0, got {compute_cycles}")
    cores = max(copies, default=1)
    for name, v in (("work_items", work_items), ("active_cores", active_cores), ("issued_accesses", issued_accesses)):
        if v is not None and (isinstance(v, bool) or not v >= 0):
            raise MemsimError(f"{name} must be a number >= 0, got {v!r}")
    active = float(cores if active_cores is None else min(max(active_cores, 1.0), cores))
    transfer = {}
    latency_sum = 0.0
    energy = 0.0
    for level, st, n in zip(levels, stats, copies, strict=True):
        traffic = st.bytes_read + st.bytes_stored
        bw = level.bandwidth_bytes_per_cycle * min(n, active)
        transfer[level.name] = traffic / bw if bw > 0 else 0.0
        latency_sum += st.accesses * level.latency_cycles
        energy += traffic * level.energy_pj_per_byte
    dram_bytes = dram_bytes_read + dram_bytes_written
    dram_per_cycle = dram.bandwidth_bytes_per_s / clock_hz
    transfer["DRAM"] = dram_bytes / dram_per_cycle if dram_per_cycle > 0 else 0.0
    latency_sum += dram_requests * dram.latency_cycles
    energy += dram_bytes * dram.energy_pj_per_byte
    compute = float(compute_cycles or 0.0) * cores / active
    issue = 0.0
    if occupancy is not None and issued_accesses is not None:
        issue = issued_accesses / (active * occupancy.accesses_per_core_per_cycle)
    in_flight = float(in_flight_requests(0.0 if work_items is None else work_items, cores, memory_parallelism,
                                         None if work_items is None else occupancy))
    bound = max([compute, issue, *transfer.values()])
    cycles = float(cycles_from_terms(bound, latency_sum, in_flight))
    return {
        "cycles": cycles,
        "seconds": cycles / clock_hz,
        "energy_pj": energy,
        "compute_cycles": compute,
        "issue_cycles": issue,
        "transfer_cycles": transfer,
        "latency_cycles": latency_sum / in_flight,
        "latency_sum_cycles": latency_sum,
        "in_flight": in_flight,
        "active_cores": active,
        "clock_hz": float(clock_hz),
        "memory_parallelism": float(memory_parallelism),
        "formula": FORMULA,
    }
