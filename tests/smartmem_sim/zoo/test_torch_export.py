"""torch -> ONNX export of the library-built tiny twins (timm, transformers, diffusers): onnxruntime on the
committed graph structure equals torch. Needs the [zoo] extra; skipped without torch."""
from __future__ import annotations

import pytest

from smartmem_sim.zoo import registry
from tests.smartmem_sim.zoo.export_check import check_tiny_twin

LIBRARY = [n for n, e in registry.entries().items() if e.source != "arch"]


@pytest.mark.zoo_export
@pytest.mark.parametrize("name", LIBRARY)
def test_tiny_twin_matches_torch(name):
    check_tiny_twin(name)


@pytest.mark.zoo_export
def test_strip_keeps_integer_and_scalar_constants():
    pytest.importorskip("onnxscript")
    from smartmem_sim.zoo.torch_export import strippable

    assert strippable(True, (4, 4)) and strippable(True, (2,))
    assert not strippable(True, ()) and not strippable(True, (1,)) and not strippable(False, (64, 64))
    assert not strippable(True, (4,), [("Mul", 0), ("Resize", 2)])  # scales: a shape argument
    assert strippable(True, (4,), [("Resize", 0)])  # data input of Resize: an ordinary tensor


@pytest.mark.zoo_export
def test_export_without_torch_says_which_extra(monkeypatch):
    import sys

    from smartmem_sim.errors import UserError
    from smartmem_sim.zoo.torch_export import export_network

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(UserError, match=r"\[zoo\] extra"):
        export_network("vit", tiny=True)
