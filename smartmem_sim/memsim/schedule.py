"""The GPU issue order, defined once for every trace the project makes (kernels' traces, their sampled
windows, and the walks of ``smartmem cache-study``).

Work-group ``g`` (numbered row-major over the grid of groups) runs on core ``g % cores``; a core runs its
groups one after another, each as waves of ``wave_size`` consecutive local ids (x fastest). A group of
``group_items`` work-items takes ``ceil(group_items / wave_size)`` issue steps; at step ``t`` every core
issues its ``t``-th wave, core 0 first. A wave runs in lock-step: its rows are ordered by program point (the
same instruction execution in every work-item), then by local id, so the accesses of one instruction across
a wave are adjacent, as a GPU's coalescer sees them. Several waves in flight per core are not modelled.
"""
from __future__ import annotations

import numpy as np

from smartmem_sim.memsim.errors import MemsimError


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise MemsimError(f"issue order: {name} must be a positive integer, got {value!r}")
    return int(value)


def work_groups(x: np.ndarray, y: np.ndarray, width: int, wx: int, wy: int) -> tuple[np.ndarray, np.ndarray]:
    """(group, local id) of work-items at (x, y) of a grid ``width`` wide, in work-groups of ``wx`` x ``wy``:
    groups row-major over the grid of groups, local ids row-major inside a group. Where ``width`` is not a
    multiple of ``wx`` (a launch rounded up to whole groups), the last group of a row is partial."""
    return (y // wy) * -(-width // wx) + x // wx, (y % wy) * wx + x % wx


def issue_steps(group: np.ndarray, local: np.ndarray, cores: int, group_items: int,
                wave_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(step, core) of work-items given by their work-group ``group`` and local id ``local`` (int arrays)."""
    cores, group_items, wave_size = (_positive(n, v) for n, v in
                                     (("cores", cores), ("group_items", group_items), ("wave_size", wave_size)))
    waves_per_group = -(-group_items // wave_size)
    return (group // cores) * waves_per_group + local // wave_size, group % cores


def issue_order(group: np.ndarray, local: np.ndarray, cores: int, group_items: int, wave_size: int,
                point: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(order, core): ``order`` permutes rows (one per access, or one per work-item when ``point`` is None)
    into issue order, by (step, core, point, local); ``core`` is each row's core."""
    step, core = issue_steps(group, local, cores, group_items, wave_size)
    n_point = int(point.max()) + 1 if point is not None and len(point) else 1
    pt = point if point is not None else 0
    # one int64 key: a single argsort instead of a 4-key lexsort (keys are distinct: step, core and local
    # fix the work-item, and a point is unique within it)
    if (int(step.max(initial=0)) + 1) * cores * n_point * group_items < 2**62:
        order = np.argsort(((step * cores + core) * n_point + pt) * group_items + local, kind="stable")
    else:
        order = np.lexsort((local, pt if point is not None else np.zeros_like(local), core, step))
    return order, core
