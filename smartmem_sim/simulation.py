"""Compile a model under a policy and simulate every kernel on a device profile: per-kernel and total results.

    from smartmem_sim.simulation import simulate_model
    result = simulate_model("swin", "adreno740", "smartmem")     # a zoo name, an .onnx path or a Graph
    result.seconds, result.dram_bytes, result.transform_seconds, result.kernels[0]

The cost oracle is smartmem_sim.compiler.costs.SimulatedCost fed by :class:`ProgramSampler`, which turns a plan step into
the access programs of kernels/ and samples their traces (whole kernels when small, windows of
work-groups otherwise; the error bound is in smartmem_sim/compiler/costs/simulated.py). One cost model per device is
shared by all policies of a run (``cost_model(device)``), so identical kernels are simulated once.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartmem_sim.compiler.costs import SimulatedCost
from smartmem_sim.compiler.costs.model import CostModel, KernelCost
from smartmem_sim.compiler.ir import Graph
from smartmem_sim.errors import UserError
from smartmem_sim.layout.plan import Plan, Step

DEFAULT_STORAGE = "fp16"  # the paper runs fp16 on phones


_COST_MODELS: dict[tuple[str, int, int], SimulatedCost] = {}


def cost_model(device: str, row_budget: int = 20_000, windows: int = 3) -> SimulatedCost:
    """The shared memsim-backed cost model of ``device`` (memoized across calls in this process; simulated
    counts are also kept on disk across runs, smartmem_sim/kernel_cache.py)."""
    from smartmem_sim.kernel_cache import default_cache

    key = (device, row_budget, windows)
    if key not in _COST_MODELS:
        _COST_MODELS[key] = SimulatedCost(device, row_budget=row_budget, windows=windows, store=default_cache())
    return _COST_MODELS[key]


# ---------------------------------------------------------------- results

@dataclass
class SimulationResult:
    """A plan's predicted cost on one device: one KernelCost per step, in plan order."""

    model: str
    policy: str
    device: str
    plan: Plan
    kernels: list[KernelCost]
    meta: dict[str, Any] = field(default_factory=dict)
    # per kernel (parallel to ``kernels``): memsim's energy estimate in pJ (smartmem_sim/memsim/timing.py:
    # bytes through each level and DRAM times the profile's pJ/B); None where the cost model gives none
    energy_pj: list[float | None] = field(default_factory=list)
    # per level and "DRAM": {"pj_per_byte": ..., "source": the profile's source string or "unsourced"}
    energy_sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(k.seconds for k in self.kernels)

    @property
    def dram_bytes(self) -> float:
        return sum(k.dram_bytes for k in self.kernels)

    @property
    def launches(self) -> int:
        return sum(k.launches for k in self.kernels)

    @property
    def transforms(self) -> list[KernelCost]:
        """COPY kernels: layout transformations the plan executes."""
        return [k for k in self.kernels if k.is_transform]

    @property
    def transform_seconds(self) -> float:
        return sum(k.seconds for k in self.transforms)

    @property
    def energy_joules(self) -> float | None:
        """Predicted energy of the memory traffic (every level and DRAM), joules; None when a kernel has no
        estimate (a cost model other than the memsim-backed one). Sampled kernels are scaled like their
        counts; the learned timing correction does not apply to energy."""
        if len(self.energy_pj) != len(self.kernels) or any(e is None for e in self.energy_pj):
            return None
        return float(sum(self.energy_pj)) * 1e-12

    def kernel_energy_joules(self, i: int) -> float | None:
        e = self.energy_pj[i] if i < len(self.energy_pj) else None
        return None if e is None else float(e) * 1e-12

    @property
    def rel_error(self) -> float:
        """Sampling error bound of ``seconds`` (kernels' errors added in quadrature)."""
        s = self.seconds
        return float(np.sqrt(sum((k.rel_error * k.seconds) ** 2 for k in self.kernels)) / s) if s else 0.0

    def misses(self) -> dict[str, float]:
        """Misses per cache level, summed over kernels."""
        out: dict[str, float] = {}
        for k in self.kernels:
            for lv in k.levels:
                out[lv.name] = out.get(lv.name, 0.0) + lv.misses
        return out

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "policy": self.policy, "device": self.device,
                "seconds": self.seconds, "rel_error": self.rel_error, "dram_bytes": self.dram_bytes,
                "misses": self.misses(), "kernels": len(self.kernels), "launches": self.launches,
                "transforms": len(self.transforms), "transform_seconds": self.transform_seconds,
                "energy_joules": self.energy_joules, **self.meta}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "energy_pj_per_byte": self.energy_sources,
                "per_kernel": [kernel_dict(k, self.kernel_energy_joules(i)) for i, k in enumerate(self.kernels)]}

    def __repr__(self) -> str:
        return (f"SimulationResult({self.model}, {self.policy} on {self.device}: {self.seconds * 1e3:.3f} ms, "
                f"{len(self.kernels)} kernels, {len(self.transforms)} transforms, "
                f"DRAM {self.dram_bytes / 1e6:.2f} MB)")

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per kernel: kernel_dict's step, op type, seconds, DRAM bytes, ..., and per cache level
        ``<level>_accesses`` / ``_misses`` / ``_bytes_filled``."""
        rows = []
        for i, k in enumerate(self.kernels):
            d = kernel_dict(k, self.kernel_energy_joules(i))
            flat = {f"{name}_{key}": v for name, lv in d.pop("levels").items() for key, v in lv.items()}
            rows.append({"model": self.model, "policy": self.policy, "device": self.device, **d, **flat})
        return rows

    def to_dataframe(self):
        """:meth:`to_records` as a pandas DataFrame (pandas is optional)."""
        return records_frame(self.to_records())

    def plot(self, ax=None, top: int = 15):
        """The ``top`` costliest kernels as horizontal bars (layout transforms and operator kernels in their
        house colours, smartmem_sim/figure_style.py); returns the Figure and never switches matplotlib's
        backend."""
        from matplotlib.patches import Patch

        from smartmem_sim.figure_style import color, new_figure, style_context

        with style_context():
            if ax is None:
                fig, ax = new_figure(figsize=(6.4, 0.25 * top + 1.4))
            else:
                fig = ax.figure
            ranked = sorted(self.kernels, key=lambda k: -k.seconds)[:top][::-1]
            ax.barh([f"{k.step} ({k.op_type})" for k in ranked], [k.seconds * 1e3 for k in ranked],
                    color=[color("layout transforms" if k.is_transform else "operator kernels") for k in ranked])
            ax.set_xlabel("predicted ms")
            ax.set_title(f"{self.model}, {self.policy} on {self.device}: {self.seconds * 1e3:.2f} ms")
            ax.legend(handles=[Patch(color=color("operator kernels"), label="operator kernels"),
                               Patch(color=color("layout transforms"), label="layout transforms")],
                      loc="lower right")
        return fig


def plot_policies(results: Sequence[SimulationResult], ax=None):
    """Stacked bars per policy (operator kernels, layout transforms) with the sampling error bound as an error
    bar, in the house style (smartmem_sim/figure_style.py); the Figure, made without pyplot. ``ax``: draw
    into these axes instead of a new figure."""
    from smartmem_sim.figure_style import color, legend_outside, new_figure, style_context

    with style_context():
        if ax is None:
            fig, ax = new_figure(figsize=(7.0, 4.2))
        else:
            fig = ax.figure
        names = [r.policy for r in results]
        transform = [r.transform_seconds * 1e3 for r in results]
        other = [(r.seconds - r.transform_seconds) * 1e3 for r in results]
        ax.bar(names, other, label="operator kernels", color=color("operator kernels"))
        ax.bar(names, transform, bottom=other, label="layout transforms", color=color("layout transforms"))
        ax.errorbar(names, [r.seconds * 1e3 for r in results],
                    yerr=[r.rel_error * r.seconds * 1e3 for r in results], fmt="none", ecolor=color("paper"),
                    capsize=4, lw=1,
                    label="sampling error bound\n(~2 standard errors of the\nsampled windows; 0 if exact)")
        ax.set_ylabel("predicted latency (ms)")
        ax.set_xlabel("policy")
        ax.set_title(f"{results[0].model} on {results[0].device} (simulated, uncalibrated)")
        legend_outside(ax)
    return fig


def records_frame(records: list[dict]):
    """``records`` as a pandas DataFrame; pandas is optional, so a missing one is a named UserError."""
    try:
        import pandas as pd
    except ImportError:
        from smartmem_sim.errors import UserError

        raise UserError("to_dataframe needs pandas (pip install pandas); to_records() gives the same rows "
                        "as dicts") from None
    return pd.DataFrame.from_records(records)


def kernel_dict(k: KernelCost, energy_joules: float | None = None) -> dict[str, Any]:
    return {"step": k.step, "op_type": k.op_type, "seconds": k.seconds, "dram_bytes": k.dram_bytes,
            "compute_seconds": k.compute_seconds, "launches": k.launches, "sampled": k.sampled,
            "rel_error": k.rel_error, "energy_joules": energy_joules,
            "levels": {lv.name: {"accesses": lv.accesses, "misses": lv.misses, "bytes_filled": lv.bytes_filled}
                       for lv in k.levels}}


def energy_sources(profile) -> dict[str, dict[str, Any]]:
    """Per cache level and "DRAM": the profile's pJ/B and the source string it gives for it ("unsourced"
    where the profile names none)."""
    src = getattr(profile, "sources", {}) or {}
    out = {lv.name: {"pj_per_byte": float(lv.energy_pj_per_byte),
                     "source": src.get(f"levels.{lv.name}.energy_pj_per_byte", "unsourced")} for lv in profile.levels}
    out["DRAM"] = {"pj_per_byte": float(profile.dram.energy_pj_per_byte),
                   "source": src.get("dram.energy_pj_per_byte", "unsourced")}
    return out


def _energy(plan: Plan, cost: CostModel) -> tuple[list[float | None], dict[str, dict[str, Any]]]:
    """Per step, the sum of memsim's energy estimates of its kernels (the cost model's own, memoized:
    SimulatedCost.explain), and the per-byte table with sources; ([], {}) for a model without them."""
    explain = getattr(cost, "explain", None)
    profile = getattr(cost, "dev", None)
    if explain is None or profile is None:
        return [], {}
    return [float(sum(e["energy_pj"] for e in explain(plan, s))) for s in plan.steps], energy_sources(profile)


def priced(plan: Plan, cost: CostModel, kernels: list[KernelCost]) -> SimulationResult:
    """A SimulationResult of ``plan`` with the kernels ``cost`` gave and its energy estimates."""
    energy, sources = _energy(plan, cost)
    return SimulationResult(plan.model, plan.policy, cost.device, plan, kernels, energy_pj=energy,
                            energy_sources=sources)


def simulate_plan(plan: Plan, device: str = "adreno740", cost: CostModel | None = None) -> SimulationResult:
    """Every step of ``plan`` through ``cost`` (default: the shared memsim-backed model of ``device``)."""
    cost = cost if cost is not None else cost_model(device)
    return priced(plan, cost, cost.evaluate_plan(plan))


def simulate_policies(graph: Graph, policies: Sequence[str], device: str = "adreno740",
                      storage: str = DEFAULT_STORAGE, progress: bool = False) -> list[SimulationResult]:
    """Every policy of ``policies`` on one device, sharing one cost model (identical kernels simulated once);
    ``progress`` shows a bar on stderr (one step per policy; off when stderr is not a terminal)."""
    import sys

    from tqdm import tqdm

    cost = cost_model(device)
    out = []
    with tqdm(policies, desc="compare", unit="policy", file=sys.stderr, leave=False,
              disable=None if progress else True) as bar:
        for p in bar:
            bar.set_postfix_str(p)
            out.append(simulate_plan(compile_for(graph, p, device, storage, cost), device, cost))
    return out


def simulate_plan_on(plan: Plan, costs: Sequence[CostModel]) -> list[SimulationResult]:
    """simulate_plan on several cost models (devices) at once, one result per cost, equal to
    ``simulate_plan(plan, cost=c)`` for each. Each step is priced by every cost before the next step, so
    the sampler traces a step's work-items once for all devices (the step memo of ProgramSampler)."""
    costs = list(costs)
    kernels: list[list[KernelCost]] = [[] for _ in costs]
    for step in plan.steps:
        for out, cost in zip(kernels, costs, strict=True):
            out.append(cost.evaluate(plan, step))
    return [priced(plan, cost, ks) for cost, ks in zip(costs, kernels, strict=True)]


