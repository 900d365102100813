"""Keep numba's on-disk cache true to memsim's sources.

numba keys a cached function by the modification time and size of the file that defines it, not of the
files of the compiled functions it calls, which are compiled into it. memsim's passes call helpers in other
files (_kernels_state, _kernels_level, ...), so after an edit of a helper the passes kept loading machine code
with the old helper in it, silently (found while changing _kernels_level.py: tests ran the old code until
the cache was deleted by hand). On import, memsim hashes its sources; when the hash differs from the one
recorded beside numba's cache, every memsim file with compiled functions gets a new modification time, so
numba compiles all of them afresh on first use, and the new hash is recorded.

An installed, read-only copy cannot be edited, so where the record cannot be written nothing is checked.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORD = HERE / "__pycache__" / "numba_sources.sha256"


def sources_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(HERE.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def compiled_files() -> list[Path]:
    """memsim's files that define numba-compiled functions."""
    return [p for p in sorted(HERE.glob("*.py")) if "@njit" in p.read_text()]


def refresh() -> bool:
    """Make numba's cache of memsim stale if the sources changed since it was recorded; True if it did."""
    try:
        now = sources_hash()
        if RECORD.is_file() and RECORD.read_text().strip() == now:
            return False
        RECORD.parent.mkdir(exist_ok=True)
        # without a record (a fresh checkout, or a cache older than this check) the cache may be stale too
        for p in compiled_files():
            os.utime(p)
        RECORD.write_text(now + "\n")
        return True
    except OSError:
        return False
