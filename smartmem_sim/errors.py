"""Errors the CLI turns into one clear message and exit status 2."""
from __future__ import annotations


class UserError(ValueError):
    """Bad input at the top level (a path, an option). The message says what to do."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every package's bad-input exception. Imported lazily so `smartmem --help` stays fast."""
    types: list[type[BaseException]] = [UserError]
    from smartmem_sim.memsim.errors import MemsimError

    types.append(MemsimError)
    for mod, name in (("smartmem_sim.layout.errors", "LayoutError"), ("smartmem_sim.compiler.errors", "CompilerError"),
                      ("smartmem_sim.kernels.errors", "KernelError")):
        try:
            module = __import__(mod, fromlist=[name])
        except ImportError:
            continue
        types.append(getattr(module, name))
    return tuple(types)
