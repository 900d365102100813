"""What every experiment script shares: the commit tag, geometric means, the paper's numbers (data in
experiments/paper_numbers.toml), command-line arguments, results through the sweep (smartmem_sim.sweep:
cached by content hash, so scripts share results and a rerun computes only what is missing), CSV with a
header line, and figures in the house style (smartmem_sim.figure_style: PNG, SVG and PDF, the commit in
their metadata)."""
from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from functools import cache
from math import exp, isfinite, log
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smartmem_sim.atomic import write_text  # noqa: E402
from smartmem_sim.errors import UserError  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
PAPER_FILE = ROOT / "experiments" / "paper_numbers.toml"
CACHE_DIR = ROOT / ".cache" / "sweep"
# paper_numbers.toml: section -> keys it must have (besides `source`); numbers unless named in _TEXT_KEYS
PAPER_SCHEMA = {
    "table1": ("models",),
    "table8": ("geomean_over_mnn", "geomean_over_tvm", "geomean_over_dnnfusion", "geomean_over_tflite",
               "geomean_over_ncnn"),
    "v100": ("swin_before_ms", "swin_after_ms", "autoformer_before_ms", "autoformer_after_ms"),
    "fig7": ("access_reduction", "miss_reduction"),
    "ablation": ("elimination_low", "elimination_high", "selection_low", "selection_high", "mapping_low",
                 "mapping_high", "regnet_over_dnnfusion", "yolov8_over_dnnfusion"),
    "roofline": ("texture_gb_s", "dram_gb_s", "peak_tmac_s"),
}
TABLE1_KEYS = ("paper_name", "latency_ms", "implicit_pct", "explicit_pct", "compute_pct")


# ---------------------------------------------------------------- provenance

@cache
def commit() -> str:
    """Short hash of HEAD, with ``-dirty`` when tracked files have changes (results being rewritten under
    experiments/results/ do not count: they are what the scripts write)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)experiments/results"], cwd=ROOT, capture_output=True, text=True).stdout
        return out + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_CODE_VERSIONS: set[str] = set()  # sweep code versions of the records this process has read


def header(**facts: Any) -> str:
    """The first line of every CSV: ``# commit X, code V (the sweep's hash of the sources), key value, ...``."""
    code = "+".join(sorted(_CODE_VERSIONS)) or "-"
    return "# " + ", ".join([f"commit {commit()}", f"code {code}"] + [f"{k} {v}" for k, v in facts.items()])


# ---------------------------------------------------------------- numbers

def geomean(xs: Iterable[float | None]) -> float:
    """Geometric mean of the positive finite values (NaN when there are none)."""
    vals = [float(x) for x in xs if x is not None and x != "" and isfinite(float(x)) and float(x) > 0]
    return exp(sum(log(x) for x in vals) / len(vals)) if vals else float("nan")


def ratio(a: float | None, b: float | None) -> float:
    """a / b, NaN when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return float("nan")
    return float(a) / float(b)


def parse_paper(data: dict, origin: str = str(PAPER_FILE)) -> dict:
    """Check a paper_numbers document against PAPER_SCHEMA; return it."""
    unknown = sorted(set(data) - set(PAPER_SCHEMA))
    if unknown:
        raise UserError(f"{origin}: unknown section(s) {unknown}; known: {sorted(PAPER_SCHEMA)}")
    for section, keys in PAPER_SCHEMA.items():
        t = data.get(section)
        if not isinstance(t, dict):
            raise UserError(f"{origin}: section [{section}] is missing")
        if not isinstance(t.get("source"), str):
            raise UserError(f"{origin}: [{section}] needs a `source` string saying where its numbers come from")
        extra = sorted(set(t) - set(keys) - {"source"})
        missing = sorted(set(keys) - set(t))
        if extra or missing:
            raise UserError(f"{origin}: [{section}] has unknown key(s) {extra} / lacks {missing}")
        for k in keys:
            if k != "models" and (isinstance(t[k], bool) or not isinstance(t[k], int | float) or t[k] <= 0):
                raise UserError(f"{origin}: [{section}] {k} = {t[k]!r} must be a positive number")
    for name, row in data["table1"]["models"].items():
        if not isinstance(row, dict) or set(row) != set(TABLE1_KEYS):
            raise UserError(f"{origin}: [table1.models.{name}] must have exactly the keys {list(TABLE1_KEYS)}")
    return data


@cache
def paper() -> dict:
    """The paper's numbers (experiments/paper_numbers.toml), checked."""
    try:
        with PAPER_FILE.open("rb") as fh:
            return parse_paper(tomllib.load(fh))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{PAPER_FILE}: not valid TOML: {exc}") from None


