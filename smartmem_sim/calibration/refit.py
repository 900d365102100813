"""Refit the timing parameters of a profile on measured kernels and report train vs held-out accuracy.

One command (no device; the measured rows come from ``smartmem validate --csv``)::

    PYTHONPATH=. .venv/bin/python -m smartmem_sim.calibration.refit \\
        --csv experiments/results/calibration/h100/validate.csv --profile h100_opencl \\
        --train swin,convnext --out experiments/results/calibration/h100/refit_h100_opencl

Steps: (1) simulate every measured step once under the profile (terms.py; cached as OUT/terms.csv and
reused while the CSV and profile are unchanged); (2) fit the four device-wide parameters of
timing_fit.py on the steps of the ``--train`` models; (3) score the profile as shipped and as refitted on
train and held-out models (within +-10% / +-25%, median |error|, Spearman rho, per op type, and how often
the layouts of one operator are ordered as measured), plus leave-one-model-out cross-validation;
(4) write OUT/report.txt, OUT/predictions.csv and OUT/PROFILE_refit.toml (the profile with the fitted values
and their sources, the launch overhead in its [execution] table), which ``smartmem validate --profile`` accepts.

Steps whose kernels are known to differ from the measured ones (kernel_hash) are left out and counted.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
from datetime import date
from pathlib import Path

import numpy as np

from smartmem_sim.calibration import correction_fit as C
from smartmem_sim.calibration import terms as T
from smartmem_sim.calibration import timing_fit as F
from smartmem_sim.calibration import validate as V
from smartmem_sim.calibration.refit_args import add_arguments
from smartmem_sim.errors import UserError

# profile keys that change no term (the fitted parameters and the labels); any other change re-simulates
NOT_IN_TERMS = ("name", "description", "memory_parallelism", "occupancy", "source", "correction")
# keys of [execution] that change no term: launch overhead is fitted, texel_reuse is keyed apart (load_terms)
EXECUTION_NOT_IN_TERMS = ("launch_overhead_s", "texel_reuse", "source")


def terms_key(csv_path: str, profile_file: Path) -> str:
    """Hash of the measured rows and of the profile's term-relevant content."""
    data = tomllib.loads(profile_file.read_text())
    relevant = {k: v for k, v in data.items() if k not in NOT_IN_TERMS}
    if isinstance(relevant.get("execution"), dict):
        relevant["execution"] = {k: v for k, v in relevant["execution"].items() if k not in EXECUTION_NOT_IN_TERMS}
    h = hashlib.sha256(Path(csv_path).read_bytes())
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load_terms(csv_path: str, profile: str, out: Path, texel_reuse: bool, log=print) -> list[T.StepTerms]:
    """Terms of every row under ``profile`` (kernels traced with or without texel registers), from
    OUT/terms.csv when it was made from the same inputs."""
    from smartmem_sim import memsim
    from smartmem_sim.atomic import write_text
    from smartmem_sim.compiler.costs import SimulatedCost
    from smartmem_sim.kernels.trace.sample import ProgramSampler

    key = terms_key(csv_path, memsim.profiles.profile_path(profile)) + ("" if texel_reuse else "-noreuse")
    cache, stamp = out / "terms.csv", out / "terms.key"
    if cache.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        log(f"terms: reusing {cache}")
        return T.read_terms(str(cache))
    cost = SimulatedCost(V.device_for(profile), ProgramSampler(texel_reuse=texel_reuse))
    steps = T.extract(V.read_rows(csv_path), cost, log=log)
    write_text(str(cache), T.terms_csv(steps))
    write_text(str(stamp), key + "\n")
    return steps


def shipped_params(device) -> F.TimingParams:
    """The profile's own values (an absent [occupancy] reads as the pre-occupancy formula: unlimited
    in-flight per work-item, no issue limit)."""
    occ = device.occupancy
    return F.TimingParams(device.execution.launch_overhead_s * 1e6, device.memory_parallelism,
                          occ.reads_in_flight_per_item if occ else 1e12,
                          occ.accesses_per_core_per_cycle if occ else 1e12)


def _rows(steps, pred) -> list[V.KernelRow]:
    return [V.KernelRow(s.model, s.policy, s.storage, s.step, s.node, s.op_type, s.kernels, s.layouts,
                        s.measured_us, float(p), s.sampled) for s, p in zip(steps, pred, strict=True)]


def _score_line(label: str, rows: list[V.KernelRow]) -> str:
    if not rows:
        return f"{label:34s} (no steps)"
    s = V.summarize(rows)
    w25 = float(np.mean([abs(r.rel_error) <= 0.25 for r in rows]))
    a, t = s["layout_pairs"]
    pairs = f"{a}/{t} ({a / t:.1%})" if t else "-"
    return (f"{label:34s} {s['kernels']:6d} {s['within']:7.1%} {w25:7.1%} {s['median_abs_error']:8.1%} "
            f"{s['spearman']:6.3f}  {pairs}")


