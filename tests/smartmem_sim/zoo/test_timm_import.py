"""The torchvision placeholder: serves timm's imports, refuses use, and leaves nothing behind."""
from __future__ import annotations

import importlib
import sys

import pytest

from smartmem_sim.zoo import timm_import


def test_placeholder_modules_serve_imports_and_refuse_use(monkeypatch):
    finder = timm_import._StubFinder()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    try:
        functional = importlib.import_module("torchvision.transforms.functional")
        mode = functional.InterpolationMode
        assert mode.BILINEAR is mode.BILINEAR and mode.BILINEAR is not mode.NEAREST  # usable as dict keys

        class Sub(importlib.import_module("torchvision.transforms").ToTensor):  # subclassing works
            pass

        with pytest.raises(ImportError, match="torchvision is not installed"):
            Sub()
        with pytest.raises(ImportError, match="FrozenBatchNorm2d"):
            importlib.import_module("torchvision.ops.misc").FrozenBatchNorm2d(4)
        # timm wraps this import in try/except ImportError and disables FX feature extraction
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("torchvision.models.feature_extraction")
    finally:
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]


@pytest.mark.zoo_export
def test_import_timm_leaves_no_torchvision_behind():
    pytest.importorskip("torch")
    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm not installed")
    had_torchvision = importlib.util.find_spec("torchvision") is not None
    timm = timm_import.import_timm()
    assert hasattr(timm, "create_model")
    if not had_torchvision:
        assert not any(n == "torchvision" or n.startswith("torchvision.") for n in sys.modules)
        assert importlib.util.find_spec("torchvision") is None