class PricedOnAll(CostModel):
    """The first cost model's answers, with every evaluation also made on the others, so their memos hold
    it when they are asked (a search for one device prices its candidates on every device of a sweep
    group, each step traced once per texel-reuse flavour; the later searches find their prices memoized).
    Numbers are those of ``costs[0]`` alone."""

    def __init__(self, costs: Sequence[CostModel]):
        self.costs = list(costs)
        self.device = self.costs[0].device
        self.keyed_by_signature = all(c.keyed_by_signature for c in self.costs)

    def evaluate(self, plan: Plan, step: Step, layouts=None) -> KernelCost:
        first = self.costs[0].evaluate(plan, step, layouts)
        for c in self.costs[1:]:
            c.evaluate(plan, step, layouts)
        return first


def zoo_name(model: str, tiny: bool = False) -> tuple[str, bool]:
    """(network, tiny) of a zoo name, where ``NAME.tiny`` means the tiny twin (as ``--tiny`` does); a
    UserError listing the networks when it is none."""
    from smartmem_sim import zoo

    if model.endswith(".tiny") and model[: -len(".tiny")] in zoo.list_models():
        return model[: -len(".tiny")], True
    if model not in zoo.list_models():
        raise UserError(f"'{model}' is neither a model file nor a zoo network ({', '.join(zoo.list_models())}; "
                        "NAME.tiny is a network's tiny twin)")
    return model, tiny


