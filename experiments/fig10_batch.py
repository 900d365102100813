"""Fig 10 of the paper: latency and speedup as the batch grows (1, 2, 4, 8, 16), simulated. The zoo's
committed networks are batch 1; batch N is exported again from torch (smartmem_sim.zoo.batched, the [zoo]
extra; cached under .cache/zoo/). Tiny twins by default: full-size networks at batch 16 take long to
export and simulate on a small machine (--full to use them).

Writes ``fig10_batch.csv`` and ``.png`` under experiments/results/fig10/. PAPER.md has no numbers for this
figure, so there is no paper column.

    .venv/bin/python experiments/fig10_batch.py [--models swin,vit,resnext] [--batches 1,2,4,8,16] [--full]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem")
MODELS = ("swin", "vit", "resnext")
COLUMNS = ["model", "size", "batch", "naive_ms", "fusion_ms", "smartmem_ms", "smartmem_ms_per_item",
           "smartmem_over_naive", "smartmem_over_fusion"]


def batch_rows(records: list[dict]) -> list[dict]:
    grid: dict[tuple[str, int], dict[str, dict]] = {}
    for r in records:
        if common.ok(r):
            grid.setdefault((r["model"], r["batch"]), {})[r["policy"]] = r
    rows = []
    for (model, batch), recs in grid.items():
        if not all(p in recs for p in POLICIES):
            continue
        s = {p: recs[p]["seconds"] for p in POLICIES}
        rows.append({"model": model, "size": common.size_label(recs["naive"]["tiny"]), "batch": batch,
                     **{f"{p}_ms": s[p] * 1e3 for p in POLICIES}, "smartmem_ms_per_item": s["smartmem"] * 1e3 / batch,
                     "smartmem_over_naive": s["naive"] / s["smartmem"],
                     "smartmem_over_fusion": s["fusion"] / s["smartmem"]})
    return sorted(rows, key=lambda r: (r["model"], r["batch"]))


@common.styled
def plot(rows: list[dict], path: Path, device: str) -> None:
    """Three panels (speedup over naive, over fusion, ms per item), one colour and marker per model in all."""
    from smartmem_sim.figure_style import figure_legend, plain_log_ticks, reference_line

    models = list(dict.fromkeys(r["model"] for r in rows))
    batches = sorted({int(r["batch"]) for r in rows})
    fig, axes = common.figure(1, 3, figsize=(7.2, 2.9), sharex=True)
    for i, model in enumerate(models):
        rs = [r for r in rows if r["model"] == model]
        b = [int(r["batch"]) for r in rs]
        style = {"color": common.model_color(model, i), "marker": "osD^v"[i % 5], "label": model, "ms": 4}
        axes[0].plot(b, [r["smartmem_over_naive"] for r in rs], **style)
        axes[1].plot(b, [r["smartmem_over_fusion"] for r in rs], **style)
        axes[2].plot(b, [r["smartmem_ms_per_item"] for r in rs], **style)
    for ax, title in zip(axes[:2], ("smartmem / naive", "smartmem / fusion"), strict=True):
        reference_line(ax, 1.0, "ratio 1 (no change)")
        ax.set_title(f"speedup {title}")
        ax.set_ylim(bottom=0)
    axes[2].set_title("smartmem ms per item")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
        ax.set_xlabel("batch")
    plain_log_ticks(axes[2])
    fig.suptitle(f"Fig 10: batch size on {device} ({rows[0]['size']})")
    figure_legend(fig, where="bottom", ncols=4)
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    from smartmem_sim.sweep import Task

    ap = common.parser(__doc__, "fig10", models=MODELS, tiny=True)
    ap.add_argument("--batches", default="1,2,4,8,16", help="comma-separated batch sizes")
    args = common.parse_args(ap, argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "fig10_batch.csv"), out / "fig10_batch.png", args.device)
        return 0
    names = common.model_names(args.models)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if not batches or min(batches) < 1:
        raise common.UserError(f"--batches must be positive integers, got {args.batches!r}")
    tasks = [Task(n, args.device, p, tiny=args.tiny, batch=b) for n in names for b in batches for p in POLICIES]
    records = common.run_tasks(tasks, args, "fig10")
    rows = batch_rows(records)
    for r in rows:
        print(f"{r['model']:<10} batch {r['batch']:>2}: smartmem/naive x{r['smartmem_over_naive']:.2f} "
              f"/fusion x{r['smartmem_over_fusion']:.2f}  {r['smartmem_ms_per_item']:.3f} ms per item", flush=True)
    common.write_csv(out / "fig10_batch.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny), batches=args.batches))
    if rows:
        plot(rows, out / "fig10_batch.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
