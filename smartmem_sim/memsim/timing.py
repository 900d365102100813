"""Timing and energy estimates from cache counts: a latency-hiding roofline, documented and meant to be calibrated.

Units: cycles of the core clock (``clock_hz``), bytes, picojoules.

The basis is Little's law applied twice, as in Volkov's latency-hiding analysis ("Understanding Latency
Hiding on GPUs", UC Berkeley 2016) and Hong & Kim's MWP/CWP model (ISCA 2009): a kernel runs at the rate
of its busiest unit (a roofline over compute, issue and every memory level) unless too few requests are
in flight to hide their latency, and then the latency bounds it. For every cache level k (``copies_k``
copies: one per core for per-core levels), with ``active`` = the cores that get work (all of them unless the
caller says fewer: a kernel of 4 work-groups runs on 4 cores)::

    traffic_k          = bytes_read_k + bytes_stored_k                     # bytes the level serves or absorbs
    transfer_cycles_k  = traffic_k / (bandwidth_bytes_per_cycle_k * min(copies_k, active))  # 0 if bw is 0
    dram_cycles        = (dram_bytes_read + dram_bytes_written) / (dram.bandwidth_bytes_per_s / clock_hz)
    compute            = compute_cycles * cores / active                    # caller: ops / device ALU lanes
    issue_cycles       = issued_accesses / (active * occupancy.accesses_per_core_per_cycle)
    throughput_cycles  = max(compute, issue_cycles, max_k transfer_cycles_k, dram_cycles)   # the roofline

    latency_sum        = sum_k accesses_k * latency_cycles_k + dram_requests * dram.latency_cycles
    miss_latency_sum   = the same sum without the first level      # what missed the first level (L1)
    fill_cycles        = latency_sum / issued_accesses              # one mean access latency: the pipe fills
    rounds             = ceil(work_items / (active * occupancy.max_items_per_core))   # waves of residency
    chain_cycles       = rounds * (latency_sum / work_items) / occupancy.reads_in_flight_per_item
    miss_cycles        = miss_latency_sum / memory_parallelism
    cycles             = max(throughput_cycles + fill_cycles, chain_cycles, miss_cycles)
    seconds            = cycles / clock_hz
    energy_pj          = sum_k traffic_k * energy_pj_per_byte_k
                         + (dram_bytes_read + dram_bytes_written) * dram.energy_pj_per_byte

``chain_cycles`` is the latency bound of one work-item: its accesses, each waiting for its level's latency
(L1's for a hit, L1's plus L2's for an L1 miss, and so on), ``reads_in_flight_per_item`` of them
overlapped; resident work-items run side by side, so a core's round takes one item's chain, and a kernel
with more work-items than the active cores hold runs whole rounds one after another (wave quantization:
the last, partly filled round counts as a full one). ``miss_cycles`` is the device-wide bound: only a
request that missed the first level occupies a miss-status register or a memory queue, and
``memory_parallelism`` of them can be outstanding (Little's law: requests x latency / concurrency).
L1 hits pay no device-wide latency: they are pipelined, limited by issue and bandwidth. The three bounds
overlap (max, not sum): whichever is longest is the kernel's time; a throughput-bound kernel still waits
one access latency for its pipeline to fill (Hong & Kim's Mem_L term in the compute-bound case).

Without an :class:`Occupancy` (``occupancy=None``) or without ``work_items`` there is no chain and no
issue term: the formula of a bare cache study, which knows no work-items (memsim.Hierarchy.simulate).

:func:`cycles_from_terms` is the same formula on numpy arrays of per-kernel terms, so that calibration
(smartmem_sim/calibration/timing_fit.py) fits exactly what :func:`estimate` computes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from smartmem_sim.memsim.errors import MemsimError, nonneg_number

FORMULA = (
    "cycles = max(throughput + latency_sum / issued, rounds * (latency_sum / work_items) / reads_in_flight_per_item,"
    " miss_latency_sum / memory_parallelism); throughput = max(compute_cycles * cores / active,"
    " issued / (active * accesses_per_core_per_cycle), max_k traffic_k / (bandwidth_k * min(copies_k, active)),"
    " dram_bytes / dram_bytes_per_cycle); rounds = ceil(work_items / (active * max_items_per_core));"
    " latency_sum = sum_k accesses_k * latency_k + dram_requests * dram_latency (miss_latency_sum: without the"
    " first level); traffic_k = bytes_read_k + bytes_stored_k; seconds = cycles / clock_hz;"
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


def cycles_from_terms(throughput_cycles, latency_sum_cycles, miss_latency_sum_cycles, requests, work_items,
                      active_cores, memory_parallelism: float, occupancy: Occupancy | None):
    """The module's ``cycles`` from per-kernel terms; scalars or numpy arrays (one entry per kernel).
    ``requests``: issued accesses (0: no fill term); ``work_items`` 0 or ``occupancy`` None: no chain term.
    Returns (cycles, fill_cycles, chain_cycles, miss_cycles, rounds)."""
    thr = np.asarray(throughput_cycles, dtype=float)
    lat = np.asarray(latency_sum_cycles, dtype=float)
    req = np.asarray(requests, dtype=float)
    items = np.asarray(work_items, dtype=float)
    active = np.maximum(np.asarray(active_cores, dtype=float), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(req > 0, lat / np.where(req > 0, req, 1.0), 0.0)
        if occupancy is None:
            rounds = np.ones_like(items)
            chain = np.zeros_like(items)
        else:
            rounds = np.maximum(np.ceil(items / (active * occupancy.max_items_per_core)), 1.0)
            chain = np.where(items > 0, rounds * lat / np.where(items > 0, items, 1.0)
                             / occupancy.reads_in_flight_per_item, 0.0)
    miss = np.asarray(miss_latency_sum_cycles, dtype=float) / memory_parallelism
    cycles = np.maximum(np.maximum(thr + fill, chain), miss)
    return cycles, fill, chain, miss, rounds


def estimate(levels, stats, copies, dram: DramSpec, dram_bytes_read: int, dram_bytes_written: int,
             dram_requests: int, clock_hz: float, memory_parallelism: float,
             compute_cycles: float | None = None, *, occupancy: Occupancy | None = None,
             work_items: float | None = None, active_cores: float | None = None,
             issued_accesses: float | None = None) -> dict:
    """Apply the module's formula. ``levels``: CacheLevel list; ``stats``: matching LevelStats list;
    ``copies``: copies per level. ``compute_cycles``: cycles if every core computed (ops / device lanes).
    ``work_items`` / ``active_cores`` / ``issued_accesses`` describe the kernel (default: no chain term, all
    cores, no issue term, requests = the first level's accesses). Returns cycles, seconds, energy_pj and the
    terms that made them."""
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
    miss_latency_sum = 0.0
    energy = 0.0
    for i, (level, st, n) in enumerate(zip(levels, stats, copies, strict=True)):
        traffic = st.bytes_read + st.bytes_stored
        bw = level.bandwidth_bytes_per_cycle * min(n, active)
        transfer[level.name] = traffic / bw if bw > 0 else 0.0
        latency_sum += st.accesses * level.latency_cycles
        if i > 0:
            miss_latency_sum += st.accesses * level.latency_cycles
        energy += traffic * level.energy_pj_per_byte
    dram_bytes = dram_bytes_read + dram_bytes_written
    dram_per_cycle = dram.bandwidth_bytes_per_s / clock_hz
    transfer["DRAM"] = dram_bytes / dram_per_cycle if dram_per_cycle > 0 else 0.0
    latency_sum += dram_requests * dram.latency_cycles
    miss_latency_sum += dram_requests * dram.latency_cycles
    energy += dram_bytes * dram.energy_pj_per_byte
    compute = float(compute_cycles or 0.0) * cores / active
    issue = 0.0
    if occupancy is not None and issued_accesses is not None:
        issue = issued_accesses / (active * occupancy.accesses_per_core_per_cycle)
    requests = float(issued_accesses if issued_accesses is not None else (stats[0].accesses if stats else 0))
    throughput = max([compute, issue, *transfer.values()])
    chained = occupancy if work_items is not None else None
    cyc, fill, chain, miss, rounds = (float(x) for x in cycles_from_terms(
        throughput, latency_sum, miss_latency_sum, requests, float(work_items or 0.0), active,
        memory_parallelism, chained))
    bounds = {"throughput + fill": throughput + fill, "chain": chain, "miss": miss}
    return {
        "cycles": cyc,
        "seconds": cyc / clock_hz,
        "energy_pj": energy,
        "compute_cycles": compute,
        "issue_cycles": issue,
        "transfer_cycles": transfer,
        "throughput_cycles": throughput,
        "fill_cycles": fill,
        "chain_cycles": chain,
        "miss_cycles": miss,
        "rounds": rounds,
        "bound": max(bounds, key=bounds.get),
        "latency_sum_cycles": latency_sum,
        "miss_latency_sum_cycles": miss_latency_sum,
        "requests": requests,
        "active_cores": active,
        "clock_hz": float(clock_hz),
        "memory_parallelism": float(memory_parallelism),
        "formula": FORMULA,
    }
