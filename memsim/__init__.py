"""`import memsim` for scripts and notebooks: the simulator lives in :mod:`smartmem_sim.memsim`.

The top-level name is the very same module object (not a copy), and ``memsim.<sub>`` imports resolve to
``smartmem_sim.memsim.<sub>``, so classes and errors are the same ones whichever name a user imports.
"""
import importlib
import importlib.abc
import importlib.util
import sys

from smartmem_sim import memsim as _memsim


class _Submodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(__name__ + "."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("smartmem_sim." + spec.name)

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Submodules())
sys.modules[__name__] = _memsim
