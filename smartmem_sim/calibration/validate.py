"""``smartmem validate``: run a matrix of kernels on a device and compare each kernel's measured time with
memsim's prediction under a profile.

The matrix: zoo models (tiny twins and full-size networks; "sizes") x policies (naive, fusion, smartmem:
the same operators in different layouts, with or without the layout copies; "layouts"). Every plan step
(one operator, with its fused epilogue) is one row: measured = the device time of its kernels (OpenCL
profiling, median over ``repeat`` runs of the plan), predicted = smartmem_sim.compiler.costs.SimulatedCost under the
profile (the cost oracle the compiler uses, sampled traces of the very kernels that ran).

Per op type the report gives the share of kernels within +-10% and Spearman's rho of predicted vs measured;
for operators that appear under several policies in different layouts, how often the profile orders the
layouts as the device does (pairs whose measured times differ by > 5%).
"""
from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from smartmem_sim.calibration import stats
from smartmem_sim.calibration.kernel_hash import kernel_hash, source_hash
from smartmem_sim.compiler.costs import SimulatedCost
from smartmem_sim.errors import UserError
from smartmem_sim.memsim import DeviceProfile

POLICIES = ("naive", "fusion", "smartmem")


@dataclass(frozen=True)
class KernelRow:
    model: str  # zoo name, with ".tiny" for a tiny twin
    policy: str
    storage: str
    step: str
    node: str  # main IR node of the step ("" for a layout copy)
    op_type: str
    kernels: int
    layouts: str  # layout names of the step's stored tensors (inputs -> outputs)
    measured_us: float
    predicted_us: float
    sampled: float  # share of work-items the prediction simulated (1 = exact)
    image_max: str = ""  # the device's largest image2d, "WxH" (plans move larger images to buffers)
    kernel_hash: str = ""  # kernel_hash.source_hash of the OpenCL sources that ran ("" in CSVs older than the hash)

    @property
    def rel_error(self) -> float:
        return (self.predicted_us - self.measured_us) / self.measured_us


def device_for(profile_path: str, execution: dict | None = None, base: str | None = None) -> DeviceProfile:
    """The memsim.DeviceProfile a cost model prices on, from a profile (a shipped name or a .toml path). Its
    [execution] table (wave size, ALU lanes, launch overhead; smartmem_sim/memsim/execution.py) is, first found:
    ``execution`` (a table as :func:`read_execution` returns it), the profile ``base``'s, the profile's own,
    or, for a profile file without one, the PROFILE.execution.toml that older versions of
    ``smartmem calibrate`` wrote beside it."""
    from smartmem_sim import memsim
    from smartmem_sim.memsim.profiles import execution_from_table

    try:
        profile = memsim.load_profile(profile_path)
    except memsim.MemsimError as exc:
        raise UserError(f"--profile: {exc}") from None
    try:
        if execution is None and base is None and profile.execution is None:
            sibling = Path(profile_path).with_suffix(".execution.toml")
            if Path(profile_path).suffix == ".toml" and sibling.is_file():
                execution = read_execution(str(sibling))
        if execution is not None:
            return profile.with_execution(*execution_from_table(execution, "--execution"))
        if base is not None:
            other = memsim.load_profile(base)
            return profile.with_execution(other.require_execution(),
                                          {k: v for k, v in other.sources.items() if k.startswith("execution.")})
        profile.require_execution()
    except memsim.MemsimError as exc:
        raise UserError(f"{exc}; or pass --execution FILE or --base NAME (a profile with an [execution] table)") \
            from None
    return profile


def read_execution(path: str) -> dict:
    """The execution table of a TOML file: its [execution] table (e.g. another profile's), or the single
    [devices.NAME] table of the files older versions of calibrate and refit wrote beside a profile."""
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--execution file {path} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    if isinstance(data.get("execution"), dict):
        return data["execution"]
    tables = data.get("devices", {})
    if len(tables) != 1:
        raise UserError(f"{path}: expected an [execution] table (or exactly one [devices.NAME] table), "
                        f"found {len(tables)} [devices.NAME] tables")
    return next(iter(tables.values()))


def _layout_names(plan, step) -> str:
    ins = [plan.tensors[op.tensor].layout.name for op in step.inputs if op is not None and op.tensor in plan.tensors]
    outs = [plan.tensors[t].layout.name for t in step.outputs]
    return ",".join(ins) + "->" + ",".join(outs)


