"""The Python API: what the `smartmem` commands do, as functions that return results to look at, not files.

    import smartmem_sim as sm
    cmp = sm.compare("swin", tiny=True, device="adreno740")   # every policy, one shared cost model
    cmp                        # a short summary: one line per policy
    cmp.to_records()           # one dict per policy (pandas: cmp.to_dataframe())
    fig = cmp.plot()           # a matplotlib Figure; the backend is left as it is (inline in Jupyter)
    res = sm.simulate("vit", policy="smartmem", tiny=True)      # one policy: per-kernel costs
    plan = sm.compile("vit", policy="search", tiny=True)        # the compiled plan only
    prof = sm.load_profile("adreno740")                         # a memsim device profile
    study = sm.cache_study("adreno740", 256, 256)               # memsim's walk study on one image
    runs = sm.run("resnext.tiny", policies=("naive", "smartmem"), check=True)   # on an OpenCL device ([opencl])

Every function takes a zoo name (``tiny=True`` for its tiny twin), an .onnx path or a loaded graph; errors are
the same named errors the commands print (smartmem_sim.errors.user_error_types()).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLICIES = ("naive", "fusion", "smartmem", "search")


def load_profile(name_or_path: str | Path):
    """A memsim device profile (smartmem_sim/memsim/devices/NAME.toml, or a .toml path)."""
    from smartmem_sim.memsim import load_profile as _load

    return _load(name_or_path)


def compile(model, policy: str = "smartmem", device: str = "adreno740", storage: str = "fp16",  # noqa: A001
            tiny: bool = False):
    """The plan (smartmem_sim.layout.plan.Plan) of ``model`` under ``policy``; ``search`` prices layouts on
    ``device``."""
    from smartmem_sim.simulation import compile_for, load_graph

    return compile_for(load_graph(model, tiny), policy, device, storage)


def simulate(model, policy: str = "smartmem", device: str = "adreno740", storage: str = "fp16", tiny: bool = False):
    """The predicted cost of ``model`` under ``policy`` on ``device`` (a SimulationResult: per-kernel costs,
    ``.seconds``, ``.to_records()``, ``.plot()``)."""
    from smartmem_sim.simulation import simulate_model

    return simulate_model(model, device, policy, storage, tiny)


def compare(model, device: str = "adreno740", policies: Sequence[str] = POLICIES, storage: str = "fp16",
            tiny: bool = False) -> Comparison:
    """Every policy of ``policies`` on one device, sharing one cost model (identical kernels simulated once)."""
    from smartmem_sim.errors import UserError
    from smartmem_sim.simulation import load_graph, simulate_policies

    bad = [p for p in policies if p not in POLICIES]
    if bad or not policies:
        raise UserError(f"policies must be among {', '.join(POLICIES)}, got {list(policies)!r}")
    results = simulate_policies(load_graph(model, tiny), list(policies), device, storage)
    return Comparison(results[0].model, device, storage, results)


def run(model, policies: Sequence[str] = ("smartmem",), opencl_device: str | None = None, storage: str = "fp32",
        seed: int = 0, check: bool = False, repeat: int = 1, texel_reuse: str = "auto",
        search_profile: str | None = None, dims: dict | None = None) -> list:
    """Run ``model`` under each policy on a real OpenCL device (as `smartmem run`; needs the ``[opencl]``
    extra): one smartmem_sim.running.PolicyRun per policy with per-kernel device times (``.timings``,
    ``.to_records()``), the outputs, and with ``check`` each output's error against onnxruntime (``.ok``).
    ``opencl_device`` is a substring of the platform/device name (default: the first device that works)."""
    from smartmem_sim.running import run_policies

    return run_policies(model, list(policies), opencl_device=opencl_device, storage=storage, seed=seed, dims=dims,
                        texel_reuse=texel_reuse, search_profile=search_profile, repeat=repeat, check=check)


def cache_study(device: str, width: int = 512, height: int = 512, dtype: str = "fp16",
                patterns: Sequence[str] | None = None, layouts: Sequence[str] = ("device", "linear", "tiled", "morton"),
                config=None):
    """memsim's walk study (as `smartmem cache-study`): every access pattern over one image of ``width`` x
    ``height`` texels under each layout, on the device's caches; a StudyResult (``.to_dict()``)."""
    from smartmem_sim.memsim.study import PATTERNS, run_study

    return run_study(device, width, height, dtype, list(patterns or PATTERNS), list(layouts), config)


@dataclass
class Comparison:
    """The policies of one model on one device (:func:`compare`)."""

    model: str
    device: str
    storage: str
    results: list

    def __repr__(self) -> str:
        best = min(self.results, key=lambda r: r.seconds)
        lines = [f"Comparison({self.model} on {self.device}, {self.storage}; fastest: {best.policy})"]
        for r in self.results:
            lines.append(f"  {r.policy:9s} {r.seconds * 1e3:10.3f} ms  {len(r.kernels):5d} kernels  "
                         f"{len(r.transforms):4d} transforms ({r.transform_seconds * 1e3:.3f} ms)  "
                         f"DRAM {r.dram_bytes / 1e6:.2f} MB")
        return "\n".join(lines)

    def __getitem__(self, policy: str):
        for r in self.results:
            if r.policy == policy:
                return r
        raise KeyError(f"no policy {policy!r} in this comparison ({', '.join(r.policy for r in self.results)})")

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per policy: model, device, policy, ms, kernels, transforms, transform_ms, dram_mb,
        energy_joules (memsim's estimate of the memory traffic's energy; None without one)."""
        return [{"model": self.model, "device": self.device, "policy": r.policy, "ms": r.seconds * 1e3,
                 "kernels": len(r.kernels), "transforms": len(r.transforms),
                 "transform_ms": r.transform_seconds * 1e3, "dram_mb": r.dram_bytes / 1e6,
                 "energy_joules": r.energy_joules} for r in self.results]

    def to_dataframe(self):
        """:meth:`to_records` as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
        from smartmem_sim.simulation import records_frame

        return records_frame(self.to_records())

    def plot(self, ax=None):
        """Stacked bars of predicted latency per policy (operator kernels, layout transforms) with the
        sampling error bound, as `smartmem compare` draws them; returns the Figure. Draws on ``ax`` when
        given; never switches matplotlib's backend."""
        from smartmem_sim.simulation import plot_policies

        return plot_policies(self.results, ax)
