"""Table 8 of the paper (latency and speedups per model and policy): simulated latency of every policy on a
device profile (default adreno740), speedups of smartmem and search over naive (~MNN) and fusion (~DNNFusion),
next to the paper's measured ratios on the Snapdragon 8 Gen 2 (per network where the paper gives latencies,
and its geometric means) and our measured H100 (OpenCL) ratios where experiments/results/h100 has them.

Writes ``table8_<device>[_tiny].csv`` and ``.png`` under experiments/results/table8/. The simulator is not
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
           + [f"predicted_{p}_over_paper_{q}" for p, q in VALIDATION])


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
        rows.append(row)
    if rows:
        paper = common.paper()["table8"]
        geo = {"model": "geomean", "size": rows[0]["size"]}
        for col in COLUMNS[2:]:
            if col.endswith("_ms"):
                continue
            geo[col] = common.geomean(r.get(col) for r in rows)
        # the paper's geomeans are over all its networks, not only those it lists latencies for
        geo["paper_smartmem_over_mnn"] = paper["geomean_over_mnn"]
        geo["paper_smartmem_over_dnnfusion"] = paper["geomean_over_dnnfusion"]
        geo["paper_smartmem_over_tvm"] = paper["geomean_over_tvm"]
        rows.append(geo)
    return rows


def plot(rows: list[dict], path: Path, device: str) -> None:
    plt = common.pyplot()
    import numpy as np

    rows = [r for r in rows if r["model"] != "geomean"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 3.8))
    bars = [("smartmem_over_naive", "smartmem / naive", "#d62728"), ("smartmem_over_fusion", "smartmem / fusion", "#ff9896"),
            ("search_over_naive", "search / naive", "#2ca02c"), ("search_over_fusion", "search / fusion", "#98df8a")]
    for k, (key, label, color) in enumerate(bars):
        ax.bar(x + (k - 1.5) * 0.2, [r[key] for r in rows], 0.2, label=label, color=color)
    for key, marker, label in (("paper_smartmem_over_mnn", "x", "paper: SmartMem / MNN"),
                               ("paper_smartmem_over_dnnfusion", "+", "paper: SmartMem / DNNFusion"),
                               ("h100_smartmem_over_fusion", "o", "H100 measured: smartmem / fusion")):
        y = [r.get(key) if r.get(key) is not None else np.nan for r in rows]
        ax.scatter(x, y, marker=marker, color="black", label=label, zorder=3, s=18, facecolors="none"
                   if marker == "o" else None)
    common.ratio_axes(ax, [r["model"] for r in rows], "speedup (latency ratio)",
                      f"Table 8: simulated speedups on {device} ({rows[0]['size']})")
    common.save(fig, path, f"commit {common.commit()}, device {device}")


def main(argv: list[str] | None = None) -> int:
    args = common.parser(__doc__, "table8").parse_args(argv)
    _, records = common.policy_grid(args, POLICIES, "table8")
    rows = table_rows(common.by_model(records), common.h100_speedups())
    for r in rows:
        print(f"{r['model']:<16} smartmem/naive x{r['smartmem_over_naive']:.2f}  smartmem/fusion "
              f"x{r['smartmem_over_fusion']:.2f}  search/smartmem x{r['search_over_smartmem']:.3f}  paper "
              f"MNN x{r['paper_smartmem_over_mnn']:.2f} DNNFusion x{r['paper_smartmem_over_dnnfusion']:.2f}", flush=True)
    print("predicted / the paper's measured latency (geomean over the networks it gives latencies for): "
          + ", ".join(f"{p}/{q} x{rows[-1][f'predicted_{p}_over_paper_{q}']:.2f}" for p, q in VALIDATION)
          if rows else "no rows")
    tag = f"{Path(args.device).stem}{'_tiny' if args.tiny else ''}"
    out = Path(args.out)
    common.write_csv(out / f"table8_{tag}.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny), storage="fp16",
                                   paper=common.paper()["table8"]["source"]))
    if rows:
        plot(rows, out / f"table8_{tag}.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
