"""Fig 8/9 of the paper (ablation over DNNFusion): the speedup each SmartMem step adds, simulated.

Steps (smartmem_sim/compiler/pipeline.py policies; each adds one thing to the one before):
1. ``fusion`` (DNNFusion-like baseline): element-wise fusion, free views where the default layout allows,
   other layout operators copied, default layouts;
2. ``smartmem-elim``: + classification, edge rules and elimination of layout operators into index maps
   (default layouts kept, no selection);
3. ``smartmem-select``: + reduction-dimension layout selection with one dim per layout (a 1-D view of memory:
   every further reduction dim gets an extra copy);
4. ``smartmem``: + the 2.5D mapping: one image layout serves two reduction dims (RGBA lanes + texture axis).
The paper's third step is "texture mapping and tuning"; we have no tuning step (work-group shapes are the
kernels' defaults under every policy), so step 4 is the mapping alone.

Writes ``fig8_9_ablation.csv`` and ``.png`` under experiments/results/fig8_9/, with the paper's ranges
(transformers/hybrids: elimination 1.5-2.7x, selection 1.4-1.9x, mapping 1.2-1.4x; RegNet 1.3x and YOLOv8 1.2x
in all over DNNFusion).

    .venv/bin/python experiments/fig8_9_ablation.py [--models swin,regnet] [--tiny] [--device adreno740]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

STEPS = ("fusion", "smartmem-elim", "smartmem-select", "smartmem")
COLUMNS = ["model", "family", "size", "fusion_ms", "elim_ms", "select_ms", "smartmem_ms", "elimination_x",
           "selection_x", "mapping_x", "total_over_fusion", "paper_elimination", "paper_selection", "paper_mapping",
           "paper_total_over_dnnfusion"]


def ablation_rows(per_model: dict[str, dict[str, dict]]) -> list[dict]:
    from smartmem_sim.zoo import registry

    paper = common.paper()["ablation"]
    rows = []
    for model, recs in per_model.items():
        if not all(p in recs for p in STEPS):
            continue
        s = [recs[p]["seconds"] for p in STEPS]
        family = registry.entry(model).family if model in registry.names() else ""
        attention = family in ("transformer", "hybrid")
        row = {"model": model, "family": family, "size": common.size_label(recs["fusion"]["tiny"]),
               "fusion_ms": s[0] * 1e3, "elim_ms": s[1] * 1e3, "select_ms": s[2] * 1e3, "smartmem_ms": s[3] * 1e3,
               "elimination_x": s[0] / s[1], "selection_x": s[1] / s[2], "mapping_x": s[2] / s[3],
               "total_over_fusion": s[0] / s[3]}
        if attention:
            row.update(paper_elimination=f"{paper['elimination_low']}-{paper['elimination_high']}",
                       paper_selection=f"{paper['selection_low']}-{paper['selection_high']}",
                       paper_mapping=f"{paper['mapping_low']}-{paper['mapping_high']}")
        if f"{model}_over_dnnfusion" in paper:
            row["paper_total_over_dnnfusion"] = paper[f"{model}_over_dnnfusion"]
        rows.append(row)
    return rows


def plot(rows: list[dict], path: Path, device: str) -> None:
    plt = common.pyplot()
    import numpy as np

    paper = common.paper()["ablation"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 3.6))
    for k, (key, label, color) in enumerate((("elimination_x", "elimination (elim / fusion)", "#aec7e8"),
                                             ("selection_x", "+ selection (select / elim)", "#ffbb78"),
                                             ("mapping_x", "+ 2.5D mapping (smartmem / select)", "#d62728"),
                                             ("total_over_fusion", "all (smartmem / fusion)", "0.3"))):
        ax.bar(x + (k - 1.5) * 0.2, [r[key] for r in rows], 0.2, label=label, color=color)
    for lo, hi, color in (("elimination_low", "elimination_high", "#aec7e8"),
                          ("selection_low", "selection_high", "#ffbb78"), ("mapping_low", "mapping_high", "#d62728")):
        ax.axhspan(paper[lo], paper[hi], color=color, alpha=0.12)
    common.ratio_axes(ax, [r["model"] for r in rows], "speedup of the step",
                      f"Fig 8/9: ablation on {device} ({rows[0]['size']}); bands: the paper's ranges per step")
    common.save(fig, path, f"commit {common.commit()}, device {device}")


def main(argv: list[str] | None = None) -> int:
    args = common.parser(__doc__, "fig8_9").parse_args(argv)
    _, records = common.policy_grid(args, STEPS, "fig8_9")
    rows = ablation_rows(common.by_model(records))
    for r in rows:
        print(f"{r['model']:<16} elim x{r['elimination_x']:.2f}  select x{r['selection_x']:.2f}  mapping "
              f"x{r['mapping_x']:.2f}  all x{r['total_over_fusion']:.2f}", flush=True)
    out = Path(args.out)
    common.write_csv(out / "fig8_9_ablation.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny),
                                   paper=common.paper()["ablation"]["source"]))
    if rows:
        plot(rows, out / "fig8_9_ablation.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