def read_source(model: str | Path, tiny: bool = False):
    """(ModelProto, label, from_zoo) of an .onnx file (label: its stem) or a zoo network name (``NAME.tiny`` or
    ``tiny``: its tiny twin; label ``NAME[.tiny]``; weights stripped, as the zoo ships them)."""
    from smartmem_sim.compiler.frontend.read import read_model

    path = Path(model)
    if path.is_file():
        return read_model(path), path.stem, False
    if path.suffix == ".onnx":
        raise UserError(f"model file {str(model)!r} does not exist")
    from smartmem_sim import zoo

    name, tiny = zoo_name(str(model), tiny)
    return zoo.load(name, tiny=tiny, weights=False), name + ".tiny" * tiny, True


def load_graph(model: str | Path | Graph, tiny: bool = False, dims: Mapping[str, int] | None = None,
               batch: int = 1) -> Graph:
    """A Graph from a Graph, a zoo network name (``NAME.tiny``: its tiny twin), or a model file (weights may
    be stripped).

    ``batch`` > 1 asks the zoo for the network at that batch size (zoo networks only)."""
    from smartmem_sim.compiler.frontend import load_model

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch must be a positive integer, got {batch!r}")
    if isinstance(model, Graph):
        if batch != 1:
            raise UserError("batch applies to zoo networks; a Graph is taken as it is")
        return model
    path = Path(model)
    if path.suffix == ".onnx" or path.is_file():
        if not path.is_file():
            raise UserError(f"model file {path} does not exist")
        if batch != 1:
            raise UserError(f"{path}: batch applies to zoo networks; export the .onnx file at the batch size you want")
        return load_model(str(path), dict(dims) if dims else None)
    from smartmem_sim import zoo

    model, tiny = zoo_name(str(model), tiny)
    if batch == 1:
        onnx_model = zoo.load(str(model), tiny=tiny, weights=False)
    elif "batch" in inspect.signature(zoo.load).parameters:
        onnx_model = zoo.load(str(model), tiny=tiny, weights=False, batch=batch)
    else:
        raise UserError(f"batch={batch}: this checkout's zoo gives networks at batch 1 only")
    return load_model(onnx_model, dict(dims) if dims else None)