def _graph(model: str, tiny: bool, seed: int):
    from smartmem_sim import zoo
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.frontend.weights import materialize_weights

    if model not in zoo.list_models():
        raise UserError(f"--models: '{model}' is not a zoo network ({', '.join(zoo.list_models())})")
    onnx_model = materialize_weights(zoo.load(model, tiny=tiny, weights=False), seed)
    label = model + (".tiny" if tiny else "")
    return label, load_model(onnx_model, name=label)


def _plan(graph, policy: str, storage: str, image_max: tuple[int, int]):
    from types import SimpleNamespace

    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.kernels.execute import fit_to_device

    limits = SimpleNamespace(info=SimpleNamespace(image2d_max_width=image_max[0], image2d_max_height=image_max[1]))
    return fit_to_device(compile_model(graph, policy, storage=storage), limits)[0]


GATE = 128  # kernels enqueued before the device may start them (execute's gate)


def measure_model(model: str, tiny: bool, policies: Sequence[str], storage: str, handle, repeat: int,
                  seed: int = 0, log=print, texel_reuse: bool = True, gate: int = GATE) -> list[KernelRow]:
    """Every step of ``model`` under each policy, measured on ``handle`` (predicted_us left nan); kernels
    built with or without texel registers (``texel_reuse``; the CSV's kernel_hash tells which), enqueued
    ``gate`` at a time behind a user event (smartmem_sim.kernels.execute: kernels measured back to back, not
    each waiting for the host's launch loop; 0 = as `smartmem run` launches)."""
    from smartmem_sim.inputs import random_inputs
    from smartmem_sim.kernels.execute import execute

    label, graph = _graph(model, tiny, seed)
    feeds = random_inputs(graph, seed)
    image_max = (handle.info.image2d_max_width, handle.info.image2d_max_height)
    rows = []
    for policy in policies:
        t0 = time.perf_counter()
        plan = _plan(graph, policy, storage, image_max)
        inputs = {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}
        first = execute(plan, handle, inputs, texel_reuse=texel_reuse, gate=gate)
        runs = [first] + [execute(plan, handle, inputs, kernels=first.kernels, gate=gate) for _ in range(repeat - 1)]
        per_kernel = np.median(np.array([[t.duration_ns for t in r.timings] for r in runs]), axis=0)
        measured: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        sources: dict[str, list[str]] = defaultdict(list)
        for k, ns in zip(first.kernels, per_kernel, strict=True):
            measured[k.step] += float(ns) / 1e3
            count[k.step] += 1
            sources[k.step].append(k.source)
        for step in plan.steps:
            if step.id in measured:
                rows.append(KernelRow(label, policy, storage, step.id, step.nodes[0] if step.nodes else "",
                                      step.op_type, count[step.id], _layout_names(plan, step), measured[step.id],
                                      float("nan"), float("nan"), f"{image_max[0]}x{image_max[1]}",
                                      source_hash(sources[step.id])))
        log(f"{label:24s} {policy:9s} {len(plan.steps):4d} steps  measured {sum(measured.values()) / 1e3:9.3f} ms "
            f"({time.perf_counter() - t0:5.1f} s)")
    return rows


def replanned(rows: Sequence, seed: int = 0):
    """Yield ``(label, policy, plan, [(index, row, step), ...], t0)`` per (model, policy, storage, image limit)
    group of measured ``rows``, its plan compiled again (compilation is deterministic, so step ids match the
    measured ones); a measured step missing from the plan is an error."""
    groups: dict[tuple, list[tuple[int, KernelRow]]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r.model, r.policy, r.storage, r.image_max)].append((i, r))
    graphs: dict[str, object] = {}
    for (label, policy, storage, image_max), rs in groups.items():
        t0 = time.perf_counter()
        if label not in graphs:
            graphs[label] = _graph(label.removesuffix(".tiny"), label.endswith(".tiny"), seed)[1]
        w, _, h = image_max.partition("x")
        plan = _plan(graphs[label], policy, storage, (int(w), int(h)) if h else (1 << 30, 1 << 30))
        steps = {s.id: s for s in plan.steps}
        found = []
        for i, r in rs:
            step = steps.get(r.step)
            if step is None or step.op_type != r.op_type:
                raise UserError(f"{label} {policy}: measured step '{r.step}' ({r.op_type}) is not in the plan "
                                "compiled now; were the rows measured at another commit?")
            found.append((i, r, step))
        yield label, policy, plan, found, t0


