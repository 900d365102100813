"""smartmem_sim: the face of the project (Python API, the `smartmem` CLI, the model zoo, reports)."""

__version__ = "0.1.0"
