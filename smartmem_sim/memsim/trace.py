"""The trace: memsim's only interface to whoever generates accesses (kernels, studies, users).

A trace is a set of equally long numpy columns, one row per access, in issue order:

- ``core``    int32  the compute core (SM / uSPTP / shader core) that issues the access, 0..cores-1
- ``surface`` int32  index into the SurfaceTable the trace is simulated with
- ``x``       int64  image: texel column; buffer: byte offset into the buffer
- ``y``       int64  image: texel row;    buffer: must be 0
- ``write``   bool   True for a store (write_imagef / buffer store), False for a load
- ``nbytes``  int32  bytes touched, starting at (x, y); for an image, a whole texel is
                      ``surface.texel_bytes`` (an RGBA fp16 texel is 8 B, fp32 is 16 B)

Row order matters: rows of one core are issued in that order, and the shared levels see the
merged miss streams of all cores in row order (see smartmem_sim/memsim/hierarchy.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartmem_sim.memsim.errors import MemsimError

COLUMNS: dict[str, np.dtype] = {
    "core": np.dtype(np.int32),
    "surface": np.dtype(np.int32),
    "x": np.dtype(np.int64),
    "y": np.dtype(np.int64),
    "write": np.dtype(np.bool_),
    "nbytes": np.dtype(np.int32),
}


@dataclass(frozen=True)
class Trace:
    """Columns of one access trace; construct with :meth:`from_columns` to get them checked."""

    core: np.ndarray
    surface: np.ndarray
    x: np.ndarray
    y: np.ndarray
    write: np.ndarray
    nbytes: np.ndarray

    def __len__(self) -> int:
        return int(self.core.shape[0])

    @classmethod
    def from_columns(cls, *, core, surface, x, y, write, nbytes, name: str = "trace") -> Trace:
        """Check and convert columns. Integer columns accept any integer dtype whose values fit;
        a float, object or mis-shaped column is an error naming the column."""
        given = {c: np.asarray(v) for c, v in
                 {"core": core, "surface": surface, "x": x, "y": y, "write": write, "nbytes": nbytes}.items()}
        lengths = [a.shape[0] for a in given.values() if a.ndim == 1]
        n = lengths[0] if lengths else None
        out = {}
        for col, want in COLUMNS.items():
            arr = given[col]
            if arr.ndim == 0 and n is not None:
                arr = np.full(n, arr)  # a scalar broadcasts over the rows
            if arr.ndim != 1:
                raise MemsimError(f"{name}: column '{col}' must be 1-D, got shape {arr.shape}")
            if arr.shape[0] != n:
                raise MemsimError(f"{name}: column '{col}' has {arr.shape[0]} rows, expected {n}")
            if want == np.bool_:
                zero_one = arr.dtype.kind in "iu" and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= 1))
                if arr.dtype != np.bool_ and not zero_one:
                    raise MemsimError(f"{name}: column 'write' must be bool (or 0/1 integers), got {arr.dtype}")
            elif arr.dtype.kind not in "iu":
                raise MemsimError(f"{name}: column '{col}' must be an integer array, got dtype {arr.dtype}")
            elif arr.size:
                info = np.iinfo(want)
                lo, hi = int(arr.min()), int(arr.max())
                if lo < 0 or hi > info.max:
                    raise MemsimError(f"{name}: column '{col}' has values in [{lo}, {hi}]; allowed 0..{info.max}")
            out[col] = np.ascontiguousarray(arr, dtype=want)
        if n and int(out["nbytes"].min()) <= 0:
            raise MemsimError(f"{name}: column 'nbytes' must be positive")
        return cls(**out)

    @classmethod
    def concat(cls, traces: list[Trace]) -> Trace:
        """Rows of the given traces one after another (in list order)."""
        if not traces:
            return cls.from_columns(core=[], surface=[], x=[], y=[], write=np.zeros(0, bool), nbytes=[])
        return cls(**{c: np.concatenate([getattr(t, c) for t in traces]) for c in COLUMNS})
