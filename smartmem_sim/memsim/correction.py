"""A learned correction of the timing formula per kernel kind: the optional ``[correction]`` table of a profile.

The formula of smartmem_sim/memsim/timing.py is physical and device-wide; what it cannot see (instruction
mix, how a compiler schedules a loop, driver behaviour per kernel kind) shows up as an error that depends on
the kind of kernel and on a few of the simulator's own numbers. In the spirit of nn-Meter (Zhang et al.,
MobiSys 2021: per-kernel-kind predictors), a profile may carry, per operator kind, a log-linear factor on
the formula's step time::

    factor = clip(exp(c_0 + sum_i c_i * feature_i), 1 / clip, clip)
    step_seconds = formula_step_seconds * factor        # formula_step_seconds includes the launch overhead

over the features named in :data:`FEATURES` (smartmem_sim/compiler/costs/correction.py computes them from
a step's kernel terms). A kind without coefficients gets factor 1. memsim itself never applies it (it
knows no operators); the cost models do, and say by how much (``smartmem explain-time``).
smartmem_sim/calibration/correction_fit.py fits the coefficients on measured kernels of some models and
reports them on others.

Table layout (the coefficients are fitted, so one source covers them)::

    [correction]
    features = ["log_predicted_us", ...]        # the names of FEATURES, in the coefficients' order
    clip = 8.0                                 # largest factor either way
    [correction.kinds]
    MatMul = [c_0, c_1, ...]                   # 1 + len(features) numbers
    [correction.source]
    clip = "choice: ..."
    kinds = "calibrated: ..."
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from smartmem_sim.memsim.errors import MemsimError

FEATURES = {
    "log_predicted_us": "log of the formula's step time in microseconds (launch overhead included)",
    "log_accesses_per_item": "log of trace rows (work-item loads and stores) per work-item",
    "log_work_items": "log of the step's work-items",
    "log_mean_latency": "log of the mean latency of an access in cycles (latency_sum / accesses)",
    "log_miss_share": "log of (miss latency + 1) / (latency + 1): how much of the latency is past L1",
    "log_compute_over_bandwidth": "log of (compute cycles + 1) / (busiest level's transfer cycles + 1)",
}


@dataclass(frozen=True)
class Correction:
    """A profile's ``[correction]`` table: per operator kind, coefficients over ``features``."""

    features: tuple[str, ...]
    clip: float
    kinds: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.features or any(f not in FEATURES for f in self.features) \
                or len(set(self.features)) != len(self.features):
            raise MemsimError(f"field 'features' must name distinct features among {', '.join(FEATURES)}, "
                              f"got {list(self.features)!r}")
        c = self.clip
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) or c < 1:
            raise MemsimError(f"field 'clip' must be a finite number >= 1, got {c!r}")
        object.__setattr__(self, "clip", float(c))
        for kind, coef in self.kinds.items():
            if not isinstance(coef, list | tuple) or len(coef) != 1 + len(self.features) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in coef):
                raise MemsimError(f"kinds.{kind}: must be {1 + len(self.features)} finite numbers "
                                  f"(intercept, then one per feature), got {coef!r}")
        object.__setattr__(self, "kinds", {k: tuple(float(v) for v in c) for k, c in self.kinds.items()})

    def factor(self, kind: str, values: dict[str, float]) -> float:
        """The step-time factor for an operator of ``kind`` whose features are ``values`` (1 without
        coefficients for the kind)."""
        coef = self.kinds.get(kind)
        if coef is None:
            return 1.0
        z = coef[0] + sum(c * values[f] for c, f in zip(coef[1:], self.features, strict=True))
        return float(min(max(math.exp(min(max(z, -50.0), 50.0)), 1.0 / self.clip), self.clip))

    def to_table(self) -> dict:
        return {"features": list(self.features), "clip": self.clip,
                "kinds": {k: list(v) for k, v in sorted(self.kinds.items())}}

    @classmethod
    def from_dict(cls, table: dict, where: str = "correction") -> Correction:
        allowed = {"features", "clip", "kinds"}
        unknown = sorted(set(table) - allowed)
        missing = sorted(allowed - set(table))
        if unknown or missing:
            raise MemsimError(f"{where}: " + "; ".join(
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
                + ([f"missing key(s) {', '.join(missing)}"] if missing else [])) + f"; keys: {', '.join(sorted(allowed))}")
        if not isinstance(table["features"], list) or not all(isinstance(f, str) for f in table["features"]):
            raise MemsimError(f"{where}: field 'features' must be a list of names")
        if not isinstance(table["kinds"], dict):
            raise MemsimError(f"{where}: 'kinds' must be a table of operator kind = [coefficients]")
        try:
            return cls(tuple(table["features"]), table["clip"], dict(table["kinds"]))
        except MemsimError as exc:
            raise MemsimError(f"{where}: {exc}") from None
