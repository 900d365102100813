"""Table 8 of the paper (latency and speedups per model and policy): simulated latency of every policy on a
device profile (default adreno740), speedups of smartmem and search over naive (~MNN) and fusion (~DNNFusion),
next to the paper's measured ratios on the Snapdragon 8 Gen 2 (per network where the paper gives latencies,
and its geometric means) and our measured H100 (OpenCL) ratios where experiments/results/h100 has them.

Writes ``table8_<device>[_tiny].csv`` and the figure (``.png``, ``.svg``, ``.pdf``) under experiments/results/table8/. The simulator is not
calibrated: compare ratios, not milliseconds.

    .venv/bin/python experiments/table8_simulated.py [--device adreno740] [--tiny] [--models swin,vit]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem", "search")
SPEEDUPS = (("smartmem", "naive"), ("smartmem", "fusion"), ("search", "naive"), ("search", "fusion"),
            ("search", "smartmem"))
# the validation table: our predicted milliseconds over the paper's measured ones, per policy and the framework
# it stands for (a validation, never a fitting target: no number of the simulator is chosen to match them)
VALIDATION = (("naive", "mnn"), ("fusion", "dnnfusion"), ("smartmem", "smartmem"), ("search", "smartmem"))
COLUMNS = (["model", "size"] + [f"{p}_ms" for p in POLICIES] + [f"{a}_over_{b}" for a, b in SPEEDUPS]
           + ["paper_mnn_ms", "paper_tvm_ms", "paper_dnnfusion_ms", "paper_smartmem_ms", "paper_smartmem_over_mnn",
              "paper_smartmem_over_dnnfusion", "paper_smartmem_over_tvm", "h100_smartmem_over_naive",
              "h100_smartmem_over_fusion", "h100_search_over_smartmem"]
           + [f"predicted_{p}_over_paper_{q}" for p, q in VALIDATION]
           # predicted energy (memsim: bytes through each level x the profile's pJ/B, all marked guesses there)
           + [f"{p}_mj" for p in POLICIES])


def table_rows(per_model: dict[str, dict[str, dict]], h100: dict[str, dict[str, float]]) -> list[dict]:
    """Rows per model (all policies present) and a final ``geomean`` row."""
    rows = []
    for model, recs in per_model.items():
        if not all(p in recs for p in POLICIES):
            continue
        s = {p: recs[p]["seconds"] for p in POLICIES}
        pp = common.zoo_paper(model)
        row = {"model": model, "size": common.size_label(recs["naive"]["tiny"])}
        row.update({f"{p}_ms": s[p] * 1e3 for p in POLICIES})
        row.update({f"{a}_over_{b}": common.ratio(s[b], s[a]) for a, b in SPEEDUPS})
        row.update(paper_mnn_ms=pp["paper_ms_mnn"], paper_tvm_ms=pp["paper_ms_tvm"],
                   paper_dnnfusion_ms=pp["paper_ms_dnnfusion"], paper_smartmem_ms=pp["paper_ms_smartmem"],
                   paper_smartmem_over_mnn=common.ratio(pp["paper_ms_mnn"], pp["paper_ms_smartmem"]),
                   paper_smartmem_over_dnnfusion=common.ratio(pp["paper_ms_dnnfusion"], pp["paper_ms_smartmem"]),
                   paper_smartmem_over_tvm=common.ratio(pp["paper_ms_tvm"], pp["paper_ms_smartmem"]),
                   h100_smartmem_over_naive=h100.get(model, {}).get("over_naive"),
                   h100_smartmem_over_fusion=h100.get(model, {}).get("over_fusion"),
                   h100_search_over_smartmem=h100.get(model, {}).get("search_over_smartmem"))
        row.update({f"predicted_{p}_over_paper_{q}": common.ratio(s[p] * 1e3, pp[f"paper_ms_{q}"])
                    for p, q in VALIDATION})
        row.update({f"{p}_mj": recs[p]["energy_joules"] * 1e3 for p in POLICIES
                    if recs[p].get("energy_joules") is not None})
        rows.append(row)
    if rows:
        paper = common.paper()["table8"]
        geo = {"model": "geomean", "size": rows[0]["size"]}
        for col in COLUMNS[2:]:
            if col.endswith(("_ms", "_mj")):
                continue
            geo[col] = common.geomean(r.get(col) for r in rows)
        # the paper's geomeans are over all its networks, not only those it lists latencies for
        geo["paper_smartmem_over_mnn"] = paper["geomean_over_mnn"]
        geo["paper_smartmem_over_dnnfusion"] = paper["geomean_over_dnnfusion"]
        geo["paper_smartmem_over_tvm"] = paper["geomean_over_tvm"]
        rows.append(geo)
    return rows


@common.styled
def plot(rows: list[dict], path: Path, device: str) -> None:
    """Speedups over naive (~MNN, top) and over fusion (~DNNFusion, bottom): bars per policy in the policy's
    colour, the paper's and the H100's measured ratios as black markers; the geomean group last."""
    import numpy as np

    from smartmem_sim.figure_style import color, figure_legend

    x = np.arange(len(rows))
    fig, axes = common.figure(2, 1, figsize=(7.2, 5.2), sharex=True)
    panels = (("naive", "mnn", "MNN", "h100_smartmem_over_naive"),
              ("fusion", "dnnfusion", "DNNFusion", "h100_smartmem_over_fusion"))
    for ax, (base, paper_key, paper_name, h100_key) in zip(axes, panels, strict=True):
        for k, policy in enumerate(("smartmem", "search")):
            ax.bar(x + (k - 0.5) * 0.36, [r[f"{policy}_over_{base}"] for r in rows], 0.36, color=color(policy),
                   label=f"{policy} (simulated)")
        paper = [r.get(f"paper_smartmem_over_{paper_key}") or np.nan for r in rows]
        ax.scatter(x, paper, marker="D", s=16, color=color("paper"), zorder=3,
                   label="paper: SmartMem (measured, Snapdragon 8 Gen 2)")
        h100 = [r.get(h100_key) or np.nan for r in rows]
        ax.scatter(x, h100, marker="o", s=22, facecolors="none", edgecolors=color("paper"), lw=0.9, zorder=3,
                   label="smartmem measured on the H100 (OpenCL)")
        if rows[-1]["model"] == "geomean":
            ax.axvline(len(rows) - 1.5, color="0.6", lw=0.6)
        common.ratio_axes(ax, [r["model"] for r in rows], f"speedup over {base}",
                          f"over {base} (our stand-in for {paper_name})")
    fig.suptitle(f"Table 8: simulated speedups on {device} ({rows[0]['size']}; last group: geometric mean)")
    figure_legend(fig, where="bottom", ncols=3, order=("smartmem (simulated)", "search (simulated)"))
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(common.parser(__doc__, "table8"), argv)
    tag = f"{Path(args.device).stem}{'_tiny' if args.tiny else ''}"
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / f"table8_{tag}.csv"), out / f"table8_{tag}.png", args.device)
        return 0
    _, records = common.policy_grid(args, POLICIES, "table8")
    rows = table_rows(common.by_model(records), common.h100_speedups())
    for r in rows:
        print(f"{r['model']:<16} smartmem/naive x{r['smartmem_over_naive']:.2f}  smartmem/fusion "
              f"x{r['smartmem_over_fusion']:.2f}  search/smartmem x{r['search_over_smartmem']:.3f}  paper "
              f"MNN x{r['paper_smartmem_over_mnn']:.2f} DNNFusion x{r['paper_smartmem_over_dnnfusion']:.2f}", flush=True)
    print("predicted / the paper's measured latency (geomean over the networks it gives latencies for): "
          + ", ".join(f"{p}/{q} x{rows[-1][f'predicted_{p}_over_paper_{q}']:.2f}" for p, q in VALIDATION)
          if rows else "no rows")
    common.write_csv(out / f"table8_{tag}.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny), storage="fp16",
                                   paper=common.paper()["table8"]["source"]))
    if rows:
        plot(rows, out / f"table8_{tag}.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