SEARCH_CANDIDATES = 2  # layouts per tensor the simulator-priced search tries (smartmem's + one)


def compile_for(graph: Graph, policy: str, device: str = "adreno740", storage: str = DEFAULT_STORAGE,
                cost: CostModel | None = None, search_candidates: int = SEARCH_CANDIDATES) -> Plan:
    """compile_model; ``search`` (its layouts) and the tuned policies (their tiles) ask ``cost`` (default: the
    device's memsim-backed model)."""
    return compile_with_graph(graph, policy, device, storage, cost, search_candidates)[0]


def compile_with_graph(graph: Graph, policy: str, device: str = "adreno740", storage: str = DEFAULT_STORAGE,
                       cost: CostModel | None = None, search_candidates: int = SEARCH_CANDIDATES):
    """:func:`compile_for`, returning (plan, the graph its node ids refer to) for writing the plan as ONNX."""
    from smartmem_sim.compiler.pipeline import TUNED
    from smartmem_sim.compiler.pipeline import compile_with_graph as compile_both

    if policy == "search" or policy in TUNED:
        return compile_both(graph, policy, storage, cost=cost if cost is not None else cost_model(device),
                            search_candidates=search_candidates)
    return compile_both(graph, policy, storage)


def simulate_model(model: str | Path | Graph, device: str = "adreno740", policy: str = "smartmem",
                   storage: str = DEFAULT_STORAGE, tiny: bool = False, cost: CostModel | None = None,
                   search_candidates: int = SEARCH_CANDIDATES) -> SimulationResult:
    """Compile ``model`` under ``policy`` and simulate it on ``device``."""
    graph = load_graph(model, tiny)
    cost = cost if cost is not None else cost_model(device)
    plan = compile_for(graph, policy, device, storage, cost, search_candidates)
    return simulate_plan(plan, device, cost)
