"""One cache level: its configuration (:class:`CacheLevel`) and its state (:class:`CacheState`).

A level is built from plain keyword arguments that are exactly the keys of a ``[[levels]]`` table of a
device profile (smartmem_sim/memsim/devices/*.toml). Sizes are bytes.

What one access does at a level (the simulation itself is in smartmem_sim/memsim/_kernels_access.py):

- An access is one request that lies inside one line (the hierarchy splits longer rows into one
  access per line). It touches the sectors its bytes cover.
- Load: a *hit* when the line is present with every touched sector valid; a *sector miss* when the
  line is present but a touched sector is not (only the missing sectors are fetched, the line keeps its
  place); a *miss* otherwise (a victim is chosen, written back if dirty, and the touched sectors are
  fetched). ``misses`` counts both kinds, so ``hits + misses == accesses``; ``sector_misses`` is the
  subset whose line was present. A fetch asks the level below for the span from the first to the last
  missing sector, as one request.
- Store, by ``write``:
  * ``"read-only"`` (texture L1s): the store bypasses the level: it is not an access here, it is
    forwarded unchanged to the level below, and a present copy of the touched sectors is invalidated so
    no later load can hit stale data (counted in ``writes``, not in ``accesses``).
  * ``"write-back"``: a store that finds its sectors valid is a hit and marks them dirty. A store miss
    with ``write_allocate`` fetches the missing sectors like a load, then marks them dirty; without it the
    store is forwarded below and nothing is allocated. A dirty victim is written back as one store
    request covering the span of its dirty sectors (``writebacks`` counts them).
  * ``"write-through"``: a store updates a present line (never dirty) and is always forwarded below;
    a miss allocates (fetches) first when ``write_allocate``.
- Replacement: an invalid way is always filled first; otherwise ``lru`` evicts the least recently
  used way, ``fifo`` the way filled longest ago (hits do not reorder), ``plru`` follows a binary tree of
  ways-1 bits (each touch points the bits on its path away from it; ways a power of two), ``random``
  picks a way with a xorshift64 generator seeded by ``seed`` (per-core copies use seed + core).
  A sector miss counts as a touch.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from smartmem_sim.memsim.errors import MemsimError, nonneg_number

POLICIES = ("lru", "fifo", "plru", "random")
WRITE_MODES = ("read-only", "write-back", "write-through")
# Codes shared with smartmem_sim/memsim/_kernels_state.py.
POLICY_CODES = {"lru": 0, "fifo": 1, "plru": 2, "random": 3}
WRITE_CODES = {"read-only": 0, "write-back": 1, "write-through": 2}
MAX_SECTORS_PER_LINE = 64  # sector valid/dirty masks are one uint64 per way


def is_pow2(v: int) -> bool:
    return v > 0 and (v & (v - 1)) == 0


def _int_field(level: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise MemsimError(f"level '{level}': field '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise MemsimError(f"level '{level}': field '{name}' must be >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class CacheLevel:
    """Configuration of one cache level (keys = the TOML keys of a profile's ``[[levels]]`` table).

    Args:
        name: label in reports ("L1", "L2", "SLC").
        size: capacity in bytes; ``size / (ways * line)`` sets, a power of two.
        ways: associativity (a power of two for ``plru``).
        line: line size in bytes, a power of two.
        sector: sector size in bytes (power of two dividing ``line``, at most 64 per line);
            default = ``line`` (an unsectored cache).
        policy: "lru", "fifo", "plru" (tree pseudo-LRU) or "random".
        seed: seed of the "random" policy (required for it, rejected otherwise).
        per_core: True for a level every core has its own copy of (texture L1); such levels come
            before all shared ones.
        write: "read-only", "write-back" or "write-through" (see the module docstring).
        write_allocate: whether a store miss fetches its sectors (ignored by "read-only").
        latency_cycles: cycles to serve a request that reaches this level (core clock).
        bandwidth_bytes_per_cycle: bytes per cycle one copy of the level can serve.
        energy_pj_per_byte: energy per byte read from or written into this level, picojoules.
    """

    name: str
    size: int
    ways: int
    line: int
    sector: int | None = None
    policy: str = "lru"
    seed: int | None = None
    per_core: bool = False
    write: str = "write-back"
    write_allocate: bool = True
    latency_cycles: float = 0.0
    bandwidth_bytes_per_cycle: float = 0.0
    energy_pj_per_byte: float = 0.0
    sets: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise MemsimError(f"cache level: field 'name' must be a non-empty string, got {self.name!r}")
        n = self.name
        size = _int_field(n, "size", self.size)
        ways = _int_field(n, "ways", self.ways)
        line = _int_field(n, "line", self.line)
        if not is_pow2(line):
            raise MemsimError(f"level '{n}': field 'line' must be a power of two, got {line}")
        sector = line if self.sector is None else _int_field(n, "sector", self.sector)
        if not is_pow2(sector) or sector > line:
            raise MemsimError(f"level '{n}': field 'sector' must be a power of two <= line ({line}), got {sector}")
        if line // sector > MAX_SECTORS_PER_LINE:
            raise MemsimError(
                f"level '{n}': field 'sector' gives {line // sector} sectors per line; at most "
                f"{MAX_SECTORS_PER_LINE} are supported (use a larger sector)"
            )
        if size % (ways * line):
            raise MemsimError(
                f"level '{n}': field 'size' ({size} B) must be a multiple of ways * line = {ways * line} B"
            )
        sets = size // (ways * line)
        if not is_pow2(sets):
            raise MemsimError(
                f"level '{n}': field 'size' gives {sets} sets (size / (ways * line)); the set index takes "
                f"address bits, so sets must be a power of two: change size or ways"
            )
        if self.policy not in POLICIES:
            raise MemsimError(f"level '{n}': field 'policy' must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.policy == "plru" and not is_pow2(ways):
            raise MemsimError(f"level '{n}': field 'ways' must be a power of two for policy 'plru', got {ways}")
        if self.policy == "random":
            if self.seed is None:
                raise MemsimError(f"level '{n}': policy 'random' needs an explicit integer field 'seed'")
            _int_field(n, "seed", self.seed, minimum=0)
        elif self.seed is not None:
            raise MemsimError(f"level '{n}': field 'seed' only applies to policy 'random' (policy is {self.policy!r})")
        if self.write not in WRITE_MODES:
            raise MemsimError(f"level '{n}': field 'write' must be one of {', '.join(WRITE_MODES)}, got {self.write!r}")
        for flag in ("per_core", "write_allocate"):
            if not isinstance(getattr(self, flag), bool | np.bool_):
                raise MemsimError(f"level '{n}': field '{flag}' must be true or false, got {getattr(self, flag)!r}")
        for num in ("latency_cycles", "bandwidth_bytes_per_cycle", "energy_pj_per_byte"):
            object.__setattr__(self, num, nonneg_number(f"level '{n}'", num, getattr(self, num)))
        for k, v in (("size", size), ("ways", ways), ("line", line), ("sector", sector)):
            object.__setattr__(self, k, v)
        object.__setattr__(self, "per_core", bool(self.per_core))
        object.__setattr__(self, "write_allocate", bool(self.write_allocate))
        object.__setattr__(self, "sets", sets)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The constructor's keyword arguments (= the allowed TOML keys)."""
        return tuple(f.name for f in fields(cls) if f.init)

    @classmethod
    def from_dict(cls, table: dict, where: str = "cache level") -> CacheLevel:
        """Build from a dict/TOML table; unknown or missing keys are an error naming ``where``."""
        allowed = set(cls.keys())
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise MemsimError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(cls.keys())}")
        missing = [k for k in ("name", "size", "ways", "line") if k not in table]
        if missing:
            raise MemsimError(f"{where}: missing key(s) {', '.join(missing)}")
        try:
            return cls(**table)
        except MemsimError as exc:
            raise MemsimError(f"{where}: {exc}") from None

    @property
    def sectors_per_line(self) -> int:
        return self.line // self.sector

    def config_array(self) -> np.ndarray:
        """The int64 configuration vector the numba kernels read (layout in _kernels_state.C_*)."""
        return np.array(
            [
                self.line.bit_length() - 1,
                self.sector.bit_length() - 1,
                self.sets - 1,
                self.ways,
                POLICY_CODES[self.policy],
                WRITE_CODES[self.write],
                int(self.write_allocate),
                self.sectors_per_line,
            ],
            dtype=np.int64,
        )


