"""Import timm without torchvision.

timm imports torchvision at import time (data transforms, dataset factory, FrozenBatchNorm2d), but no
model we build uses it, and the only torchvision wheels our package registry serves are CUDA builds that
fail to load beside the CPU torch 2.13.0 we pin. When torchvision is absent, ``import_timm`` serves
placeholder ``torchvision.*`` modules for the duration of timm's import only, then removes them from
``sys.modules`` so no other code believes torchvision is installed. Using a placeholder (building a
transform, a dataset, a FrozenBatchNorm2d) raises ImportError with the reason. When a real torchvision is
installed it is used and nothing is stubbed.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

_MISSING = "torchvision is not installed; smartmem's zoo only builds timm models, not timm's data helpers"

# timm guards this import with try/except ImportError and then disables FX feature extraction: let it.
_REFUSED_PREFIXES = ("torchvision.models",)


class _PlaceholderMeta(type):
    """Attribute access on a placeholder class yields another placeholder (e.g. InterpolationMode.BILINEAR)."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        child = _PlaceholderMeta(name, (_Placeholder,), {"__module__": cls.__module__})
        setattr(cls, name, child)
        return child


class _Placeholder(metaclass=_PlaceholderMeta):
    def __init__(self, *args, **kwargs):
        raise ImportError(f"{type(self).__module__}.{type(self).__name__}: {_MISSING}")


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _PlaceholderMeta(name, (_Placeholder,), {"__module__": self.__name__})
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname != "torchvision" and not fullname.startswith("torchvision."):
            return None
        if fullname.startswith(_REFUSED_PREFIXES):
            return None  # falls through to the normal finders, which raise ModuleNotFoundError
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _PlaceholderModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def import_timm() -> types.ModuleType:
    """Return the timm module, importing it behind the torchvision placeholder when needed."""
    if "timm" in sys.modules:
        return sys.modules["timm"]
    if importlib.util.find_spec("torchvision") is not None:
        return importlib.import_module("timm")
    finder = _StubFinder()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("timm")
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
