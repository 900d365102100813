"""The memsim-backed cost model: simulate (a sample of) every kernel's exact access trace on a device profile.

The traces come from kernels/'s :class:`~smartmem_sim.kernels.trace.sample.ProgramSampler`, which
returns, per kernel launch of a step, one or more
*windows*: a trace and a row ``count_from``; the window's counts are ``sim(trace) - sim(trace[:count_from])``,
i.e. its rows after a warm-up prefix, with the caches as the prefix left them (simulation is deterministic
and causal, so this difference is exact for those rows).

Sampling and its error bound: a kernel whose trace fits ``row_budget`` is simulated whole (exact). A larger
one is simulated in ``windows`` windows of work-items spread over its grid (runs of whole work-groups, or
the first waves of neighbouring work-groups when a round of whole ones is too big); counts are scaled by
(work-items of the kernel / work-items counted). Where one row of a work-group's work-items is
already over the budget (a work-item that reduces over a whole image), the sampler also cuts every
loop to its first iterations and counts a work-item as the measured share of accesses it kept
(``counted`` is then fractional); that assumes the first iterations miss as often as the rest. Each
window alone also gives an estimate of the kernel's time; ``KernelCost.rel_error`` is two standard errors of those estimates relative to their mean
(about a 95% interval if windows were independent draws). It does not cover bias from what windows cannot
see: reuse at distances longer than a window, L2 sharing among cores that a small window leaves idle. A
window starts cold, so data that every window re-reads (a MatMul's weights) would miss the shared levels
once per window; where all of a kernel's surfaces fit in a shared level, its misses and everything below it
are bounded by the footprint (one miss per sector: compulsory.py), which brings a sampled kernel's DRAM
bytes to the exact run's; a per-core level (L1) keeps what its windows saw.
tests/smartmem_sim/test_simulation.py and benchmarks/bench_simulate.py measure that against full runs.

Without texel registers (the device's ``[execution] texel_reuse = false``) the sampler traces the reads the
device's compiler makes once per unrolled block as one fetch (kernels/trace/generate.py, merged_reads).

Every kernel starts with cold caches (no reuse across kernels is modelled). Results are memoized by
kernel signature (smartmem_sim.compiler.costs.model.step_signature): identical blocks of a network are simulated once.
With a ``store`` (smartmem_sim/kernel_cache.py gives the default one), each kernel's simulated counts are also
kept across processes, keyed by the store's ``scope`` (code and count-relevant device parameters), the
storage type and the signature; the timing formula is always applied afresh to the counts.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from smartmem_sim import memsim
from smartmem_sim.compiler.costs.compulsory import cap_shared_levels, footprint_bytes, what_the_bound_took
from smartmem_sim.compiler.costs.correction import step_features
from smartmem_sim.compiler.costs.device import priced_device
from smartmem_sim.compiler.costs.model import (
    CostModel,
    KernelCost,
    LevelCost,
    check_layouts,
    plan_with_layouts,
)
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.kernels.trace.sample import KernelSample, ProgramSampler
from smartmem_sim.layout.image import TensorLayout
from smartmem_sim.layout.plan import Plan, Step
from smartmem_sim.layout.signature import step_signature
from smartmem_sim.memsim.timing import estimate

# the fields of a stored kernel's counts (_counted); a new field makes entries of the old format misses
COUNTED_FORMAT = 2
_COUNTERS = [f.name for f in fields(memsim.LevelStats) if f.name not in ("name", "copies")]


@dataclass(frozen=True)
class KernelTerms:
    """One kernel's timing terms that do not depend on the fitted timing parameters (smartmem_sim/memsim/timing.py):
    ``bandwidth_cycles`` (busiest level or DRAM), ``compute_cycles`` (on the active cores),
    ``issued_accesses`` (trace rows), ``active_cores``, ``latency_sum_cycles`` (sum of access latencies),
    ``miss_latency_sum_cycles`` (the same without the first level), ``work_items``.
    smartmem_sim/calibration/timing_fit.py recombines them under trial parameters."""

    bandwidth_cycles: float
    compute_cycles: float
    issued_accesses: float
    active_cores: float
    latency_sum_cycles: float
    miss_latency_sum_cycles: float
    work_items: float


class SimulatedCost(CostModel):
    """Cost = memsim simulation of the step's sampled kernel traces (module docstring).

    Args:
        device: profile name (smartmem_sim/memsim/devices/NAME.toml) or a memsim DeviceProfile; either with an
            [execution] table (wave size, ALU lanes, launch overhead, texel registers).
        sampler: where traces come from (default: a ProgramSampler of the kernels the device runs, with or
            without texel registers as its [execution] table says).
        row_budget: trace rows per window; a kernel with fewer rows is simulated whole.
        windows: windows per sampled kernel (>= 2, so an error bound can be stated).
        store: where simulated counts are kept across runs: an object with ``scope(profile, texel_reuse,
            row_budget, windows) -> str``, ``get(key)`` and ``put(key, value)`` (JSON values), e.g.
            smartmem_sim.kernel_cache.KernelCache; None: none. Used with a ProgramSampler only.
    """

    def __init__(self, device: str | memsim.DeviceProfile, sampler: ProgramSampler | None = None, row_budget: int = 20_000, windows: int = 3,
                 store=None):
        if isinstance(row_budget, bool) or not isinstance(row_budget, int) or row_budget < 1000:
            raise CompilerError(f"row_budget must be an integer >= 1000, got {row_budget!r}")
        if isinstance(windows, bool) or not isinstance(windows, int) or windows < 2:
            raise CompilerError(f"windows must be an integer >= 2 (to state an error bound), got {windows!r}")
        self.dev = priced_device(device)
        self.device = self.dev.name
        self.sampler = sampler if sampler is not None else ProgramSampler(self.dev.execution.texel_reuse)
        self.row_budget = row_budget
        self.windows = windows
        self.hierarchy = self.dev.hierarchy()
        self.memo: dict[str, KernelCost] = {}
        self.terms_memo: dict[str, list[KernelTerms]] = {}
        self.estimates_memo: dict[str, list[dict]] = {}  # memsim.timing.estimate of each kernel (explain)
        self.simulated_rows = 0  # rows simulated so far (memo and store misses only)
        # a sampler of another kind may trace differently from what the store's entries were made by
        self.store = store if type(self.sampler) is ProgramSampler else None
        self._scope = (store.scope(self.dev, self.sampler.texel_reuse, row_budget, windows)
                       if self.store is not None else "")

    def evaluate(self, plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None = None) -> KernelCost:
        tensors = check_layouts(plan, step, layouts)
        signature = step_signature(plan, step, tensors)  # once: the memo and the store key by it
        key = self._key(plan, step, tensors, signature)
        hit = self.memo.get(key)
        if hit is not None:
            return hit.renamed(step.id, step.op_type)
        counted = self._simulated(plan, step, tensors, signature)
        kernels = [self._kernel(c) for c in counted]
        cost, factor = self._combine(step, kernels)
        self.memo[key] = cost
        self.terms_memo[key] = [k["terms"] for k in kernels]
        self.estimates_memo[key] = [{**k["estimate"], "kernel": c["name"], "work_items": float(c["items"]),
                                     "sampled": k["sampled"], "rel_error": k["rel_error"], "correction": factor,
                                     "footprint_bound": k["footprint_bound"]}
                                    for k, c in zip(kernels, counted, strict=True)]
        return cost

    def _simulated(self, plan: Plan, step: Step, tensors, signature: str) -> list[dict]:
        """Each kernel's counts per window and what the timing needs besides (``_counted``), from the
        store when it has them, else simulated (and stored)."""
        store_key = ""
        if self.store is not None:
            text = f"{self._scope}|{COUNTED_FORMAT}|{plan.storage}|{signature}"
            store_key = hashlib.sha256(text.encode()).hexdigest()
            kept = self.store.get(store_key)
            if kept is not None:
                return kept
        samples = self.sampler.sample(plan_with_layouts(plan, step, tensors), step, self.dev.cores,
                                      self.dev.execution.wave_size, self.row_budget, self.windows)
        counted = [self._counted(s) for s in samples]
        if self.store is not None:
            self.store.put(store_key, counted)
        return counted

    def _key(self, plan: Plan, step: Step, tensors, signature: str | None = None) -> str:
        # a learned correction depends on the operator kind, which the kernels' signature does not name
        key = signature if signature is not None else step_signature(plan, step, tensors)
        return key + "|" + step.op_type if self.dev.correction is not None else key

    def explain(self, plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None = None) -> list[dict]:
        """How each kernel of ``step`` got its time: the dict of smartmem_sim/memsim/timing.py's ``estimate``
        (every term of its formula, the formula itself) plus the kernel's name, work-items, sampled share
        and sampling error; the step's time is the sum of their ``seconds`` plus one launch overhead each."""
        tensors = check_layouts(plan, step, layouts)
        self.evaluate(plan, step, layouts)
        return self.estimates_memo[self._key(plan, step, tensors)]

    # ---------------------------------------------------------------- one kernel

    def _counts(self, trace: memsim.Trace, count_from: int, table) -> dict:
        rep = self.hierarchy.simulate(trace, table)
        self.simulated_rows += len(trace)
        c = _as_counts(rep)
        c["rows"] = float(len(trace) - count_from)
        if count_from > 0:
            prefix = memsim.Trace(**{k: getattr(trace, k)[:count_from] for k in memsim.trace.COLUMNS})
            warm = _as_counts(self.hierarchy.simulate(prefix, table))
            self.simulated_rows += count_from
            c = {k: (v if k == "rows" else _sub(v, warm[k])) for k, v in c.items()}
        return c

    def _counted(self, s: KernelSample) -> dict:
        """What the timing of one sampled kernel needs, as plain JSON data: its name, work-items, inner
        iterations, active cores, work-items counted per window and each window's counts."""
        table = memsim.SurfaceTable(s.surfaces, self.dev.image_layout)
        return {"name": s.name, "items": int(s.items), "inner_iterations": float(s.inner_iterations),
                "active_cores": _active_cores(s, self.dev.cores, self.dev.execution.wave_size),
                "counted": [float(n) for n in s.counted], "footprint_bytes": footprint_bytes(s.surfaces),
                "windows": [self._counts(tr, cf, table) for tr, cf in s.windows]}

    def _kernel(self, k: dict) -> dict:
        per_window, items, counted = k["windows"], k["items"], k["counted"]
        total_counted = sum(counted)
        if total_counted <= 0:
            raise CompilerError(f"kernel '{k['name']}': the sampler counted no work-item")
        compute_cycles = k["inner_iterations"] / self.dev.execution.alu_lanes
        active = k["active_cores"]
        summed = _add_all(per_window)
        scaled = _scale(summed, items / total_counted)
        bounded = []
        if total_counted < items:  # a sample: its cold shared-level misses are bounded by the footprint
            capped = cap_shared_levels(scaled, self.dev.levels, k["footprint_bytes"])
            bounded = what_the_bound_took(scaled, capped, self.dev.levels)
            scaled = capped
        full = self._estimate(scaled, compute_cycles, items, active)
        rel = 0.0
        if total_counted < items:
            secs = [self._estimate(cap_shared_levels(_scale(c, items / n), self.dev.levels, k["footprint_bytes"]),
                                   compute_cycles, items, active)["seconds"]
                    for c, n in zip(per_window, counted, strict=True) if n > 0]
            if len(secs) >= 2 and np.mean(secs) > 0:
                rel = float(2 * np.std(secs, ddof=1) / np.sqrt(len(secs)) / np.mean(secs))
            else:
                rel = float("nan")
        full["sampled"] = min(1.0, total_counted / items)
        full["rel_error"] = rel
        full["footprint_bound"] = {"footprint_bytes": int(k["footprint_bytes"]), "lowered": bounded}
        return full

    def _estimate(self, c: dict, compute_cycles: float, work_items: float, active_cores: float) -> dict:
        prof = self.dev
        stats = [memsim.LevelStats(name=lv.name, copies=self.hierarchy.copies(lv),
                                   **{k: int(round(v)) for k, v in lvc.items()})
                 for lv, lvc in zip(prof.levels, c["levels"], strict=True)]
        t = estimate(prof.levels, stats, [self.hierarchy.copies(lv) for lv in prof.levels], prof.dram,
                     int(round(c["dram_read"])), int(round(c["dram_written"])), int(round(c["dram_requests"])),
                     prof.clock_hz, prof.memory_parallelism, compute_cycles, occupancy=prof.occupancy,
                     work_items=work_items, active_cores=active_cores, issued_accesses=c["rows"])
        terms = KernelTerms(bandwidth_cycles=max(t["transfer_cycles"].values()), compute_cycles=t["compute_cycles"],
                            issued_accesses=c["rows"], active_cores=t["active_cores"],
                            latency_sum_cycles=t["latency_sum_cycles"],
                            miss_latency_sum_cycles=t["miss_latency_sum_cycles"], work_items=float(work_items))
        return {"seconds": t["seconds"], "compute_seconds": t["compute_cycles"] / prof.clock_hz, "counts": c,
                "terms": terms, "estimate": t}

    def terms(self, plan: Plan, step: Step, layouts: Mapping[str, TensorLayout] | None = None) -> list[KernelTerms]:
        """The parameter-free timing terms of each kernel of ``step`` (what calibration fits on)."""
        tensors = check_layouts(plan, step, layouts)
        self.evaluate(plan, step, layouts)
        return self.terms_memo[self._key(plan, step, tensors)]

    def _combine(self, step: Step, kernels: list[dict]) -> tuple[KernelCost, float]:
        """The step's cost and the factor of the profile's learned correction (1 without one): the formula's
        step time (kernels plus launch overheads) times the factor (smartmem_sim/memsim/correction.py)."""
        prof = self.dev
        levels = []
        for i, lv in enumerate(prof.levels):
            levels.append(LevelCost(lv.name, sum(k["counts"]["levels"][i]["accesses"] for k in kernels),
                                    sum(k["counts"]["levels"][i]["misses"] for k in kernels),
                                    sum(k["counts"]["levels"][i]["bytes_filled"] for k in kernels)))
        secs = sum(k["seconds"] for k in kernels)
        # errors of independent kernels add in quadrature
        err = np.sqrt(sum((k["rel_error"] * k["seconds"]) ** 2 for k in kernels)) / secs if secs else 0.0
        step_secs = secs + self.dev.execution.launch_overhead_s * len(kernels)
        factor = 1.0
        if prof.correction is not None:
            factor = prof.correction.factor(step.op_type, step_features([k["terms"] for k in kernels], step_secs * 1e6))
        return KernelCost(step.id, step.op_type, step_secs * factor,
                          sum(k["counts"]["dram_read"] + k["counts"]["dram_written"] for k in kernels),
                          tuple(levels), len(kernels), sum(k["compute_seconds"] for k in kernels),
                          min((k["sampled"] for k in kernels), default=1.0), float(err)), factor