def zoo_paper(name: str) -> dict[str, float | None]:
    """Table 7 of the paper for zoo network ``name`` (ops and latencies, None where unknown)."""
    from smartmem_sim.zoo import registry

    e = registry.entry(name) if name in registry.names() else None
    keys = ("paper_ops", "paper_ops_dnnfusion", "paper_ops_smartmem", "paper_ms_mnn", "paper_ms_tvm",
            "paper_ms_dnnfusion", "paper_ms_smartmem")
    return {k: (getattr(e, k) if e else None) for k in keys}


# ---------------------------------------------------------------- command line

def parser(doc: str, out: str, models: Sequence[str] = (), tiny: bool = False,
           device: str = "adreno740") -> argparse.ArgumentParser:
    """The arguments every script takes: --models, --device, --tiny/--full, --out, --workers, --cache-dir."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--models", default=",".join(models), help="comma-separated zoo names or .onnx paths "
                    "(empty: all 18 zoo networks)")
    ap.add_argument("--device", default=device, help="device profile name or .toml path")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--tiny", dest="tiny", action="store_true", default=tiny, help="the zoo's tiny twins")
    size.add_argument("--full", dest="tiny", action="store_false", help="full-size networks")
    ap.add_argument("--out", default=str(RESULTS / out), help="output folder")
    ap.add_argument("--workers", type=int, default=2, help="sweep worker processes")
    ap.add_argument("--cache-dir", default=str(CACHE_DIR), help="sweep result cache")
    figure_arguments(ap)
    return ap


def figure_arguments(ap: argparse.ArgumentParser) -> None:
    """--stamp and --replot, which every script takes (table7 too, whose parser is its own)."""
    ap.add_argument("--stamp", action="store_true", help="draw the commit and command under each figure (they "
                    "are always in the files' metadata)")
    ap.add_argument("--replot", action="store_true", help="redraw the figure from the CSV already in --out, "
                    "simulating nothing")


def parse_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``ap.parse_args(argv)``, applying --stamp to every figure this process saves."""
    global STAMP
    args = ap.parse_args(argv)
    STAMP = bool(getattr(args, "stamp", False))
    return args


def model_names(text: str) -> list[str]:
    """Zoo names (checked) and .onnx paths from a comma-separated list; all 18 when empty."""
    from smartmem_sim import zoo

    names = [n.strip() for n in text.split(",") if n.strip()] or zoo.list_models()
    for n in names:
        if not n.endswith(".onnx") and n not in zoo.list_models():
            raise UserError(f"--models: '{n}' is neither an .onnx path nor a zoo network "
                            f"({', '.join(zoo.list_models())})")
    return names


def run_tasks(tasks: Sequence, args: argparse.Namespace, what: str) -> list[dict]:
    """Records of ``tasks`` (in order) through the sweep (``--workers`` processes on dask; 1: in this process,
    same cache); failed tasks are reported and come back with ``error``."""
    from smartmem_sim.sweep import run_sweep

    t0 = time.perf_counter()
    print(f"{what}: {len(tasks)} tasks (cached results are reused; cache {args.cache_dir})", flush=True)
    if args.workers == 1:
        records = run_in_process(list(tasks), args.cache_dir)
    else:
        records = run_sweep(list(tasks), cache_dir=args.cache_dir, workers=args.workers, progress=True)
    failed = [r for r in records if "error" in r]
    _CODE_VERSIONS.update(r["code_version"] for r in records if r.get("code_version"))
    for r in failed:
        print(f"  FAILED {r.get('model')} {r.get('policy')} {r.get('device')} batch {r.get('batch')}: "
              f"{r['error'][:300]}", flush=True)
    print(f"{what}: {len(records) - len(failed)} results, {len(failed)} failed, {time.perf_counter() - t0:.1f} s",
          flush=True)
    return records


