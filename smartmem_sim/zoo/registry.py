"""The zoo's 18 networks: what each is, where it comes from, and the paper's figures for it.

The facts live in paper_table.toml (data, validated here: unknown or missing keys are errors). This module
needs neither torch nor the model libraries; ``build`` imports them only when a network is built.
"""
from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from smartmem_sim.errors import UserError

TABLE_PATH = Path(__file__).with_name("paper_table.toml")
FAMILIES = ("transformer", "convnet", "hybrid")
SOURCES = ("timm", "transformers", "diffusers", "arch")
_REQUIRED = {"title": str, "family": str, "source": str, "config": str}
_OPTIONAL = {
    "arch_module": str, "ref_source": str,
    "paper_ops": int, "paper_ops_dnnfusion": int, "paper_ops_smartmem": int,
    "paper_ms_mnn": (int, float), "paper_ms_tvm": (int, float), "paper_ms_dnnfusion": (int, float),
    "paper_ms_smartmem": (int, float), "ref_params_m": (int, float), "ref_gmacs": (int, float),
}


@dataclass(frozen=True)
class ZooEntry:
    name: str
    title: str
    family: str
    source: str
    config: str
    arch_module: str | None = None
    paper_ops: int | None = None             # Table 7: operators in the graph
    paper_ops_dnnfusion: int | None = None   # Table 7: after DNNFusion's fusion
    paper_ops_smartmem: int | None = None    # Table 7: after SmartMem
    paper_ms_mnn: float | None = None        # Table 7 latencies on Snapdragon 8 Gen 2, ms
    paper_ms_tvm: float | None = None
    paper_ms_dnnfusion: float | None = None
    paper_ms_smartmem: float | None = None
    ref_params_m: float | None = None        # published params of the variant we build, millions
    ref_gmacs: float | None = None           # published MACs at the paper's input size, 10^9
    ref_source: str | None = None


def parse_table(data: dict[str, Any], origin: str = str(TABLE_PATH)) -> dict[str, ZooEntry]:
    """Validate the TOML document ``data`` and return its entries by name, in file order."""
    if set(data) != {"models"} or not isinstance(data["models"], dict):
        raise UserError(f"{origin}: expected exactly one top-level table [models.NAME], got keys {sorted(data)}")
    entries: dict[str, ZooEntry] = {}
    for name, fields in data["models"].items():
        where = f"{origin}: [models.{name}]"
        if not isinstance(fields, dict):
            raise UserError(f"{where}: must be a table")
        unknown = set(fields) - set(_REQUIRED) - set(_OPTIONAL)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted({**_REQUIRED, **_OPTIONAL})}")
        missing = set(_REQUIRED) - set(fields)
        if missing:
            raise UserError(f"{where}: missing key(s) {sorted(missing)}")
        for key, value in fields.items():
            want = {**_REQUIRED, **_OPTIONAL}[key]
            if isinstance(value, bool) or not isinstance(value, want):
                raise UserError(f"{where}: '{key}' = {value!r} has the wrong type")
        if fields["family"] not in FAMILIES:
            raise UserError(f"{where}: family '{fields['family']}' is not one of {FAMILIES}")
        if fields["source"] not in SOURCES:
            raise UserError(f"{where}: source '{fields['source']}' is not one of {SOURCES}")
        if (fields["source"] == "arch") != ("arch_module" in fields):
            raise UserError(f"{where}: 'arch_module' is required exactly when source = 'arch'")
        entries[name] = ZooEntry(name=name, **fields)
    return entries


@cache
def entries() -> dict[str, ZooEntry]:
    with TABLE_PATH.open("rb") as f:
        return parse_table(tomllib.load(f))


def names() -> list[str]:
    """The 18 network names, in the paper's order."""
    return list(entries())


def entry(name: str) -> ZooEntry:
    try:
        return entries()[name]
    except KeyError:
        raise UserError(f"unknown zoo model '{name}'; known: {', '.join(entries())}") from None


def build(e: ZooEntry, tiny: bool, seed: int) -> tuple[Any, tuple[Any, ...], str]:
    """Build the torch module, example inputs and a source description (needs the [zoo] extra).

    The caller seeds torch; arch modules also take the seed themselves.
    """
    if e.source == "arch":
        module = importlib.import_module(f"smartmem_sim.zoo.arch.{e.arch_module}")
        model, inputs = module.build(tiny=tiny, seed=seed)
        config = module.TINY if tiny else module.FULL
        shapes = ", ".join("x".join(str(d) for d in t.shape) for t in inputs)
        return model.eval(), tuple(inputs), f"smartmem_sim.zoo.arch.{e.arch_module} {config} input {shapes}"
    from smartmem_sim.zoo.library_models import BUILDERS

    return BUILDERS[e.name](tiny)