def repeat_ceiling(steps) -> tuple[float, float, int]:
    """Identical kernels (same model, storage and kernel source hash) measured at several places of a plan:
    the share of their times within +-10% / +-25% of their group's median, and how many steps that covers.
    No per-kernel model that ignores what ran before a kernel can score better on these steps."""
    from collections import defaultdict

    groups: dict[tuple, list[float]] = defaultdict(list)
    for st in steps:
        groups[(st.model, st.storage, st.measured_hash or st.current_hash)].append(st.measured_us)
    dev = np.concatenate([np.asarray(m) / np.median(m) - 1 for m in groups.values() if len(m) > 1] or [np.zeros(0)])
    if not dev.size:
        return float("nan"), float("nan"), 0
    return float(np.mean(np.abs(dev) <= 0.10)), float(np.mean(np.abs(dev) <= 0.25)), int(dev.size)


def identifiability(k, meas, mask, consts, fitted: F.TimingParams, loss: float, factor: float = 4.0,
                    rise: float = 0.01) -> dict[str, str]:
    """For each fitted parameter: the training loss with it fixed at value / factor and value * factor (the
    others refitted). A side where the loss rises by less than ``rise`` (relative) is not pinned down by
    the data: the value is then only a bound. Returns name -> one line."""
    lines = {}
    for name in F.FITTED:
        v = getattr(fitted, name)
        sides = []
        for w in (v / factor, v * factor):
            _, lw = F.fit(k, meas, mask, *consts, start=fitted, fixed={name: w})
            sides.append(lw)
        lo_ok, hi_ok = sides[0] > loss * (1 + rise), sides[1] > loss * (1 + rise)
        verdict = ("identified" if lo_ok and hi_ok else f"only a lower bound (>= ~{v / factor:.3g})" if lo_ok
                   else f"only an upper bound (<= ~{v * factor:.3g})" if hi_ok else "not identified")
        lines[name] = (f"{v:.4g}: loss {sides[0]:.3f} at /{factor:g}, {sides[1]:.3f} at x{factor:g} "
                       f"(best {loss:.3f}) -> {verdict}")
    return lines


def model_totals(steps, predictions: dict[str, np.ndarray]) -> list[str]:
    """Per model and policy: the measured sum of its steps and each prediction's sum (error in brackets), and
    per model whether each prediction orders the policies as the measurements do."""
    from collections import defaultdict

    meas: dict[tuple[str, str], float] = defaultdict(float)
    pred = {name: defaultdict(float) for name in predictions}
    for i, st in enumerate(steps):
        meas[(st.model, st.policy)] += st.measured_us
        for name, p in predictions.items():
            pred[name][(st.model, st.policy)] += float(p[i])
    names = list(predictions)
    lines = [f"{'model':18s} {'policy':9s} {'measured ms':>12s}  " + "  ".join(f"{n:>24s}" for n in names)]
    for key in sorted(meas):
        cells = "  ".join(f"{pred[n][key] / 1e3:12.3f} ({pred[n][key] / meas[key] - 1:+6.1%})" for n in names)
        lines.append(f"{key[0]:18s} {key[1]:9s} {meas[key] / 1e3:12.3f}  {cells}")
    for model in sorted({m for m, _ in meas}):
        pols = sorted(p for m, p in meas if m == model)
        order = sorted(pols, key=lambda p: meas[(model, p)])
        verdict = ", ".join(f"{n} {'right' if sorted(pols, key=lambda p: pred[n][(model, p)]) == order else 'wrong'}"
                            for n in names)
        lines.append(f"{model:18s} measured order {' < '.join(order)}: {verdict}")
    return lines


HEADER = f"{'':34s} {'steps':>6s} {'+-10%':>7s} {'+-25%':>7s} {'med|e|':>8s} {'rho':>6s}  layout pairs agree"


