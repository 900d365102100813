"""Shared-cache misses of a sampled kernel, bounded by what the whole kernel can miss.

A window of a sampled kernel starts with cold caches (kernels/trace/sample.py), so every line it reads
misses the shared levels once. Scaled up by (work-items of the kernel / work-items counted), those cold
misses are charged once per window's worth of work-items, though the real kernel fetches each line of its
operands from memory once and every later work-group, on any core, finds it in the shared cache. For a
MatMul whose weights every work-group reads, that made the H100's predicted DRAM traffic 100x the size of
the operands (197x768x768: 485 MB for 3 MB of data) and the kernel 10-20x slower than measured.

The bound: where all the surfaces of a kernel fit in a shared level (``footprint <= size``), an LRU cache
misses each of their sectors at most once (compulsory misses only), so that level's misses are at most the
footprint's sectors, the bytes it fills at most the footprint, and every level below it (the next shared
level, DRAM) sees at most those misses. Set conflicts are not counted: a footprint close to the level's
size may miss more in a set-associative cache than this allows. A whole (unsampled) kernel's counts are
exact and are never capped. Per-core levels (L1) are left as sampled: a core's L1 holds what its own
work-groups read, which a window of neighbouring work-groups approximates, while the shared levels hold what
every core has read before the window.
"""
from __future__ import annotations

from math import ceil

LEVEL_KEYS = ("accesses", "hits", "misses", "sector_misses", "bytes_read", "bytes_filled", "writes",
              "writebacks", "bytes_stored", "bytes_written", "fast_hits")


def footprint_bytes(surfaces) -> int:
    """Bytes of data of a kernel's memsim surfaces (every operand and its output, padding left out)."""
    return int(sum(s.data_bytes for s in surfaces))


def sectors(nbytes: int, unit: int) -> int:
    return int(ceil(nbytes / unit)) if nbytes > 0 else 0


def cap_shared_levels(counts: dict, levels, footprint: int) -> dict:
    """``counts`` (SimulatedCost's scaled counts: per-level dicts of ``LEVEL_KEYS``, dram_read,
    dram_written, dram_requests) with every shared level that holds ``footprint`` bytes, and the levels
    and DRAM below it, bounded as the module docstring says. Returns a new dict; no count grows except hits (a miss taken
    away is a hit)."""
    out = {k: ([dict(x) for x in v] if isinstance(v, list) else v) for k, v in counts.items()}
    above_misses = None  # misses (+ writebacks) of the shared level above, once one was capped
    fits_last = False
    for lv, c in zip(levels, out["levels"], strict=True):
        if lv.per_core:
            continue
        unit = lv.sector or lv.line
        if above_misses is not None and c["accesses"] > above_misses:
            _shrink_accesses(c, above_misses)
        fits_last = footprint <= lv.size
        if fits_last:
            cap = sectors(footprint, unit)
            if c["misses"] > cap:
                ratio = cap / c["misses"]
                c["sector_misses"] *= ratio
                c["misses"] = float(cap)
                c["hits"] = max(0.0, c["accesses"] - c["misses"])
            c["bytes_filled"] = min(c["bytes_filled"], float(footprint))
        above_misses = c["misses"] + c["writebacks"] if (fits_last or above_misses is not None) else None
    if fits_last:
        last = [lv for lv in levels if not lv.per_core][-1]
        out["dram_read"] = min(out["dram_read"], float(footprint))
        out["dram_requests"] = min(out["dram_requests"], float(sectors(footprint, last.sector or last.line)))
    return out


def _shrink_accesses(c: dict, accesses: float) -> None:
    """Scale a level's access-driven counters down to ``accesses`` (its hits and misses keep their ratio)."""
    ratio = accesses / c["accesses"]
    for k in ("accesses", "hits", "misses", "sector_misses", "bytes_read", "bytes_filled", "fast_hits"):
        c[k] *= ratio


def what_the_bound_took(before: dict, after: dict, levels) -> list[dict]:
    """The counts :func:`cap_shared_levels` lowered, for a report: per shared level whose misses fell, and for
    DRAM if its reads fell, ``{"level", "misses_before", "misses_after"}`` (DRAM: bytes read). Empty when the
    bound took nothing (the sample's misses were within the footprint already)."""
    out = []
    for lv, b, a in zip(levels, before["levels"], after["levels"], strict=True):
        if not lv.per_core and a["misses"] < b["misses"]:
            out.append({"level": lv.name, "misses_before": float(b["misses"]), "misses_after": float(a["misses"])})
    if after["dram_read"] < before["dram_read"]:
        out.append({"level": "DRAM", "misses_before": float(before["dram_read"]),
                    "misses_after": float(after["dram_read"])})
    return out
