"""The one exception type memsim raises for bad input (profiles, traces, parameters)."""


class MemsimError(ValueError):
    """Bad input to memsim. The message names the file, field or trace entry and what to do."""