def predict_rows(rows: list[KernelRow], cost: SimulatedCost, seed: int = 0, log=print) -> list[KernelRow]:
    """``rows`` with predicted_us from ``cost``: every measured step of :func:`replanned` evaluated (its kernels
    traced as ``cost.sampler`` builds them, with or without texel registers)."""
    reuse = bool(getattr(cost.sampler, "texel_reuse", True))
    out = []
    differ = 0
    for label, policy, plan, found, t0 in replanned(rows, seed):
        for _, r, step in found:
            kc = cost.evaluate(plan, step)
            out.append(replace(r, predicted_us=kc.seconds * 1e6, sampled=kc.sampled))
            if r.kernel_hash and r.kernel_hash != kernel_hash(plan, step, reuse):
                differ += 1
        log(f"{label:24s} {policy:9s} predicted {len(found)} steps ({time.perf_counter() - t0:5.1f} s)")
    unchecked = sum(1 for r in rows if not r.kernel_hash)
    if differ or unchecked:
        log(f"warning: {differ} measured steps ran other kernels than the current code generates "
            f"(kernel_hash differs); {unchecked} rows carry no kernel_hash (unchecked)")
    return out


def run_model(model: str, tiny: bool, policies: Sequence[str], storage: str, handle, cost: SimulatedCost,
              repeat: int, seed: int = 0, log=print, gate: int = GATE) -> list[KernelRow]:
    """Every step of ``model`` under each policy: measured on ``handle`` and predicted by ``cost``."""
    reuse = bool(getattr(cost.sampler, "texel_reuse", True))
    return predict_rows(measure_model(model, tiny, policies, storage, handle, repeat, seed, log, reuse, gate),
                        cost, seed, log)