class CacheState:
    """The numpy state of ``copies`` independent copies of one level (one per core for per-core levels).

    Arrays: ``tags`` (line number, -1 = invalid), ``stamp`` (LRU: time of last touch; FIFO: time of fill),
    ``valid`` / ``dirty`` (sector bitmasks) all shaped (copies, sets, ways); ``plru`` (copies, sets): tree
    bits, or for ``lru`` with at most 16 ways the set's recency order (way ids, 4 bits each, most recent in
    the low bits), which then replaces ``stamp``. Every copy has ``lanes`` independent request streams (set
    partitions of a shared level that are simulated in parallel; 1 otherwise), each with its own row (copy *
    lanes + lane) of ``meta`` (copies * lanes, 2) int64: clock and the last line touched; ``umeta`` (copies *
    lanes, 3) uint64: random state and the last line's valid and dirty masks (the run-length fast path);
    ``stats`` (copies * lanes, NSTATS). A partition owns whole sets, so per-lane clocks order every set's
    stamps exactly; the random policy draws victims from one sequence per copy and is never split into lanes.
    """

    def __init__(self, level: CacheLevel, copies: int = 1, lanes: int = 1):
        from smartmem_sim.memsim import _kernels_state as K

        if copies < 1:
            raise MemsimError(f"level '{level.name}': needs at least one copy, got {copies}")
        if lanes < 1 or (lanes > 1 and level.policy == "random"):
            raise MemsimError(f"level '{level.name}': lanes must be >= 1, and 1 for policy 'random'; got {lanes}")
        self.level = level
        self.copies = copies
        self.lanes = lanes
        shape = (copies, level.sets, level.ways)
        self.tags = np.empty(shape, dtype=np.int64)
        self.stamp = np.zeros(shape, dtype=np.int64)
        self.valid = np.zeros(shape, dtype=np.uint64)
        self.dirty = np.zeros(shape, dtype=np.uint64)
        self.plru = np.empty((copies, level.sets), dtype=np.uint64)
        rows = copies * lanes
        self.meta = np.empty((rows, K.NMETA), dtype=np.int64)
        self.umeta = np.empty((rows, K.NUMETA), dtype=np.uint64)
        self.stats = np.empty((rows, K.NSTATS), dtype=np.int64)
        self.cfg = level.config_array()
        self.reset()

    def reset(self) -> None:
        """Empty every copy again, in place (a hierarchy reuses its state between simulations): every way
        invalid, no line dirty, recency orders / tree bits, clocks, last lines, counters and random state as
        built. ``dirty`` is cleared because the line-stream paths (smartmem_sim/memsim/_kernels_lines*.py) fill ways
        without writing it: they run only while no line is dirty, so a way they fill must start clean.
        ``valid`` is left as it is: a fill of the general path sets it, and the line-stream paths take only
        unsectored levels, whose ``valid`` is never read (a present line is whole). ``stamp`` is only read by
        LRU without a recency order and by FIFO (an invalid way's 0 is below every fill time); it is reset
        for those."""
        from smartmem_sim.memsim import _kernels_state as K

        level = self.level
        self.tags.fill(-1)
        self.dirty.fill(0)
        if self.reads_stamps:
            self.stamp.fill(0)
        self.plru.fill(np.uint64(K.lru_order_start(level.ways)) if self.ordered else np.uint64(0))
        self.meta.fill(0)
        self.meta[:, K.META_LAST_LINE] = -1
        self.umeta.fill(np.uint64(0))
        seed = 0 if level.seed is None else level.seed
        for r in range(self.meta.shape[0]):
            # xorshift64 must not start at 0; mix the seed so neighbouring seeds differ in many bits
            s = ((seed + r + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
            self.umeta[r, K.UMETA_RNG] = np.uint64(s or 1)
        self.stats.fill(0)

    @property
    def ordered(self) -> bool:
        """LRU kept as a per-set recency order in ``plru`` (no stamps)."""
        from smartmem_sim.memsim import _kernels_state as K

        return self.level.policy == "lru" and self.level.ways <= K.ORDER_MAX_WAYS

    @property
    def reads_stamps(self) -> bool:
        return self.level.policy == "fifo" or (self.level.policy == "lru" and not self.ordered)

    def totals(self) -> dict[str, int]:
        """Counters summed over all copies, by name (see _kernels_state.STAT_NAMES)."""
        from smartmem_sim.memsim import _kernels_state as K

        summed = self.stats.sum(axis=0)
        return {name: int(summed[i]) for i, name in enumerate(K.STAT_NAMES)}