def policy_grid(args: argparse.Namespace, policies: Sequence[str], what: str) -> tuple[list[str], list[dict]]:
    """(model names, records) of every ``--models`` network under every policy on ``--device`` (the grid
    most scripts read), through :func:`run_tasks`."""
    from smartmem_sim.sweep import Task

    names = model_names(args.models)
    return names, run_tasks([Task(n, args.device, p, tiny=args.tiny) for n in names for p in policies], args, what)


def exit_status(records: Sequence[dict]) -> int:
    """A script's exit status: 1 when any task failed (its results are still written), else 0."""
    return 1 if any(not ok(r) for r in records) else 0


def run_in_process(tasks: Sequence, cache_dir: str | Path) -> list[dict]:
    """The sweep's records computed one after another in this process, through the same cache (no dask:
    nothing to start, and no worker whose code version can differ while files change under it)."""
    import traceback

    from smartmem_sim.sweep import code_version, task_key
    from smartmem_sim.sweep.compute import compute_task, error_record, read_result, write_result

    code = code_version()
    records, contexts = [], {}
    for i, task in enumerate(tasks):
        key = task_key(task, code)
        rec = read_result(cache_dir, key)
        if rec is None:
            ctx = contexts.setdefault((task.model, task.tiny, task.batch), {})
            try:
                rec = compute_task(task, key, code, ctx)
                write_result(cache_dir, rec)
            except Exception as exc:  # noqa: BLE001 - reported per task, the others go on (as the sweep does)
                rec = error_record(task, key, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            print(f"  [{i + 1}/{len(tasks)}] {task.model} {task.policy} {task.device} batch {task.batch} "
                  f"{dict(task.overrides) or ''} {rec.get('wall_s', '-')} s", flush=True)
        records.append({**rec, **task.as_json()})
    return records


def ok(record: dict) -> bool:
    return "error" not in record


def level_total(record: dict, level: str, field: str) -> float:
    """Sum over a record's kernels of one cache level's ``field`` (accesses, misses, bytes_filled)."""
    return float(sum(k["levels"].get(level, {}).get(field, 0.0) for k in record.get("per_kernel", ())))


def level_names(record: dict) -> list[str]:
    """Cache levels of a record, innermost first."""
    for k in record.get("per_kernel", ()):
        return list(k["levels"])
    return []


# ---------------------------------------------------------------- output

def csv_text(rows: Sequence[dict], columns: Sequence[str], head: str) -> str:
    buf = io.StringIO()
    buf.write(head.rstrip("\n") + "\n")
    w = csv.DictWriter(buf, list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in columns})
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else f"{v:.6g}"
    return v


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str], head: str) -> None:
    write_text(path, csv_text(rows, columns, head))
    print(f"wrote {path}", flush=True)


STAMP = False  # --stamp: draw the commit and command under each figure too (set by parse_args)


def figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (7.0, 3.6), **kw):
    """A (Figure, axes) pair in the house style (smartmem_sim.figure_style; no pyplot, no backend switch)."""
    from smartmem_sim.figure_style import new_figure

    return new_figure(nrows=nrows, ncols=ncols, figsize=figsize, **kw)


def styled(plot):
    """Decorate a plot function to run under the house rcParams: text made after the axes (titles, labels,
    legends) takes its size from the rcParams of the moment, not from those the figure was made under."""
    from functools import wraps

    @wraps(plot)
    def run(*args, **kwargs):
        from smartmem_sim.figure_style import style_context

        with style_context():
            return plot(*args, **kwargs)

    return run