def run(csv_path: str, profile: str, train: list[str], out: Path, texel_reuse: bool | None = None,
        log=print) -> dict:
    """The whole refit (module docstring); returns the fitted parameters and scores. ``texel_reuse``: how
    the measured kernels were built (None: the texel_reuse of the profile's [execution] table)."""
    from smartmem_sim.atomic import write_text

    prof = V.device_for(profile)
    if texel_reuse is None:
        texel_reuse = prof.execution.texel_reuse
    if prof.occupancy is None:
        raise UserError(f"profile {profile}: no [occupancy] table (max_items_per_core is needed); add one")
    out.mkdir(parents=True, exist_ok=True)
    steps = load_terms(csv_path, profile, out, texel_reuse, log)
    models = sorted({s.model for s in steps})
    unknown = sorted(set(train) - set(models))
    if unknown or not train:
        raise UserError(f"--train: {unknown or 'nothing'} not among the measured models {models}")
    usable = [s for s in steps if s.same_kernels]
    dropped = len(steps) - len(usable)
    checked = sum(1 for s in steps if s.hash_checked)
    k = F.Kernels.from_steps(usable)
    meas = np.array([s.measured_us for s in usable])
    is_train = np.array([s.model in train for s in usable])
    consts = (prof.clock_hz, prof.occupancy.max_items_per_core)
    start = shipped_params(prof)
    fitted, loss = F.fit(k, meas, is_train, *consts, start=start)
    pred_before = F.predict_us(k, start, *consts)
    pred_after = F.predict_us(k, fitted, *consts)

    lines = [f"refit of {prof.name} ({profile}) on {csv_path}, kernels traced with texel registers "
             f"{'on' if texel_reuse else 'off'}",
             f"steps: {len(steps)} ({checked} with a recorded kernel_hash, {dropped} left out because the "
             f"measured kernels differ from the current code; {len(steps) - checked} unchecked: no hash)",
             f"train models: {', '.join(train)}; held out: {', '.join(m for m in models if m not in train)}",
             f"constants: cores {prof.cores}, clock {prof.clock_hz / 1e6:.0f} MHz, max_items_per_core "
             f"{prof.occupancy.max_items_per_core:g}", "",
             "parameters          " + "  ".join(f"{n:>28s}" for n in F.FITTED),
             "as shipped          " + "  ".join(f"{v:28.4g}" for v in start.as_array()),
             "fitted (train)      " + "  ".join(f"{v:28.4g}" for v in fitted.as_array()),
             f"(train loss: mean |log error| {loss:.3f}; each parameter fixed a factor 4 off, the others refitted:)"]
    ident = identifiability(k, meas, is_train, consts, fitted, loss)
    lines += [f"  {n:28s} {text}" for n, text in ident.items()]
    c10, c25, cn = repeat_ceiling(usable)
    lines += ["", f"repeatability: {cn} steps run kernels that also ran elsewhere in their plan; {c10:.1%} of them "
                  f"measure within +-10% of their group's median ({c25:.1%} within +-25%): the ceiling of a "
                  "model that predicts a kernel from the kernel alone", "", HEADER]
    rows_b, rows_a = _rows(usable, pred_before), _rows(usable, pred_after)
    for tag, sel in (("train", is_train), ("held-out", ~is_train)):
        lines.append(_score_line(f"as shipped, {tag}", [r for r, m in zip(rows_b, sel, strict=True) if m]))
        lines.append(_score_line(f"refitted, {tag}", [r for r, m in zip(rows_a, sel, strict=True) if m]))
    lines += ["", "leave-one-model-out (fit on the other models, score the one left out):", HEADER]
    cv_pred = np.full(len(usable), np.nan)
    for m in models:
        sel = np.array([s.model == m for s in usable])
        p, _ = F.fit(k, meas, ~sel, *consts, start=start)
        cv_pred[sel] = F.predict_us(k, p, *consts)[sel]
        lines.append(_score_line(f"{m} (fit: " + ", ".join(f"{v:.3g}" for v in p.as_array()) + ")",
                                 [r for r, s_ in zip(_rows(usable, cv_pred), sel, strict=True) if s_]))
    lines.append(_score_line("all, each model held out", _rows(usable, cv_pred)))
    lines += ["", "per op type, held-out models, refitted:"]
    held = [r for r, m in zip(rows_a, ~is_train, strict=True) if m]
    if held:
        lines += V.report_lines(V.summarize(held))[1:-1]

    # the learned correction per op kind, on top of the refitted formula (smartmem_sim/memsim/correction.py)
    terms = [s.terms for s in usable]
    kinds = [s.op_type for s in usable]
    names = [s.model for s in usable]
    corr, lam, cv = C.fit(terms, pred_after, meas, kinds, names, is_train)
    fac = C.factors(corr, terms, pred_after, kinds)
    rows_c = _rows(usable, pred_after * fac)
    lines += ["", f"learned correction per op kind (correction_fit.py; {len(corr.kinds)} kinds with coefficients, "
                  f"lam {lam:g} chosen by leave-one-training-model-out: "
                  + (", ".join(f"{k:g} -> {v:.3f}" for k, v in cv.items()) or "one training model") + ")", HEADER]
    for tag, sel in (("refitted + correction, train", is_train), ("refitted + correction, held-out", ~is_train)):
        lines.append(_score_line(tag, [r for r, m in zip(rows_c, sel, strict=True) if m]))
    cvc_pred = np.full(len(usable), np.nan)
    for m in models:
        sel = np.array([s.model == m for s in usable])
        p, _ = F.fit(k, meas, ~sel, *consts, start=start)
        pm = F.predict_us(k, p, *consts)
        cm, _, _ = C.fit(terms, pm, meas, kinds, names, ~sel)
        cvc_pred[sel] = (pm * C.factors(cm, terms, pm, kinds))[sel]
    lines.append(_score_line("leave-one-model-out + correction", _rows(usable, cvc_pred)))
    lines += ["", "how much the correction moved each prediction (held-out steps: median factor, 10th-90th "
                  "percentile; 1 = formula alone):"]
    for kind in sorted(set(kinds)):
        sel = np.array([q == kind for q in kinds]) & ~is_train
        if sel.any():
            f10, f50, f90 = np.percentile(fac[sel], [10, 50, 90])
            how = "no coefficients (factor 1)" if kind not in corr.kinds else f"x{f50:.2f} ({f10:.2f}-{f90:.2f})"
            lines.append(f"  {kind:24s} {int(sel.sum()):6d} steps  {how}")
    lines += ["", "per model and policy, sums of the measured steps (each policy's plan as measured):"]
    lines += model_totals(usable, {"refitted": pred_after, "refitted + correction": pred_after * fac,
                                   "each model held out": cv_pred})
    held_c = [r for r, m in zip(rows_c, ~is_train, strict=True) if m]
    if held_c:
        lines += ["", "per op type, held-out models, refitted + correction:"]
        lines += V.report_lines(V.summarize(held_c))[1:-1]
    text = "\n".join(lines) + "\n"
    write_text(str(out / "report.txt"), text)
    write_text(str(out / "predictions.csv"), V.rows_csv(rows_a))
    write_text(str(out / "predictions_corrected.csv"), V.rows_csv(rows_c))
    _write_profile(profile, prof, fitted, train, csv_path, out, ident, (corr, lam))
    log(text)
    return {"fitted": fitted, "loss": loss}


