"""The one exception type memsim raises for bad input (profiles, traces, parameters)."""


class MemsimError(ValueError):
    """Bad input to memsim. The message names the file, field or trace entry and what to do."""


def nonneg_number(where: str, name: str, value) -> float:
    """``value`` as a float if it is a finite number >= 0 (bools are not numbers here), else a MemsimError
    naming ``where`` (e.g. "level 'L1'") and the field."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise MemsimError(f"{where}: field '{name}' must be a number, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise MemsimError(f"{where}: field '{name}' must be finite and >= 0, got {value}")
    return float(value)