def read_rows(path: str, keep_predicted: bool = False) -> list[KernelRow]:
    """Rows of a CSV written by :func:`rows_csv`; the predictions are dropped (the caller predicts again)
    unless ``keep_predicted`` (to redraw a plot)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--from-csv file {path} does not exist" if not keep_predicted else f"{path}: no such file")
    out = []
    with open(p, newline="") as fh:
        for i, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                predicted = (float(rec["predicted_us"]), float(rec.get("sampled") or "nan")) if keep_predicted \
                    else (float("nan"), float("nan"))
                out.append(KernelRow(rec["model"], rec["policy"], rec["storage"], rec["step"], rec["node"],
                                     rec["op_type"], int(rec["kernels"]), rec["layouts"],
                                     float(rec["measured_us"]), *predicted, rec.get("image_max", "") or "",
                                     rec.get("kernel_hash", "") or ""))
            except (KeyError, ValueError) as exc:
                raise UserError(f"{path}: line {i}: bad or missing field ({exc}); expected the columns "
                                f"{', '.join(CSV_FIELDS)}") from None
    if not out:
        raise UserError(f"{path}: no rows")
    return out


def summarize(rows: list[KernelRow], band: float = 0.10) -> dict:
    """Overall and per-op accuracy, and layout-order agreement (module docstring)."""
    if not rows:
        raise UserError("validate: no kernel was measured")
    err = np.array([r.rel_error for r in rows])
    out = {"kernels": len(rows), "within": stats.share_within(err, band), "band": band,
           "median_abs_error": float(np.median(np.abs(err))),
           "spearman": stats.spearman([r.predicted_us for r in rows], [r.measured_us for r in rows]),
           "per_op": {}, "layout_pairs": (0, 0)}
    by_op: dict[str, list[KernelRow]] = defaultdict(list)
    for r in rows:
        by_op[r.op_type].append(r)
    for op, rs in sorted(by_op.items(), key=lambda kv: -len(kv[1])):
        e = [r.rel_error for r in rs]
        out["per_op"][op] = {"kernels": len(rs), "within": stats.share_within(e, band),
                             "median_abs_error": float(np.median(np.abs(e))),
                             "spearman": stats.spearman([r.predicted_us for r in rs], [r.measured_us for r in rs])}
    groups: dict[tuple, list[KernelRow]] = defaultdict(list)
    for r in rows:
        if r.node and r.op_type != "COPY":
            groups[(r.model, r.storage, r.node)].append(r)
    agree = total = 0
    for rs in groups.values():
        if len({r.layouts for r in rs}) < 2:
            continue
        a, t = stats.pair_agreement([r.predicted_us for r in rs], [r.measured_us for r in rs])
        agree, total = agree + a, total + t
    out["layout_pairs"] = (agree, total)
    return out


def report_lines(summary: dict) -> list[str]:
    b = int(round(summary["band"] * 100))
    lines = [f"kernels: {summary['kernels']}, within +-{b}%: {summary['within']:.1%}, median |error| "
             f"{summary['median_abs_error']:.1%}, Spearman rho {summary['spearman']:.3f}",
             f"{'op':24s} {'kernels':>7s} {'within':>7s} {'med|err|':>9s} {'rho':>6s}"]
    for op, s in summary["per_op"].items():
        lines.append(f"{op:24s} {s['kernels']:7d} {s['within']:7.1%} {s['median_abs_error']:9.1%} "
                     f"{s['spearman']:6.2f}")
    a, t = summary["layout_pairs"]
    lines.append(f"layout order (same operator, different layouts, measured gap > 5%): {a}/{t} pairs agree"
                 + (f" ({a / t:.1%})" if t else ""))
    return lines


CSV_FIELDS = [f for f in KernelRow.__dataclass_fields__] + ["rel_error"]


def rows_csv(rows: list[KernelRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**asdict(r), "rel_error": f"{r.rel_error:.4f}"})
    return buf.getvalue()


# op types in a fixed order, so an op keeps its colour and marker in every validate plot; Okabe-Ito without
# its yellow (too pale for small markers on white) and black (the y = x line's) times three marker shapes
# gives 18 distinct styles
OP_ORDER = ("MatMul", "Conv", "Copy", "Add", "Mul", "Softmax", "LayerNormalization", "Gemm", "Gelu", "ReduceMean",
            "Pad", "Concat", "Gather", "Sigmoid", "Relu", "MaxPool")
_OP_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_OP_MARKERS = ("o", "s", "^")


def op_styles(op_types) -> dict[str, tuple[str, str]]:
    """(colour, marker) per op type: known ones by OP_ORDER, others after them in sorted order."""
    ops = sorted(set(op_types), key=lambda o: (OP_ORDER.index(o) if o in OP_ORDER else len(OP_ORDER), o))
    styles = {}
    for op in ops:
        i = OP_ORDER.index(op) if op in OP_ORDER else len(OP_ORDER) + sorted(set(ops) - set(OP_ORDER)).index(op)
        styles[op] = (_OP_COLORS[i % len(_OP_COLORS)], _OP_MARKERS[(i // len(_OP_COLORS)) % len(_OP_MARKERS)])
    return styles


def plot(rows: list[KernelRow], path: str, title: str, band: float = 0.10, description: str = "",
         stamp: bool = False) -> list[Path]:
    """Predicted vs measured (log-log), one colour and marker per op type (every op type in the legend,
    beside the axes), the line y = x and the +-band around it, both labelled. Writes PNG (200 dpi), SVG and
    PDF beside ``path`` (smartmem_sim.figure_style.save; ``description`` goes into their metadata) and
    returns their paths. The points are rasterized inside the SVG and PDF: thousands of vector markers
    would make each file megabytes."""
    import textwrap

    from smartmem_sim.figure_style import color, plain_log_ticks, save, style_context

    with style_context():
        from smartmem_sim.figure_style import new_figure

        fig, ax = new_figure(figsize=(7.2, 5.2))
        by_op: dict[str, list[KernelRow]] = defaultdict(list)
        for r in rows:
            by_op[r.op_type].append(r)
        styles = op_styles(by_op)
        for op, (colour, marker) in styles.items():
            rs = by_op[op]
            ax.scatter([r.measured_us for r in rs], [r.predicted_us for r in rs], s=9, alpha=0.6, color=colour,
                       marker=marker, linewidths=0, label=f"{op} ({len(rs)})", rasterized=True)
        lo = min(min(r.measured_us, r.predicted_us) for r in rows) / 1.3
        hi = max(max(r.measured_us, r.predicted_us) for r in rows) * 1.3
        xs = np.array([lo, hi])
        ax.fill_between(xs, xs * (1 - band), xs * (1 + band), color="0.6", alpha=0.35, lw=0, zorder=0.4,
                        label=f"within +-{band:.0%} of measured")
        ax.plot(xs, xs, color=color("paper"), lw=0.9, zorder=0.5, label="predicted = measured")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        plain_log_ticks(ax, "x")
        plain_log_ticks(ax, "y")
        ax.set_xlabel("measured kernel time (us)")
        ax.set_ylabel("predicted kernel time (us)")
        # long titles (profile, device, CSV path) wrap instead of running off the figure
        ax.set_title(textwrap.fill(title, 72), fontsize=8)
        handles, labels = ax.get_legend_handles_labels()
        # op types (with their kernel counts) first, the two reference artists last
        order = [labels.index(f"{op} ({len(by_op[op])})") for op in styles]
        order += [i for i in range(len(labels)) if i not in order]
        fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside right upper",
                   title="op type (kernels)", markerscale=1.6)
        return save(fig, path, description=description, stamp=stamp)


def with_parallelism(device: DeviceProfile, mp: float) -> DeviceProfile:
    """The same profile with another memory_parallelism."""
    return replace(device, memory_parallelism=float(mp))