def _write_profile(profile: str, prof, p: F.TimingParams, train, csv_path, out: Path,
                   ident: dict[str, str], correction=None) -> None:
    from smartmem_sim.atomic import write_text
    from smartmem_sim.calibration.profile_out import base_source, to_toml
    from smartmem_sim.memsim.profiles import profile_path

    data = tomllib.loads(profile_path(profile).read_text())
    name = f"{prof.name}_refit"
    why = (f"calibrated: smartmem_sim.calibration.refit (timing_fit.py, mean |log error| of step times) on "
           f"{', '.join(train)} of {csv_path}, {date.today().isoformat()}")
    data["name"] = name
    data["memory_parallelism"] = float(f"{p.memory_parallelism:.4g}")
    data["source"]["memory_parallelism"] = f"{why}; {ident['memory_parallelism']}"
    for k in ("reads_in_flight_per_item", "accesses_per_core_per_cycle"):
        data["occupancy"][k] = float(f"{getattr(p, k):.4g}")
        data["occupancy"]["source"][k] = f"{why}; {ident[k]}"
    ex = prof.execution  # the profile's own table, or the one device_for found for it
    data["execution"] = {"wave_size": ex.wave_size, "alu_lanes": ex.alu_lanes,
                         "launch_overhead_s": float(f"{p.launch_overhead_us * 1e-6:.4g}"), "texel_reuse": ex.texel_reuse}
    data["execution"]["source"] = {k: base_source(prof, f"execution.{k}") for k in data["execution"]
                                   if f"execution.{k}" in prof.sources}
    data["execution"]["source"]["launch_overhead_s"] = f"{why}; {ident['launch_overhead_us']} (us)"
    if "texel_reuse" not in data["execution"]["source"]:  # the base left it at its default
        del data["execution"]["texel_reuse"]
    data.pop("correction", None)
    if correction is not None and correction[0].kinds:
        corr, lam = correction
        data["correction"] = corr.to_table() | {"source": {
            "clip": "choice: a factor outside 1/8..8 would mean the formula is wrong for the kind, not off",
            "kinds": f"{why}: least absolute log error per op kind over the features, ridge lam {lam:g} "
                     "chosen by leave-one-training-model-out (correction_fit.py)"}}
    write_text(str(out / f"{name}.toml"), to_toml(data, f"{name}: {prof.name} with timing parameters refitted "
                                                        f"on measured kernels (refit report: report.txt)"))


def run_args(args: argparse.Namespace) -> int:
    reuse = {"on": True, "off": False, "device": None}[args.texel_reuse]
    if not Path(args.csv).is_file():
        print(f"error: measured rows {args.csv} do not exist (write them with smartmem validate --csv)", file=sys.stderr)
        return 2
    try:
        run(args.csv, args.profile, [m.strip() for m in args.train.split(",") if m.strip()], Path(args.out), reuse)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smartmem_sim.calibration.refit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    return run_args(ap.parse_args(argv))

if __name__ == "__main__":
    sys.exit(main())
