"""Fig 8/9 of the paper (ablation over DNNFusion): the speedup each SmartMem step adds, simulated.

Steps (smartmem_sim/compiler/pipeline.py policies; each adds one thing to the one before):
1. ``fusion`` (DNNFusion-like baseline): element-wise fusion, free views where the default layout allows,
   other layout operators copied, default layouts;
2. ``smartmem-elim``: + classification, edge rules and elimination of layout operators into index maps
   (default layouts kept, no selection);
3. ``smartmem-select``: + reduction-dimension layout selection with one dim per layout (a 1-D view of memory:
   every further reduction dim gets an extra copy);
4. ``smartmem``: + the 2.5D mapping: one image layout serves two reduction dims (RGBA lanes + texture axis).
Every step, and the fusion baseline, is tile-tuned (smartmem_sim/compiler/passes/tiles.py: DNNFusion and SmartMem
both generate tuned kernels), so step 4 is the mapping alone; what tuning buys is a fifth bar of its own,
``smartmem`` over ``smartmem-untuned`` (smartmem with one output texel per work-item in every MatMul/Gemm).
The paper's third step is "texture mapping and tuning" together.

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
UNTUNED = "smartmem-untuned"  # smartmem without tile tuning: the tuning bar
COLUMNS = ["model", "family", "size", "fusion_ms", "elim_ms", "select_ms", "smartmem_ms", "untuned_ms",
           "elimination_x", "selection_x", "mapping_x", "tuning_x", "total_over_fusion", "paper_elimination",
           "paper_selection", "paper_mapping", "paper_total_over_dnnfusion"]


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
        if UNTUNED in recs:
            row.update(untuned_ms=recs[UNTUNED]["seconds"] * 1e3, tuning_x=recs[UNTUNED]["seconds"] / s[3])
        if attention:
            row.update(paper_elimination=f"{paper['elimination_low']}-{paper['elimination_high']}",
                       paper_selection=f"{paper['selection_low']}-{paper['selection_high']}",
                       paper_mapping=f"{paper['mapping_low']}-{paper['mapping_high']}")
        if f"{model}_over_dnnfusion" in paper:
            row["paper_total_over_dnnfusion"] = paper[f"{model}_over_dnnfusion"]
        rows.append(row)
    return rows


# each step in the colour of the policy it adds (smartmem_sim.figure_style); "all" in a neutral dark grey
STEP_BARS = (("elimination_x", "elimination (elim / fusion)", "smartmem-elim", "elimination"),
             ("selection_x", "+ selection (select / elim)", "smartmem-select", "selection"),
             ("mapping_x", "+ 2.5D mapping (smartmem / select)", "smartmem", "mapping"),
             ("total_over_fusion", "all three (smartmem / fusion)", None, None),
             ("tuning_x", "tile tuning (smartmem / untuned; in every step)", "smartmem", None))


@common.styled
def plot(rows: list[dict], path: Path, device: str) -> None:
    """Per model the speedup of each step (bars); beside them, the paper's range for each step (bars from
    low to high, labelled) and its totals over DNNFusion for RegNet and YOLOv8 (markers at those models)."""
    import numpy as np

    from smartmem_sim.figure_style import color, figure_legend

    paper = common.paper()["ablation"]
    x = np.arange(len(rows))
    fig, (ax, side) = common.figure(1, 2, figsize=(7.2, 3.9), sharey=True, width_ratios=(9, 1.4))
    bars = [b for b in STEP_BARS if any(r.get(b[0]) not in (None, "") for r in rows)]
    width = 0.8 / len(bars)
    for k, (key, label, policy, _) in enumerate(bars):
        values = [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows]
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, values, width, label=label,
               color=color(policy) if policy else "0.3", edgecolor="0.2", lw=0.3,
               hatch="///" if key == "tuning_x" else None)
    totals = [r.get("paper_total_over_dnnfusion") or np.nan for r in rows]
    ax.scatter(x + 0.3, totals, marker="D", s=18, color=color("paper"), zorder=3,
               label="paper: all steps over DNNFusion")
    # the paper's ranges (transformers and hybrids) as floating bars in a panel of their own: bands across
    # the data would overlap each other and hide the bars
    for k, (_, _, policy, step) in enumerate(STEP_BARS[:3]):
        lo, hi = paper[f"{step}_low"], paper[f"{step}_high"]
        side.bar(k, hi - lo, 0.7, bottom=lo, color=color(policy), edgecolor="0.2", lw=0.3)
    side.set_xticks(range(3), [f"{name} {paper[f'{step}_low']}-{paper[f'{step}_high']}x"
                               for name, (*_, step) in zip(("elim.", "select.", "mapping"), STEP_BARS, strict=False)],
                    rotation=40, ha="right", rotation_mode="anchor")
    side.set_xlim(-0.6, 2.6)
    side.set_title("the paper's\nranges", fontsize=8)
    side.tick_params(axis="y", labelleft=False)
    side.axhline(1.0, color="0.35", lw=0.9, ls="--", zorder=0.5)
    ax.set_yscale("log")
    ax.set_ylim(top=max(ax.get_ylim()[1], paper["elimination_high"] * 1.1))
    common.ratio_axes(ax, [r["model"] for r in rows], "speedup of the step")
    fig.suptitle(f"Fig 8/9: ablation on {device} ({rows[0]['size']}); the paper's ranges are for transformers "
                 "and hybrids")
    figure_legend(fig, where="bottom", ncols=2, order=[b[1] for b in bars])
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(common.parser(__doc__, "fig8_9"), argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "fig8_9_ablation.csv"), out / "fig8_9_ablation.png", args.device)
        return 0
    _, records = common.policy_grid(args, (*STEPS, UNTUNED), "fig8_9")
    rows = ablation_rows(common.by_model(records))
    for r in rows:
        print(f"{r['model']:<16} elim x{r['elimination_x']:.2f}  select x{r['selection_x']:.2f}  mapping "
              f"x{r['mapping_x']:.2f}  all x{r['total_over_fusion']:.2f}  tuning x{r.get('tuning_x', float('nan')):.2f}",
              flush=True)
    common.write_csv(out / "fig8_9_ablation.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny),
                                   paper=common.paper()["ablation"]["source"]))
    if rows:
        plot(rows, out / "fig8_9_ablation.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
