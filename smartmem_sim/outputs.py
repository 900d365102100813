"""Output paths checked before any work: never an input, never a folder, an existing folder to go in, and no
existing file replaced unless the user said ``--force``. A command calls :func:`check_outputs` first, so a bad
path fails in a second, not after a long compile, and nothing is half-written (files are then written
atomically: smartmem_sim/atomic.py)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from smartmem_sim.errors import UserError


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike] = (), *,
                  force: bool = False, flag: str = "-o") -> list[Path]:
    """The outputs as Paths, or a UserError naming the path, the flag and what to do."""
    ins = [Path(p) for p in inputs if p is not None]
    outs = [Path(p) for p in outputs]
    for out in outs:
        for src in ins:
            if _same_file(out, src):
                raise UserError(f"{flag} {out}: that is the input {src}; choose another output name")
        if out.is_dir():
            raise UserError(f"{flag} {out}: is a folder; give a file name")
        parent = out.parent  # Path("x").parent is Path(".")
        if not parent.is_dir():
            raise UserError(f"{flag} {out}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise UserError(f"{flag} {out}: folder {parent} is not writable")
        if out.exists() and not force:
            raise UserError(f"{flag} {out}: exists; pass --force to replace it")
    return outs
