"""torch -> ONNX export of our own arch/ tiny twins: onnxruntime on the committed graph structure equals
torch; the published figures in paper_table.toml agree with each arch module's PAPER. Needs [zoo]."""
from __future__ import annotations

import importlib

import pytest

from smartmem_sim.zoo import registry
from tests.smartmem_sim.zoo.export_check import check_tiny_twin

ARCH = [n for n, e in registry.entries().items() if e.source == "arch"]


@pytest.mark.zoo_export
@pytest.mark.parametrize("name", ARCH)
def test_tiny_twin_matches_torch(name):
    check_tiny_twin(name)


@pytest.mark.zoo_export
@pytest.mark.parametrize("name", ARCH)
def test_reference_figures_agree_with_arch_module(name):
    pytest.importorskip("torch")
    e = registry.entry(name)
    paper = importlib.import_module(f"smartmem_sim.zoo.arch.{e.arch_module}").PAPER
    assert (e.ref_params_m, e.ref_gmacs) == (paper["params_m"], paper["gmacs"])
