"""The 1-D entry point: plain byte addresses through shared cache levels, so anyone can check memsim
against another cache simulator.

With the defaults (LRU, write-back, write-allocate, unsectored lines) the per-level load hit/miss counts
are those of pycachesim (``cachesim``) for the same levels chained with ``load_from``: each level sees
the misses of the level above, a miss loads the line into every level on the path, and levels are
non-inclusive (an eviction below never removes a line above). pycachesim differs on stores (a store hit
there neither counts as a hit nor refreshes LRU order); memsim's store semantics are in smartmem_sim/memsim/cache.py.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from numba import njit

from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.hierarchy import Hierarchy


def simulate_addresses(addrs, levels: Sequence[dict], policy: str = "lru", writes=None, nbytes=1) -> list[dict]:
    """Simulate byte addresses through shared levels; returns one dict per level (hits, misses, ...).

    Args:
        addrs: 1-D integer array of byte addresses (>= 0), in issue order.
        levels: dicts of CacheLevel keys, the first nearest the core; ``name`` defaults to L1, L2, ...
            and ``policy`` to the ``policy`` argument. ``per_core`` is not allowed (one stream, one core).
        policy: default replacement policy ("lru", "fifo", "plru", "random" with a ``seed`` key).
        writes: optional bool array, True where the access is a store (default: all loads).
        nbytes: bytes per access (an int, or an int array like ``addrs``); default 1 as in pycachesim.

    Returns:
        A list with, per level: name, accesses, hits, misses, sector_misses, bytes_read, bytes_filled,
        writes, writebacks, bytes_stored, bytes_written, fast_hits, copies.
    """
    addrs = np.asarray(addrs)
    if addrs.ndim != 1:
        raise MemsimError(f"simulate_addresses: addrs must be 1-D, got shape {addrs.shape}")
    if addrs.size and addrs.dtype.kind not in "iu":
        raise MemsimError(f"simulate_addresses: addrs must be integers, got dtype {addrs.dtype}")
    n = addrs.shape[0]
    if writes is not None:
        writes = np.asarray(writes)
        if writes.shape != (n,) or writes.dtype != np.bool_:
            raise MemsimError(f"simulate_addresses: writes must be a bool array of shape ({n},), "
                              f"got {writes.dtype} {writes.shape}")
    nb = np.asarray(nbytes)
    if nb.dtype.kind not in "iu":
        raise MemsimError(f"simulate_addresses: nbytes must be integer, got dtype {nb.dtype}")
    if nb.ndim and nb.shape != (n,):
        raise MemsimError(f"simulate_addresses: nbytes must be an int or shape ({n},), got {nb.shape}")
    hierarchy = _hierarchy(levels, policy)
    one = None  # the one load size of every row, where the columns say no more than that
    if nb.ndim == 0:
        if not 1 <= int(nb) <= 2**31 - 1:
            raise MemsimError("simulate_addresses: nbytes must be in 1..2**31-1")
        if writes is None or not writes.any():  # (a bool scan: a few % of a simulation)
            one = int(nb)
    elif n:
        # one read-only pass for the range instead of numpy's min and max; where every row is a load of one
        # size the engine reads that one value (the same simulation without two columns to read row by row)
        lo, hi = _range(nb)
        if lo <= 0 or hi > 2**31 - 1:
            raise MemsimError("simulate_addresses: nbytes must be in 1..2**31-1")
        if lo == hi and (writes is None or not writes.any()):
            one = lo
        elif nb.dtype != np.int32:
            nb = nb.astype(np.int32)
    if one is not None or n == 0:
        report = hierarchy.simulate_resolved(addrs, 0, False, one if one is not None else 1)
    else:
        report = hierarchy.simulate_resolved(addrs, 0, np.zeros(n, np.bool_) if writes is None else writes, nb)
    return [{k: getattr(st, k) for k in st.__dataclass_fields__} for st in report.levels]


def _hierarchy(levels, policy: str) -> Hierarchy:
    """The one-stream hierarchy of ``levels``, kept for the next call with the same levels: building one
    (its state arrays) costs more than a small trace's simulation. A kept hierarchy empties its state
    before every simulation and takes a fresh one while another thread uses it."""
    if isinstance(levels, dict) or not isinstance(levels, Sequence) or not levels:
        raise MemsimError("simulate_addresses: levels must be a non-empty list of dicts")
    built = []
    for i, spec in enumerate(levels):
        if not isinstance(spec, dict):
            raise MemsimError(f"simulate_addresses: levels[{i}] must be a dict, got {type(spec).__name__}")
        if spec.get("per_core"):
            raise MemsimError(f"simulate_addresses: levels[{i}]: per_core levels need a Trace and a Hierarchy")
        table = {"name": f"L{i + 1}", "policy": policy, **spec}
        built.append(CacheLevel.from_dict(table, where=f"simulate_addresses: levels[{i}]"))
    key = tuple(built)
    with _KEPT_LOCK:
        h = _KEPT.pop(key, None)
        if h is None:
            h = Hierarchy(built, cores=1, name="simulate_addresses")
        _KEPT[key] = h  # most recent last
        while len(_KEPT) > _KEEP:
            _KEPT.pop(next(iter(_KEPT)))
    return h


_KEEP = 8
_KEPT: dict[tuple, Hierarchy] = {}
_KEPT_LOCK = threading.Lock()


@njit(cache=True, _nrt=False)
def _min_max(values):
    lo = values[0]
    hi = lo
    for i in range(values.shape[0]):
        lo = min(lo, values[i])
        hi = max(hi, values[i])
    return lo, hi


def _range(values: np.ndarray) -> tuple[int, int]:
    """(min, max) of a non-empty integer column as Python ints."""
    lo, hi = _min_max(np.ascontiguousarray(values))
    return int(lo), int(hi)
