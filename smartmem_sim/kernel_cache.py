"""Simulated kernels remembered on disk, by content hash, across runs and processes.

A kernel's simulated counts (hits, misses and bytes per cache level and DRAM, per sampled window) depend on
the kernel (its step signature and storage type), the parts of the device profile that decide where
accesses go and what they hit (cores, image layout, each level's geometry and policies, wave size, texel
registers), the sampler's budget, and the code that traces and simulates (the sources of
smartmem_sim/kernels, smartmem_sim/layout and smartmem_sim/memsim). The key hashes all of them and nothing
else, so:

- a second ``compare`` of a network, a sweep task or a search that meets a kernel already simulated on the
  same cache geometry reads its counts instead of simulating it again;
- a what-if on a timing parameter (a latency, a bandwidth, the clock, launch overhead) or a correction
  reuses every count: the timing formula is applied afresh to the stored counts;
- any change of a count-relevant parameter, or of the code, is a different key (old entries are never
  read again and may be deleted with the folder).

Where: ``$SMARTMEM_CACHE`` (a folder; ``off`` disables the cache), else ``$XDG_CACHE_HOME/smartmem-sim``,
else ``~/.cache/smartmem-sim``; one SQLite file, ``kernels.sqlite``, safe for the several processes of a
sweep. A cache that cannot be opened or written is reported once on stderr and the run goes on without it:
the cache saves time and never changes a number.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
from dataclasses import asdict, fields
from functools import lru_cache
from pathlib import Path

from smartmem_sim.sources import source_hash

ENV = "SMARTMEM_CACHE"
FILE_NAME = "kernels.sqlite"
# Level fields that only the timing formula reads: changing them keeps every count.
TIMING_ONLY_LEVEL_FIELDS = ("latency_cycles", "bandwidth_bytes_per_cycle", "energy_pj_per_byte")
PACKAGE_ROOT = Path(__file__).resolve().parent
COUNT_PACKAGES = ("kernels", "layout", "memsim")
PROFILES = PACKAGE_ROOT / "memsim" / "devices"


def cache_folder() -> Path | None:
    """The folder the cache lives in (module docstring), or None when ``$SMARTMEM_CACHE`` is ``off``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in ("off", "0", "none", "false"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "smartmem-sim"


@lru_cache(maxsize=1)
def counts_code_version() -> str:
    """Hash of the sources that produce a kernel's counts (smartmem_sim/sources.py, over ``COUNT_PACKAGES``). The device profiles are left out: what of a profile decides counts is in
    :func:`geometry_key`, so editing a shipped profile's latency keeps the counts, as a copied profile's would."""
    return source_hash(PACKAGE_ROOT, COUNT_PACKAGES, exclude=(str(PROFILES.relative_to(PACKAGE_ROOT)),))


def geometry_key(profile, texel_reuse: bool, row_budget: int, windows: int) -> str:
    """What of a device profile and the sampler decides a kernel's counts, as canonical JSON."""
    levels = [{f.name: getattr(lv, f.name) for f in fields(lv) if f.init and f.name not in TIMING_ONLY_LEVEL_FIELDS}
              for lv in profile.levels]
    layout = asdict(profile.image_layout) if hasattr(profile.image_layout, "__dataclass_fields__") \
        else repr(profile.image_layout)
    return json.dumps({"cores": profile.cores, "image_layout": layout, "levels": levels,
                       "wave_size": profile.execution.wave_size, "texel_reuse": bool(texel_reuse),
                       "row_budget": row_budget, "windows": windows}, sort_keys=True, default=repr)


class KernelCache:
    """A key -> JSON value store in one SQLite file (module docstring). ``get`` and ``put`` never raise:
    a failing cache is reported once and then left alone."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / FILE_NAME
        self._conn: sqlite3.Connection | None = None
        self._failed = False
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _open(self) -> sqlite3.Connection | None:
        if self._conn is None and not self._failed:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
                conn.execute("CREATE TABLE IF NOT EXISTS kernels (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.commit()
                self._conn = conn
            except (OSError, sqlite3.Error) as exc:
                self._fail(exc)
        return self._conn

    def _fail(self, exc: Exception) -> None:
        self._failed = True
        self._conn = None
        print(f"smartmem: kernel cache {self.path} unusable ({exc}); simulating without it "
              f"(set {ENV}=off to silence, or {ENV}=FOLDER to move it)", file=sys.stderr)

    def scope(self, profile, texel_reuse: bool, row_budget: int, windows: int) -> str:
        """The part of every key that the code and the device's count-relevant parameters make."""
        text = counts_code_version() + "|" + geometry_key(profile, texel_reuse, row_budget, windows)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str):
        with self._lock:
            conn = self._open()
            if conn is None:
                return None
            try:
                row = conn.execute("SELECT value FROM kernels WHERE key = ?", (key,)).fetchone()
                value = json.loads(row[0]) if row else None
            except (sqlite3.Error, ValueError) as exc:
                self._fail(exc)
                return None
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value) -> None:
        with self._lock:
            conn = self._open()
            if conn is None:
                return
            try:
                text = json.dumps(value, separators=(",", ":"), allow_nan=True)
                with conn:  # one transaction: a reader sees the whole entry or none
                    conn.execute("INSERT OR REPLACE INTO kernels (key, value) VALUES (?, ?)", (key, text))
            except (sqlite3.Error, TypeError, ValueError) as exc:
                self._fail(exc)

    def entries(self) -> int:
        """Kernels kept (not __len__: an empty cache must not read as false where a store is optional)."""
        with self._lock:
            conn = self._open()
            if conn is None:
                return 0
            return int(conn.execute("SELECT COUNT(*) FROM kernels").fetchone()[0])


_DEFAULT: dict[Path, KernelCache] = {}


def default_cache() -> KernelCache | None:
    """The cache of :func:`cache_folder` (one object per folder in this process), or None when off."""
    folder = cache_folder()
    if folder is None:
        return None
    if folder not in _DEFAULT:
        _DEFAULT[folder] = KernelCache(folder)
    return _DEFAULT[folder]
