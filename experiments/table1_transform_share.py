"""Table 1 of the paper: the share of `naive` (MNN-like) latency spent in layout transformations, split into
implicit ones (conversion copies the framework inserts where an operator reads a tensor against its default
layout) and explicit ones (Reshape/Transpose/... of the model executed as copies), next to the paper's MNN
measurements on the Snapdragon 8 Gen 2.

Simulated on a device profile (default adreno740). An implicit transform is a COPY step that converts a
stored tensor into another layout (step ``copy_<tensor>@<layout>``); every other COPY step is explicit.
Writes ``table1_transform_share.csv`` and ``.png`` under experiments/results/table1/.

    .venv/bin/python experiments/table1_transform_share.py [--models swin,cswin] [--tiny] [--device adreno740]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

COLUMNS = ["model", "size", "naive_ms", "transform_pct", "implicit_pct", "explicit_pct", "compute_pct",
           "implicit_kernels", "explicit_kernels", "paper_name", "paper_latency_ms", "paper_transform_pct",
           "paper_implicit_pct", "paper_explicit_pct", "paper_compute_pct"]


def is_implicit(step_id: str) -> bool:
    """A conversion copy inserted by the layout pass (smartmem_sim/compiler/passes/layouts.py names them copy_T@LAYOUT)."""
    return step_id.startswith("copy_") and "@" in step_id


def share_row(record: dict, paper_row: dict | None) -> dict:
    """One table row from a `naive` sweep record (per_kernel seconds) and the paper's row (or None)."""
    from smartmem_sim.layout.plan import COPY

    total = record["seconds"]
    implicit = [k for k in record["per_kernel"] if k["op_type"] == COPY and is_implicit(k["step"])]
    explicit = [k for k in record["per_kernel"] if k["op_type"] == COPY and not is_implicit(k["step"])]
    imp = sum(k["seconds"] for k in implicit)
    exp_ = sum(k["seconds"] for k in explicit)
    row = {"model": record["model"], "size": common.size_label(record["tiny"]), "naive_ms": total * 1e3,
           "transform_pct": 100 * (imp + exp_) / total, "implicit_pct": 100 * imp / total,
           "explicit_pct": 100 * exp_ / total, "compute_pct": 100 * (total - imp - exp_) / total,
           "implicit_kernels": len(implicit), "explicit_kernels": len(explicit)}
    if paper_row:
        row.update(paper_name=paper_row["paper_name"], paper_latency_ms=paper_row["latency_ms"],
                   paper_transform_pct=paper_row["implicit_pct"] + paper_row["explicit_pct"],
                   paper_implicit_pct=paper_row["implicit_pct"], paper_explicit_pct=paper_row["explicit_pct"],
                   paper_compute_pct=paper_row["compute_pct"])
    return row


# ours in the warm colours the other figures give layout transforms, the paper's in greys (the paper is black)
TABLE1_COLORS = {("", "implicit"): "#F0E442", ("", "explicit"): "#E69F00",
                 ("paper_", "implicit"): "0.8", ("paper_", "explicit"): "0.45"}


@common.styled
def plot(rows: list[dict], path: Path, device: str) -> None:
    import numpy as np

    from smartmem_sim.figure_style import figure_legend

    fig, ax = common.figure(figsize=(6.0, 3.4))
    x = np.arange(len(rows))
    for off, prefix, label in ((-0.2, "", "ours, simulated"), (0.2, "paper_", "paper, MNN measured")):
        imp = np.array([r.get(prefix + "implicit_pct") or np.nan for r in rows], float)
        exp_ = np.array([r.get(prefix + "explicit_pct") or np.nan for r in rows], float)
        ax.bar(x + off, imp, 0.38, color=TABLE1_COLORS[(prefix, "implicit")], edgecolor="0.2", lw=0.4,
               label=f"{label}: implicit transforms")
        ax.bar(x + off, exp_, 0.38, bottom=imp, color=TABLE1_COLORS[(prefix, "explicit")], edgecolor="0.2", lw=0.4,
               label=f"{label}: explicit transforms")
    ax.set_xticks(x, [r["model"] for r in rows])
    ax.set_ylabel("% of naive latency in layout transforms")
    ax.set_ylim(0, 100)
    ax.set_title(f"Table 1: layout-transform share of latency under naive, {device} ({rows[0]['size']});\n"
                 "left bar ours, right bar the paper's")
    figure_legend(fig, where="bottom", ncols=2)
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    from smartmem_sim.sweep import Task

    paper = common.paper()["table1"]["models"]
    ap = common.parser(__doc__, "table1", models=list(paper))
    args = common.parse_args(ap, argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "table1_transform_share.csv"), out / "table1_transform_share.png", args.device)
        return 0
    names = common.model_names(args.models)
    tasks = [Task(n, args.device, "naive", tiny=args.tiny) for n in names]
    records = common.run_tasks(tasks, args, "table1")
    rows = [share_row(r, paper.get(r["model"])) for r in records if common.ok(r)]
    for r in rows:
        print(f"{r['model']:<16} naive {r['naive_ms']:10.3f} ms  transforms {r['transform_pct']:5.1f}% "
              f"(implicit {r['implicit_pct']:.1f}, explicit {r['explicit_pct']:.1f})  "
              f"paper {r.get('paper_transform_pct', '-')}", flush=True)
    head = common.header(device=args.device, size=common.size_label(args.tiny), policy="naive",
                         source=common.paper()["table1"]["source"])
    common.write_csv(out / "table1_transform_share.csv", rows, COLUMNS, head)
    if rows:
        plot(rows, out / "table1_transform_share.png", args.device)
    return 1 if len(rows) < len(records) else 0


if __name__ == "__main__":
    sys.exit(main())
