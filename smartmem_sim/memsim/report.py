"""What a simulation returns: counts per cache level, DRAM traffic, and the timing/energy estimate.

Counts are summed over all copies of a level (all cores' L1s). Bytes are bytes; see smartmem_sim/memsim/cache.py for
what exactly counts as an access, hit, miss and sector miss, and smartmem_sim/memsim/timing.py for the estimate.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class LevelStats:
    """Counters of one level, summed over its copies.

    accesses = hits + misses (bypassed stores of a read-only level are not accesses); sector_misses is
    the part of misses whose line was present; bytes_read = load bytes served to the level above;
    bytes_filled = bytes fetched from the level below; writes = stores that reached the level;
    writebacks = dirty victims written back; bytes_stored = store bytes written into the level;
    bytes_written = bytes this level sent below as stores; fast_hits = hits counted by the run-length
    fast path (part of hits); copies = how many copies (1 for shared levels, cores for per-core ones).
    """

    name: str
    accesses: int
    hits: int
    misses: int
    sector_misses: int
    bytes_read: int
    bytes_filled: int
    writes: int
    writebacks: int
    bytes_stored: int = 0
    bytes_written: int = 0
    fast_hits: int = 0
    copies: int = 1

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0


@dataclass(frozen=True)
class Report:
    """Result of :meth:`memsim.hierarchy.Hierarchy.simulate`."""

    levels: list[LevelStats]
    dram_bytes_read: int
    dram_bytes_written: int
    dram_requests: int
    cycles: float
    seconds: float
    energy_pj: float
    timing: dict = field(default_factory=dict)
    device: str = ""
    rows: int = 0

    def level(self, name: str) -> LevelStats:
        for st in self.levels:
            if st.name == name:
                return st
        raise KeyError(f"no level named {name!r}; levels: {', '.join(s.name for s in self.levels)}")

    def to_dict(self) -> dict:
        """Plain JSON-able dict (the timing formula included, under timing.formula)."""
        return {
            "device": self.device,
            "rows": self.rows,
            "levels": [asdict(s) | {"hit_rate": s.hit_rate} for s in self.levels],
            "dram_bytes_read": self.dram_bytes_read,
            "dram_bytes_written": self.dram_bytes_written,
            "dram_requests": self.dram_requests,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "energy_pj": self.energy_pj,
            "timing": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.timing.items()},
        }

    def table(self) -> str:
        """A printable table: one row per level, then DRAM, then the estimate."""
        head = f"{'level':<8}{'accesses':>14}{'hits':>14}{'misses':>13}{'sector':>11}{'hit %':>8}" \
               f"{'read B':>15}{'filled B':>15}{'written B':>14}"
        lines = [head, "-" * len(head)]
        for s in self.levels:
            lines.append(
                f"{s.name:<8}{s.accesses:>14,}{s.hits:>14,}{s.misses:>13,}{s.sector_misses:>11,}"
                f"{100 * s.hit_rate:>7.1f}%{s.bytes_read:>15,}{s.bytes_filled:>15,}{s.bytes_written:>14,}"
            )
        lines.append(
            f"{'DRAM':<8}{self.dram_requests:>14,}{'':>14}{'':>13}{'':>11}{'':>8}"
            f"{self.dram_bytes_read:>15,}{'':>15}{self.dram_bytes_written:>14,}"
        )
        lines.append(
            f"estimate: {self.cycles:,.0f} cycles = {self.seconds * 1e6:,.2f} us, {self.energy_pj / 1e6:,.3f} uJ"
        )
        return "\n".join(lines)
