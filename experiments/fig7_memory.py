"""Fig 7 of the paper: memory accesses and cache misses per policy. Simulated per model: accesses of the
first cache level (the texture L1: every request a kernel makes), misses of every level and DRAM bytes,
for naive, fusion and smartmem; the reduction of smartmem against fusion (the paper's DNNFusion), next to
the paper's hardware-counter figures (1.8x fewer accesses, 2.0x fewer misses).

Writes ``fig7_memory.csv`` and ``.png`` under experiments/results/fig7/.

    .venv/bin/python experiments/fig7_memory.py [--models swin,vit] [--tiny] [--device adreno740]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem")
COLUMNS = ["model", "size", "policy", "l1_accesses", "l1_misses", "l2_misses", "llc_misses", "dram_bytes",
           "accesses_vs_smartmem", "l1_misses_vs_smartmem", "paper_access_reduction", "paper_miss_reduction"]


def memory_rows(per_model: dict[str, dict[str, dict]]) -> list[dict]:
    """One row per model and policy; ``*_vs_smartmem`` = this policy's count / smartmem's."""
    paper = common.paper()["fig7"]
    rows = []
    for model, recs in per_model.items():
        if not all(p in recs for p in POLICIES):
            continue
        levels = common.level_names(recs["smartmem"])
        stats = {}
        for p in POLICIES:
            r = recs[p]
            stats[p] = {"l1_accesses": common.level_total(r, levels[0], "accesses"),
                        "l1_misses": common.level_total(r, levels[0], "misses"),
                        "l2_misses": common.level_total(r, levels[1], "misses") if len(levels) > 1 else None,
                        "llc_misses": common.level_total(r, levels[-1], "misses"), "dram_bytes": r["dram_bytes"]}
        for p in POLICIES:
            rows.append({"model": model, "size": common.size_label(recs[p]["tiny"]), "policy": p, **stats[p],
                         "accesses_vs_smartmem": common.ratio(stats[p]["l1_accesses"], stats["smartmem"]["l1_accesses"]),
                         "l1_misses_vs_smartmem": common.ratio(stats[p]["l1_misses"], stats["smartmem"]["l1_misses"]),
                         "paper_access_reduction": paper["access_reduction"] if p == "fusion" else None,
                         "paper_miss_reduction": paper["miss_reduction"] if p == "fusion" else None})
    return rows


def geomeans(rows: list[dict]) -> dict[str, float]:
    fusion = [r for r in rows if r["policy"] == "fusion"]
    return {"access_reduction": common.geomean(r["accesses_vs_smartmem"] for r in fusion),
            "miss_reduction": common.geomean(r["l1_misses_vs_smartmem"] for r in fusion)}


@common.styled
def plot(rows: list[dict], path: Path, device: str) -> None:
    """naive's and fusion's L1 accesses and misses over smartmem's (smartmem is 1 by definition: the
    reference line), with the paper's DNNFusion / SmartMem reduction as a labelled line."""
    import numpy as np

    from smartmem_sim.figure_style import color, figure_legend, reference_line

    paper = common.paper()["fig7"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    x = np.arange(len(models))
    fig, axes = common.figure(2, 1, figsize=(7.2, 5.0), sharex=True)
    for ax, key, title, paper_key in ((axes[0], "accesses_vs_smartmem", "L1 accesses", "access_reduction"),
                                      (axes[1], "l1_misses_vs_smartmem", "L1 misses", "miss_reduction")):
        for k, p in enumerate(("naive", "fusion")):
            y = [next(r[key] for r in rows if r["model"] == m and r["policy"] == p) for m in models]
            ax.bar(x + (k - 0.5) * 0.38, y, 0.38, label=p, color=color(p))
        reference_line(ax, paper[paper_key], f"paper: DNNFusion / SmartMem (accesses {paper['access_reduction']}x, "
                       f"misses {paper['miss_reduction']}x)", color=color("paper"), ls=":", lw=1.2)
        common.ratio_axes(ax, models, f"{title} / smartmem's", f"{title}, relative to smartmem")
    for ax in axes:
        ax.get_lines()[-1].set_label("smartmem (= 1)")
    fig.suptitle(f"Fig 7: memory accesses and cache misses on {device} ({rows[0]['size']})")
    figure_legend(fig, where="bottom", ncols=4, order=("naive", "fusion", "smartmem (= 1)"))
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(common.parser(__doc__, "fig7"), argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "fig7_memory.csv"), out / "fig7_memory.png", args.device)
        return 0
    _, records = common.policy_grid(args, POLICIES, "fig7")
    rows = memory_rows(common.by_model(records))
    geo = geomeans(rows)
    print(f"fusion / smartmem geomean: accesses x{geo['access_reduction']:.2f} (paper 1.8), L1 misses "
          f"x{geo['miss_reduction']:.2f} (paper 2.0)", flush=True)
    common.write_csv(out / "fig7_memory.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny),
                                   geomean_fusion_over_smartmem_accesses=f"{geo['access_reduction']:.3f}",
                                   geomean_fusion_over_smartmem_l1_misses=f"{geo['miss_reduction']:.3f}"))
    if rows:
        plot(rows, out / "fig7_memory.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
