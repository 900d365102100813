"""Per-kernel timing terms of measured plan steps: simulate once, fit many times.

The simulator's counts (hits, misses, bytes per level) depend on a profile's cache geometry, latencies and
bandwidths, but not on the timing parameters calibration fits (memory_parallelism, reads in flight per
work-item, issue rate, launch overhead; smartmem_sim/memsim/timing.py). So every measured step of a validate CSV is
simulated once under the profile (smartmem_sim.compiler.costs.SimulatedCost.terms) and its kernels' terms are written
to a CSV; smartmem_sim/calibration/timing_fit.py then recombines them under trial parameters in
milliseconds.

Each step also gets the hash of the OpenCL source of the kernels that the current code generates for it
(smartmem_sim/calibration/kernel_hash.py). A validate CSV written since this hash exists records the hash of the kernels that
ran; a row whose hashes differ was measured on other kernels than the ones simulated now, and the fit
leaves it out (older CSVs have no hash: their rows are used unchecked, and the report says so).
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from smartmem_sim.calibration.kernel_hash import kernel_hash
from smartmem_sim.calibration.validate import replanned
from smartmem_sim.compiler.costs import KernelTerms, SimulatedCost
from smartmem_sim.errors import UserError

TERM_FIELDS = [f.name for f in fields(KernelTerms)]
STEP_FIELDS = ["row", "model", "policy", "storage", "step", "node", "op_type", "layouts", "kernels",
               "measured_us", "measured_hash", "current_hash", "sampled"]
CSV_FIELDS = STEP_FIELDS + ["kernel"] + TERM_FIELDS


@dataclass(frozen=True)
class StepTerms:
    """One measured step and the terms of its kernels."""

    row: int
    model: str
    policy: str
    storage: str
    step: str
    node: str
    op_type: str
    layouts: str
    kernels: int
    measured_us: float
    measured_hash: str
    current_hash: str
    sampled: float
    terms: tuple[KernelTerms, ...]

    @property
    def hash_checked(self) -> bool:
        return bool(self.measured_hash)

    @property
    def same_kernels(self) -> bool:
        """False only when the measured kernels are known to differ from the simulated ones."""
        return not self.measured_hash or self.measured_hash == self.current_hash


def extract(rows, cost: SimulatedCost, seed: int = 0, log=print) -> list[StepTerms]:
    """Terms of every row (validate.KernelRow) under ``cost``'s profile; plans compiled as validate does.
    The kernels hashed are built as ``cost.sampler`` traces them (its ``texel_reuse``, default on)."""
    reuse = bool(getattr(cost.sampler, "texel_reuse", True))
    out: list[StepTerms] = []
    for label, policy, plan, found, t0 in replanned(rows, seed):
        for i, r, step in found:
            kc = cost.evaluate(plan, step)
            terms = tuple(cost.terms(plan, step))
            out.append(StepTerms(i, label, policy, r.storage, r.step, r.node, r.op_type, r.layouts, r.kernels,
                                 r.measured_us, getattr(r, "kernel_hash", ""), kernel_hash(plan, step, reuse),
                                 kc.sampled, terms))
        log(f"{label:24s} {policy:9s} terms of {len(found)} steps ({time.perf_counter() - t0:5.1f} s)")
    return sorted(out, key=lambda s: s.row)


def terms_csv(steps: list[StepTerms]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for s in steps:
        head = [s.row, s.model, s.policy, s.storage, s.step, s.node, s.op_type, s.layouts, s.kernels,
                repr(s.measured_us), s.measured_hash, s.current_hash, repr(s.sampled)]
        for k, t in enumerate(s.terms):
            w.writerow(head + [k] + [repr(v) for v in astuple(t)])
    return buf.getvalue()


def read_terms(path: str) -> list[StepTerms]:
    """Steps of a CSV written by :func:`terms_csv`."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"terms file {path} does not exist")
    by_row: dict[int, list] = {}
    with open(p, newline="") as fh:
        for n, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                row = int(rec["row"])
                term = KernelTerms(**{f: float(rec[f]) for f in TERM_FIELDS})
                if row not in by_row:
                    by_row[row] = [rec, []]
                by_row[row][1].append(term)
            except (KeyError, TypeError, ValueError) as exc:
                raise UserError(f"{path}: line {n}: bad or missing field ({exc}); expected the columns "
                                f"{', '.join(CSV_FIELDS)}") from None
    if not by_row:
        raise UserError(f"{path}: no rows")
    out = []
    for row, (rec, terms) in sorted(by_row.items()):
        out.append(StepTerms(row, rec["model"], rec["policy"], rec["storage"], rec["step"], rec["node"],
                             rec["op_type"], rec["layouts"], int(rec["kernels"]), float(rec["measured_us"]),
                             rec["measured_hash"], rec["current_hash"], float(rec["sampled"]), tuple(terms)))
    return out
