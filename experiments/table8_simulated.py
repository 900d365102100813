"""Simulated speedups on a device profile (default adreno740) for every zoo network: smartmem and search over
naive and fusion, next to the paper's Table 7/8 ratios (MNN ~ naive, DNNFusion ~ fusion; per network where
the paper gives latencies, and its geometric means), and the share of naive time spent in layout transforms
next to the paper's Table 1. Writes CSV + PNG under experiments/results/table8/ (tagged with the commit).

    .venv/bin/python experiments/table8_simulated.py [--device adreno740] [--tiny] [--models swin,vit]

Full-size networks that are not committed yet fall back to their tiny twin (column ``size`` says which).
Numbers come from an uncalibrated simulator: compare ratios, not milliseconds.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartmem_sim import zoo  # noqa: E402
from smartmem_sim.atomic import atomic_path  # noqa: E402
from smartmem_sim.simulate import compile_for, cost_model, load_graph, simulate_plan  # noqa: E402
from smartmem_sim.zoo import registry, store  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem", "search")
# Paper Table 1 / Sec 1 (shared/PAPER.md): share of MNN latency in layout transforms (implicit + explicit), %.
PAPER_TRANSFORM_SHARE = {"swin": 14.7 + 54.1, "cswin": 14.3 + 50.2, "sd_unet": 19.4 + 42.1, "pythia_1b": 11.7 + 31.7}
PAPER_GEOMEAN = {"smartmem_over_naive": 7.9, "smartmem_over_fusion": 2.8}  # over MNN, over DNNFusion
OUT = Path(__file__).resolve().parent / "results" / "table8"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return exp(sum(log(x) for x in xs) / len(xs)) if xs else float("nan")


def run_model(name: str, device: str, tiny: bool) -> dict:
    size = "tiny" if tiny or not store.model_path(name, False).exists() else "full"
    graph = load_graph(name, tiny=size == "tiny")
    cost = cost_model(device)
    t0 = time.time()
    res = {p: simulate_plan(compile_for(graph, p, device, "fp16", cost), device, cost) for p in POLICIES}
    e = registry.entry(name)
    s = {p: r.seconds for p, r in res.items()}
    row = {"model": name, "size": size, "seconds_wall": round(time.time() - t0, 1)}
    row.update({f"{p}_ms": round(v * 1e3, 4) for p, v in s.items()})
    row.update({"smartmem_over_naive": s["naive"] / s["smartmem"], "smartmem_over_fusion": s["fusion"] / s["smartmem"],
                "search_over_naive": s["naive"] / s["search"], "search_over_fusion": s["fusion"] / s["search"],
                "search_over_smartmem": s["smartmem"] / s["search"],
                "naive_transform_share_pct": 100 * res["naive"].transform_seconds / s["naive"],
                "paper_transform_share_pct": PAPER_TRANSFORM_SHARE.get(name, ""),
                "paper_smartmem_over_mnn": (e.paper_ms_mnn / e.paper_ms_smartmem) if getattr(e, "paper_ms_mnn", None) else "",
                "paper_smartmem_over_dnnfusion": (e.paper_ms_dnnfusion / e.paper_ms_smartmem)
                if getattr(e, "paper_ms_dnnfusion", None) else ""})
    return row


def _plot(rows, path: Path, device: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r["model"] + ("*" if r["size"] == "tiny" else "") for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows)), 4))
    for k, (key, label) in enumerate([("smartmem_over_naive", "smartmem / naive"), ("search_over_naive", "search / naive"),
                                      ("smartmem_over_fusion", "smartmem / fusion"), ("search_over_fusion", "search / fusion")]):
        ax.bar(x + (k - 1.5) * 0.2, [r[key] for r in rows], 0.2, label=label)
    paper = [r["paper_smartmem_over_mnn"] or np.nan for r in rows]
    ax.scatter(x - 0.3, paper, marker="x", color="black", label="paper: SmartMem / MNN", zorder=3)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("simulated speedup")
    ax.set_title(f"simulated speedups on {device} (* = tiny twin)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="adreno740")
    ap.add_argument("--tiny", action="store_true", help="tiny twins only (fast)")
    ap.add_argument("--models", default="", help="comma-separated subset (default: all 18)")
    args = ap.parse_args(argv)
    names = [m for m in args.models.split(",") if m] or zoo.list_models()
    rows = []
    for name in names:
        row = run_model(name, args.device, args.tiny)
        rows.append(row)
        print(f"{name:<16} {row['size']:<5} naive {row['naive_ms']:>10.3f} ms  smartmem x{row['smartmem_over_naive']:.2f} "
              f"(fusion x{row['smartmem_over_fusion']:.2f})  search x{row['search_over_naive']:.2f}  "
              f"search/smartmem x{row['search_over_smartmem']:.3f}  transforms {row['naive_transform_share_pct']:.1f}%"
              f"  [{row['seconds_wall']} s]", flush=True)
    geo = {k: _geomean([r[k] for r in rows]) for k in ("smartmem_over_naive", "smartmem_over_fusion", "search_over_naive",
                                                         "search_over_fusion", "search_over_smartmem")}
    print("geomean:", ", ".join(f"{k} {v:.3f}" for k, v in geo.items()),
          "| paper:", ", ".join(f"{k} {v}" for k, v in PAPER_GEOMEAN.items()))
    OUT.mkdir(parents=True, exist_ok=True)
    tag = f"{args.device}{'_tiny' if args.tiny else ''}"
    buf = io.StringIO()
    buf.write(f"# commit {_commit()}, device {args.device}, storage fp16; geomean {geo}; paper {PAPER_GEOMEAN}\n")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    with atomic_path(OUT / f"table8_{tag}.csv") as tmp:
        tmp.write_text(buf.getvalue())
    _plot(rows, OUT / f"table8_{tag}.png", args.device)
    print(f"wrote {OUT / f'table8_{tag}.csv'} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
