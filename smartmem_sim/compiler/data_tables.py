"""Read the compiler's data tables (TOML under smartmem_sim/compiler/data/ and smartmem_sim/compiler/costs/) with one error style."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from smartmem_sim.compiler.errors import CompilerError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed table at ``path``; a CompilerError naming ``what`` and the file when it cannot be read
    or is not valid TOML (tomllib also rejects duplicate keys there)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise CompilerError(f"{what} {path}: cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CompilerError(f"{what} {path}: not valid TOML ({exc})") from exc
