"""Table 7 of the paper, ops column: operators in the graph and kernels after each policy, for the
18 zoo networks at full size, next to the paper's numbers.

Counts (definitions):
* ``graph``: nodes of the cleaned ONNX graph (smartmem_sim.compiler.frontend.load_model: shape logic folded,
  Constant/Identity/Dropout removed); ``layout_ops``: its layout-transformation operators
  (smartmem_sim.compiler.analysis.counts.is_layout_transform);
* ``naive`` / ``fusion`` / ``smartmem``: kernels in the policy's Plan (smartmem_sim.compiler.pipeline.compile_model),
  i.e. steps, with the COPY steps among them in ``*_copies`` (layout operators executed, implicit
  conversions, extra layout copies, materialized outputs);
* ``paper_*``: the paper's Table 7 (ops in graph, after DNNFusion, after SmartMem), where known.

Structure-only models suffice (no weights are read). Writes, atomically, under
experiments/results/table7/: ``table7_op_counts.csv``, ``table7_op_counts.md`` (both tagged with
the commit) and the figure ``table7_op_counts.{png,svg,pdf}``. Run: ``.venv/bin/python experiments/table7_op_counts.py [--models a,b] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smartmem_sim.compiler.analysis.counts import layout_transforms  # noqa: E402
from smartmem_sim.compiler.frontend import load_model  # noqa: E402
from smartmem_sim.compiler.pipeline import compile_model  # noqa: E402

# The paper's Table 7 columns; `search` makes smartmem's moves (same kernel count), only layouts differ.
TABLE7_POLICIES = ("naive", "fusion", "smartmem")
from smartmem_sim import zoo  # noqa: E402
from smartmem_sim.atomic import write_text  # noqa: E402
from smartmem_sim.errors import UserError  # noqa: E402
from smartmem_sim.zoo import registry, store  # noqa: E402

COLUMNS = ["model", "family", "graph", "layout_ops", "naive", "naive_copies", "fusion", "fusion_copies",
           "smartmem", "smartmem_copies", "paper_graph", "paper_dnnfusion", "paper_smartmem", "seconds"]


def count_model(name: str) -> dict:
    """One row of the table for zoo network ``name`` (full size, structure only)."""
    t0 = time.perf_counter()
    entry = registry.entry(name)
    graph = load_model(zoo.load(name, tiny=False, weights=False), name=name)
    row = {"model": name, "family": entry.family, "graph": len(graph),
           "layout_ops": layout_transforms(graph)["total"]}
    for policy in TABLE7_POLICIES:
        plan = compile_model(graph, policy)
        row[policy] = plan.count()
        row[f"{policy}_copies"] = plan.count("Copy")
    row.update(paper_graph=entry.paper_ops, paper_dnnfusion=entry.paper_ops_dnnfusion,
               paper_smartmem=entry.paper_ops_smartmem, seconds=round(time.perf_counter() - t0, 2))
    return row


def to_csv(rows: list[dict], tag: str) -> str:
    buf = io.StringIO()
    buf.write(f"# {tag}\n")
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in COLUMNS})
    return buf.getvalue()


def to_markdown(rows: list[dict], missing: list[str], tag: str) -> str:
    def cell(v):
        return "-" if v is None else str(v)

    lines = [f"Table 7 (ops): kernels per policy, ours vs the paper ({tag})", "",
             "| model | graph (paper) | layout ops | naive (copies) | fusion (copies) / paper DNNFusion "
             "| smartmem (copies) / paper SmartMem |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['graph']} ({cell(r['paper_graph'])}) | {r['layout_ops']} | "
                     f"{r['naive']} ({r['naive_copies']}) | {r['fusion']} ({r['fusion_copies']}) / "
                     f"{cell(r['paper_dnnfusion'])} | {r['smartmem']} ({r['smartmem_copies']}) / "
                     f"{cell(r['paper_smartmem'])} |")
    if missing:
        lines += ["", f"Not in the zoo when this ran (no committed full-size model): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path, tag: str) -> None:
    """Kernels per policy (bars in the policy's colour, layout copies hatched over them) with the paper's
    counts (black markers)."""
    import numpy as np

    from experiments import common
    from smartmem_sim.figure_style import color, figure_legend, plain_log_ticks, style_context

    with style_context():
        x = np.arange(len(rows))
        fig, ax = common.figure(figsize=(7.2, 3.8))
        for k, p in enumerate(TABLE7_POLICIES):
            ax.bar(x + (k - 1) * 0.27, [r[p] for r in rows], 0.27, label=p, color=color(p))
            ax.bar(x + (k - 1) * 0.27, [r[f"{p}_copies"] for r in rows], 0.27, fill=False, hatch="////",
                   edgecolor="white", lw=0)
        ax.bar([0], [np.nan], fill=False, hatch="////", edgecolor="0.3", lw=0, label="of which layout copies")
        for key, marker, label in (("paper_graph", "_", "paper: ops in the graph"),
                                   ("paper_dnnfusion", "+", "paper: after DNNFusion"),
                                   ("paper_smartmem", "x", "paper: after SmartMem")):
            ax.scatter(x, [r[key] if r[key] is not None else np.nan for r in rows], marker=marker, s=30,
                       color=color("paper"), label=label, zorder=3)
        ax.set_xticks(x, [r["model"] for r in rows], rotation=40, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_yscale("log")
        ax.set_ylim(bottom=1)
        ax.set_ylabel("kernels")
        ax.set_title("Table 7: kernels per policy, full size")
        plain_log_ticks(ax)
        figure_legend(fig, where="right", order=(*TABLE7_POLICIES, "of which layout copies"))
        common.save(fig, path, tag)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="", help="comma-separated zoo names (default: all 18)")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "table7"), help="output folder")
    from experiments import common

    common.figure_arguments(ap)
    args = common.parse_args(ap, argv)
    out = Path(args.out)
    if args.replot:
        rows = common.read_csv(out / "table7_op_counts.csv")
        plot(rows, out / "table7_op_counts.png", (out / "table7_op_counts.csv").read_text().splitlines()[0][2:])
        return 0
    names = [n for n in args.models.split(",") if n] or zoo.list_models()
    for n in names:
        registry.entry(n)  # unknown names fail before any work
    rows, missing = [], []
    t0 = time.perf_counter()
    for n in names:
        if not store.model_path(n, False).exists():
            missing.append(n)
            print(f"{n}: no committed full-size model, skipped", flush=True)
            continue
        try:
            row = count_model(n)
        except UserError as exc:
            missing.append(n)
            print(f"{n}: {exc}", flush=True)
            continue
        rows.append(row)
        print(f"{n}: graph {row['graph']}, naive {row['naive']}, fusion {row['fusion']}, smartmem {row['smartmem']} "
              f"({row['seconds']} s)", flush=True)
    # common.commit: outputs being rewritten and untracked files do not make the tree "dirty"
    tag = f"commit {common.commit()}, {len(rows)} models, {time.perf_counter() - t0:.1f} s"
    write_text(out / "table7_op_counts.csv", to_csv(rows, tag))
    write_text(out / "table7_op_counts.md", to_markdown(rows, missing, tag))
    if rows:
        plot(rows, out / "table7_op_counts.png", tag)
    print(to_markdown(rows, missing, tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
