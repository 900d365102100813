"""A hash of source trees: what the sweep's result keys and the kernel cache's keys say about the code."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def source_hash(root: Path, packages: tuple[str, ...], exclude: tuple[str, ...] = ()) -> str:
    """Hash of the .py and .toml sources of ``packages`` under ``root`` as they are on disk now (path and
    bytes of each file), leaving out the folders ``exclude`` names (paths relative to ``root``). Files are
    re-read only when their size or mtime changed since the last call."""
    left_out = [root / e for e in exclude]
    files = []
    for pkg in packages:
        files += sorted(p for p in (root / pkg).rglob("*") if p.suffix in (".py", ".toml") and p.is_file()
                        and "__pycache__" not in p.parts and not any(e in p.parents for e in left_out))
    stats = []
    for p in files:
        try:
            st = p.stat()
        except FileNotFoundError:  # removed while we looked (an editor's temporary file)
            continue
        stats.append((str(p.relative_to(root)), st.st_mtime_ns, st.st_size))
    return _hash_sources(root, tuple(stats))


@lru_cache(maxsize=8)
def _hash_sources(root: Path, stats: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for rel, _, _ in stats:
        h.update(rel.encode() + b"\0")
        try:
            h.update((root / rel).read_bytes() + b"\0")
        except FileNotFoundError:
            h.update(b"<removed>\0")
    return h.hexdigest()[:16]