# series that are neither policies nor the paper (zoo networks in Fig 10, device profiles in Fig 11) take
# Okabe-Ito colours of no policy those figures show (they plot smartmem over naive and fusion), so none of
# their colours reads as naive, fusion or smartmem; fixed per name, so a network or device keeps its colour
OTHER_COLORS = ("#E69F00", "#56B4E9", "#CC79A7", "#000000")
MODEL_COLORS = {"swin": "#E69F00", "vit": "#56B4E9", "resnext": "#CC79A7"}
DEVICE_COLORS = {"adreno740": "#E69F00", "adreno540": "#56B4E9", "mali_g57": "#CC79A7"}


def model_color(name: str, index: int = 0) -> str:
    return MODEL_COLORS.get(name, OTHER_COLORS[index % len(OTHER_COLORS)])


def device_color(name: str, index: int = 0) -> str:
    return DEVICE_COLORS.get(name, OTHER_COLORS[index % len(OTHER_COLORS)])


def command_line() -> str:
    """The command that is running, paths relative to the repository (so metadata does not name a checkout)."""
    words = [str(Path(sys.argv[0]).resolve().relative_to(ROOT)) if Path(sys.argv[0]).resolve().is_relative_to(ROOT)
             else Path(sys.argv[0]).name] + sys.argv[1:]
    return " ".join(w.replace(str(ROOT) + "/", "") for w in words)


def save(fig, path: Path, note: str = "") -> None:
    """Write ``fig`` beside ``path`` as PNG (200 dpi), SVG and PDF, atomically. The commit, ``note`` (device)
    and the command go into each file's metadata; with --stamp they are drawn under the figure as well."""
    from smartmem_sim.figure_style import save as save_styled

    description = "; ".join(x for x in (f"commit {commit()}", note, command_line()) if x)
    for written in save_styled(fig, Path(path), description=description, stamp=STAMP):
        print(f"wrote {written}", flush=True)


def ratio_axes(ax, labels: Sequence[str], ylabel: str, title: str = "") -> None:
    """The x axis of one bar group per model and a log y axis of ratios, plain decimal ticks, with a labelled
    line at 1. Call it after the bars are drawn (the tick density follows the data's range)."""
    from smartmem_sim.figure_style import plain_log_ticks, reference_line

    reference_line(ax, 1.0, "ratio 1 (no change)")
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    plain_log_ticks(ax, "y")


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv` (its ``#`` header line skipped): numbers as floats, empty
    cells as None, other text as it is. --replot draws a figure from these instead of simulating."""
    if not Path(path).is_file():
        raise UserError(f"--replot: {path} does not exist (run the script without --replot first)")
    lines = [ln for ln in Path(path).read_text().splitlines() if ln and not ln.startswith("#")]
    rows = []
    for rec in csv.DictReader(lines):
        row: dict[str, Any] = {}
        for k, v in rec.items():
            if v == "":
                row[k] = None
                continue
            try:
                row[k] = float(v)
            except ValueError:
                row[k] = v
        rows.append(row)
    return rows


def size_label(tiny: bool) -> str:
    return "tiny twins" if tiny else "full size"


def by_model(records: Sequence[dict], key: str = "policy") -> dict[str, dict[str, dict]]:
    """{model: {record[key]: record}} of the successful records, models in first-seen order."""
    out: dict[str, dict[str, dict]] = {}
    for r in records:
        if ok(r):
            out.setdefault(r["model"], {})[r[key]] = r
    return out


def h100_speedups(path: Path = RESULTS / "h100" / "h100_models.csv") -> dict[str, dict[str, float]]:
    """Measured H100 (OpenCL) speedups from experiments/results/h100: {model: {over_naive, over_fusion}} of
    smartmem, plus ``search_over_smartmem`` where search was measured; empty when the file is absent."""
    if not path.is_file():
        return {}
    ms: dict[str, dict[str, float]] = {}
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    for row in csv.DictReader(lines):
        ms.setdefault(row["model"], {})[row["policy"]] = float(row["total_device_ms"])
    out = {m: {"over_naive": ratio(p.get("naive"), p.get("smartmem")),
               "over_fusion": ratio(p.get("fusion"), p.get("smartmem"))} for m, p in ms.items()}
    for m, p in ms.items():
        if "search" in p:
            out[m]["search_over_smartmem"] = ratio(p.get("smartmem"), p["search"])
    return out