def _active_cores(s: KernelSample, cores: int, wave_size: int) -> float:
    """Cores that get work: those the trace of a whole (unsampled) kernel uses (the sampler deals
    work-groups to cores), else an upper bound of one wave per core."""
    if len(s.windows) == 1 and s.windows[0][1] == 0 and s.counted[0] >= s.items and len(s.windows[0][0]):
        return float(len(np.unique(s.windows[0][0].core)))
    return float(min(cores, max(1, -(-s.items // wave_size))))


def _as_counts(rep: memsim.Report) -> dict:
    return {"levels": [{k: float(getattr(st, k)) for k in _COUNTERS} for st in rep.levels],
            "dram_read": float(rep.dram_bytes_read), "dram_written": float(rep.dram_bytes_written),
            "dram_requests": float(rep.dram_requests)}


def _sub(a, b):
    if isinstance(a, list):
        return [{k: max(0.0, x[k] - y[k]) for k in x} for x, y in zip(a, b, strict=True)]
    return max(0.0, a - b)


def _add_all(counts: list[dict]) -> dict:
    out = counts[0]
    for c in counts[1:]:
        out = {k: ([{f: x[f] + y[f] for f in x} for x, y in zip(v, c[k], strict=True)] if isinstance(v, list)
                   else v + c[k]) for k, v in out.items()}
    return out


def _scale(c: dict, factor: float) -> dict:
    return {k: ([{f: x[f] * factor for f in x} for x in v] if isinstance(v, list) else v * factor)
            for k, v in c.items()}
