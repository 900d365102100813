"""The registry holds the paper's 18 networks with its figures, and rejects a malformed table."""
from __future__ import annotations

import pytest

from smartmem_sim.errors import UserError
from smartmem_sim.zoo import registry

# shared/PAPER.md: the paper's grouping of its 18 networks.
PAPER_FAMILIES = {
    "transformer": {"autoformer", "crossformer", "swin", "vit", "sd_text_encoder", "pythia_1b"},
    "convnet": {"convnext", "regnet", "resnext", "yolov8"},
    "hybrid": {"biformer", "cswin", "efficientvit", "flattenformer", "smt", "conformer", "sd_unet",
               "sd_vae_decoder"},
}
# shared/PAPER.md, Table 7: ops in graph / after DNNFusion / after SmartMem.
PAPER_OPS = {"swin": (765, 207, 158), "cswin": (3863, 933, 604), "vit": (444, 168, 112),
             "sd_unet": (1962, 436, 322), "pythia_1b": (1853, 525, 355), "convnext": (292, 96, 81),
             "resnext": (122, 55, 55), "regnet": (282, 122, 122)}


def test_the_18_networks_and_their_families():
    entries = registry.entries()
    assert len(entries) == 18
    for family, names in PAPER_FAMILIES.items():
        assert {n for n, e in entries.items() if e.family == family} == names


def test_table7_op_counts_match_paper_md():
    for name, e in registry.entries().items():
        got = (e.paper_ops, e.paper_ops_dnnfusion, e.paper_ops_smartmem)
        assert got == PAPER_OPS.get(name, (None, None, None)), name


def test_arch_networks_name_their_module_and_library_ones_a_builder():
    from smartmem_sim.zoo import library_models  # imports no torch at module level

    for name, e in registry.entries().items():
        if e.source == "arch":
            assert e.arch_module and name not in library_models.BUILDERS
        else:
            assert name in library_models.BUILDERS


def test_unknown_name_is_a_user_error_listing_the_names():
    with pytest.raises(UserError, match="unknown zoo model 'resnet'.*swin"):
        registry.entry("resnet")


GOOD = {"title": "T", "family": "convnet", "source": "timm", "config": "c"}


@pytest.mark.parametrize("fields, message", [
    ({**GOOD, "paper_op": 3}, "unknown key.*paper_op"),
    ({k: v for k, v in GOOD.items() if k != "config"}, "missing key.*config"),
    ({**GOOD, "paper_ops": "765"}, "'paper_ops' = '765' has the wrong type"),
    ({**GOOD, "paper_ops": True}, "wrong type"),
    ({**GOOD, "family": "cnn"}, "family 'cnn'"),
    ({**GOOD, "source": "hub"}, "source 'hub'"),
    ({**GOOD, "source": "arch"}, "arch_module"),
    ({**GOOD, "arch_module": "x"}, "arch_module"),
])
def test_malformed_table_is_rejected_naming_file_model_and_key(fields, message):
    with pytest.raises(UserError, match=message) as info:
        registry.parse_table({"models": {"m": fields}}, origin="t.toml")
    assert "t.toml: [models.m]" in str(info.value)


def test_table_needs_the_models_table():
    with pytest.raises(UserError, match="models"):
        registry.parse_table({"model": {}}, origin="t.toml")
    assert registry.parse_table({"models": {"m": GOOD}})["m"].family == "convnet"
