"""smartmem_sim: the face of the project (Python API, the `smartmem` CLI, the model zoo, reports).

The API (smartmem_sim/api.py) is imported on first use, so ``import smartmem_sim`` stays light::

    import smartmem_sim as sm
    sm.compare("swin", tiny=True)      # also: sm.simulate, sm.compile, sm.cache_study, sm.load_profile
"""

__version__ = "0.1.0"

_API = ("compare", "simulate", "compile", "run", "cache_study", "load_profile", "Comparison")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from smartmem_sim import api

        return getattr(api, name)
    raise AttributeError(f"module 'smartmem_sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
