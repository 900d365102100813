"""Is policy ``search`` ever worse than ``smartmem`` under the simulator? (issue 8)

For every zoo network (full size where the .onnx is committed, else its tiny twin; ``--tiny``: the twins),
compile ``smartmem`` and ``search`` and simulate both plans with one shared memsim-backed cost model
(smartmem_sim.simulation.cost_model(device)), the same model the search asks. Writes, under
experiments/results/search_vs_smartmem/:

- ``search_vs_smartmem_<device>[_tiny].csv``: one row per network (predicted ms of both plans, the ratio
  search / smartmem, the search's own prediction, solver, size of the layout problem, seconds spent), a
  ``# commit ...`` first line and a final ``geomean`` row;
- ``search_vs_smartmem_<device>[_tiny].md``: the geo-mean ratio and every network where search lost.

The CSV is rewritten (atomically) after every network, so an interrupted run leaves what it finished.
Exit status 1 when search is predicted slower than smartmem anywhere (beyond float rounding), else 0.

    PYTHONPATH=. .venv/bin/python experiments/search_vs_smartmem.py [--tiny] [--models swin,vit] [--device adreno740]
"""
from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import time
from math import exp, log
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smartmem_sim.atomic import write_text  # noqa: E402
from smartmem_sim.errors import UserError  # noqa: E402

OUT = ROOT / "experiments" / "results" / "search_vs_smartmem"
LOSS_TOLERANCE = 1e-9  # relative: plans summed in another order may differ in the last bits
COLUMNS = ("model", "size", "kernels_smartmem", "kernels_search", "smartmem_ms", "search_ms", "search_over_smartmem",
           "rel_error_smartmem", "rel_error_search", "search_predicted_before_ms", "search_predicted_after_ms",
           "method", "variables", "factors", "evaluations", "changed", "compile_search_s", "simulate_s")


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def geomean(xs) -> float:
    vals = [float(x) for x in xs if x is not None and float(x) > 0]
    return exp(sum(log(x) for x in vals) / len(vals)) if vals else float("nan")


def compare(name: str, tiny: bool, device: str, candidates: int) -> dict:
    """One network: both plans simulated with the shared cost model of ``device``."""
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.simulation import DEFAULT_STORAGE, cost_model, load_graph, simulate_plan
    from smartmem_sim.zoo import store

    twin = tiny or not store.model_path(name, False).exists()
    graph = load_graph(name, tiny=twin)
    cost = cost_model(device)
    t0 = time.perf_counter()
    smart = simulate_plan(compile_model(graph, "smartmem", DEFAULT_STORAGE), device, cost)
    t1 = time.perf_counter()
    plan = compile_model(graph, "search", DEFAULT_STORAGE, cost=cost, search_candidates=candidates)
    t2 = time.perf_counter()
    search = simulate_plan(plan, device, cost)
    t3 = time.perf_counter()
    s = plan.search
    return {"model": name, "size": "tiny twin" if twin else "full size",
            "kernels_smartmem": len(smart.kernels), "kernels_search": len(search.kernels),
            "smartmem_ms": smart.seconds * 1e3, "search_ms": search.seconds * 1e3,
            "search_over_smartmem": search.seconds / smart.seconds,
            "rel_error_smartmem": smart.rel_error, "rel_error_search": search.rel_error,
            "search_predicted_before_ms": s["predicted_before_s"] * 1e3,
            "search_predicted_after_ms": s["predicted_after_s"] * 1e3, "method": s["method"],
            "variables": s["variables"], "factors": s["factors"], "evaluations": s["evaluations"],
            "changed": len(s["changed"]), "compile_search_s": t2 - t1, "simulate_s": (t1 - t0) + (t3 - t2)}


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def write_results(rows: list[dict], out: Path, tag: str, header: str) -> tuple[float, list[dict]]:
    """CSV (with a geomean row) and the summary; returns (geo-mean ratio, rows where search lost)."""
    geo = geomean(r["search_over_smartmem"] for r in rows)
    lost = [r for r in rows if r["search_over_smartmem"] > 1 + LOSS_TOLERANCE]
    buf = io.StringIO()
    buf.write(header + "\n")
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r[k]) for k in COLUMNS})
    w.writerow({"model": "geomean", "search_over_smartmem": _fmt(geo)})
    write_text(out / f"search_vs_smartmem_{tag}.csv", buf.getvalue())
    lines = [f"# search vs smartmem on {tag}", "", header.lstrip("# "), "",
             f"networks: {len(rows)}; geo-mean predicted time search / smartmem: {geo:.4f} "
             f"(< 1: search faster); best {min((r['search_over_smartmem'] for r in rows), default=float('nan')):.4f}",
             "", "search slower than smartmem: " + (", ".join(f"{r['model']} (x{r['search_over_smartmem']:.6f})"
                                                           for r in lost) or "nowhere"), ""]
    write_text(out / f"search_vs_smartmem_{tag}.md", "\n".join(lines))
    return geo, lost


def main(argv: list[str] | None = None) -> int:
    from smartmem_sim import zoo
    from smartmem_sim.simulation import SEARCH_CANDIDATES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="", help="comma-separated zoo names (empty: every zoo network)")
    ap.add_argument("--device", default="adreno740", help="device profile name")
    ap.add_argument("--tiny", action="store_true", help="the zoo's tiny twins instead of full-size networks")
    ap.add_argument("--candidates", type=int, default=SEARCH_CANDIDATES, help="layouts per searched tensor")
    ap.add_argument("--out", default=str(OUT), help="output folder")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()] or zoo.list_models()
    unknown = [n for n in names if n not in zoo.list_models()]
    if unknown:
        raise UserError(f"--models: {unknown} are not zoo networks ({', '.join(zoo.list_models())})")
    if args.candidates < 1:
        raise UserError(f"--candidates must be >= 1, got {args.candidates}")
    tag = f"{args.device}{'_tiny' if args.tiny else ''}"
    header = (f"# commit {_commit()}, device {args.device}, storage fp16, search candidates {args.candidates}, "
              f"cost smartmem_sim.simulation.cost_model (shared by both policies)")
    from tqdm import tqdm

    rows: list[dict] = []
    bar = tqdm(names, unit="net", file=sys.stderr)
    for name in bar:
        bar.set_postfix_str(name)
        rows.append(compare(name, args.tiny, args.device, args.candidates))
        r = rows[-1]
        tqdm.write(f"{name:<16} {r['size']:<9} smartmem {r['smartmem_ms']:.4f} ms  search {r['search_ms']:.4f} ms  "
                   f"x{r['search_over_smartmem']:.4f}  ({r['method']}, search {r['compile_search_s']:.1f} s)")
        geo, lost = write_results(rows, Path(args.out), tag, header)
    print(f"geo-mean search / smartmem over {len(rows)} networks: {geo:.4f}; search slower on: "
          f"{', '.join(r['model'] for r in lost) or 'none'}")
    return 1 if lost else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
