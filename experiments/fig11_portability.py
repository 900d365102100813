"""Fig 11 of the paper (portability): smartmem's speedup over naive and fusion on the other phones' profiles
(adreno540: Snapdragon 835, mali_g57: Dimensity 700) beside adreno740, simulated with the same kernels.

Writes ``fig11_portability.csv`` and ``.png`` under experiments/results/fig11/. PAPER.md gives no per-device
numbers for this figure (only that SmartMem's gains carry over), so there is no paper column.

    .venv/bin/python experiments/fig11_portability.py [--models swin,vit] [--devices adreno740,adreno540,mali_g57]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem")
DEVICES = ("adreno740", "adreno540", "mali_g57")
COLUMNS = ["model", "size", "device", "naive_ms", "fusion_ms", "smartmem_ms", "smartmem_over_naive",
           "smartmem_over_fusion"]


def device_rows(records: list[dict]) -> list[dict]:
    grid: dict[tuple[str, str], dict[str, dict]] = {}
    for r in records:
        if common.ok(r):
            grid.setdefault((r["model"], r["device"]), {})[r["policy"]] = r
    rows = []
    for (model, device), recs in grid.items():
        if all(p in recs for p in POLICIES):
            s = {p: recs[p]["seconds"] for p in POLICIES}
            rows.append({"model": model, "size": common.size_label(recs["naive"]["tiny"]), "device": device,
                         **{f"{p}_ms": s[p] * 1e3 for p in POLICIES},
                         "smartmem_over_naive": s["naive"] / s["smartmem"],
                         "smartmem_over_fusion": s["fusion"] / s["smartmem"]})
    for device in dict.fromkeys(r["device"] for r in rows):
        mine = [r for r in rows if r["device"] == device and r["model"] != "geomean"]
        rows.append({"model": "geomean", "size": mine[0]["size"], "device": device,
                     "smartmem_over_naive": common.geomean(r["smartmem_over_naive"] for r in mine),
                     "smartmem_over_fusion": common.geomean(r["smartmem_over_fusion"] for r in mine)})
    return rows


@common.styled
def plot(rows: list[dict], path: Path) -> None:
    """Speedups per model, one bar per device profile in that device's colour in both panels; geomean last."""
    import numpy as np

    from smartmem_sim.figure_style import figure_legend

    models = list(dict.fromkeys(r["model"] for r in rows))
    devices = list(dict.fromkeys(r["device"] for r in rows))
    fig, axes = common.figure(1, 2, figsize=(7.2, 3.3), sharey=True)
    x = np.arange(len(models))
    w = 0.8 / len(devices)
    for ax, key, title in ((axes[0], "smartmem_over_naive", "smartmem / naive"),
                           (axes[1], "smartmem_over_fusion", "smartmem / fusion")):
        for k, d in enumerate(devices):
            y = [next((r[key] for r in rows if r["model"] == m and r["device"] == d), np.nan) for m in models]
            ax.bar(x + (k - (len(devices) - 1) / 2) * w, y, w, label=d, color=common.device_color(d, k))
        if models[-1] == "geomean":
            ax.axvline(len(models) - 1.5, color="0.6", lw=0.6)
        common.ratio_axes(ax, models, "simulated speedup" if ax is axes[0] else "", title)
    fig.suptitle(f"Fig 11: portability across device profiles ({rows[0]['size']}; last group: geometric mean)")
    figure_legend(fig, where="bottom", ncols=4, order=devices)
    common.save(fig, path)


def main(argv: list[str] | None = None) -> int:
    from smartmem_sim.sweep import Task

    ap = common.parser(__doc__, "fig11")
    ap.add_argument("--devices", default=",".join(DEVICES), help="comma-separated device profiles")
    args = common.parse_args(ap, argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "fig11_portability.csv"), out / "fig11_portability.png")
        return 0
    names = common.model_names(args.models)
    devices = [d for d in args.devices.split(",") if d]
    records = common.run_tasks([Task(n, d, p, tiny=args.tiny) for d in devices for n in names for p in POLICIES],
                               args, "fig11")
    rows = device_rows(records)
    for r in rows:
        print(f"{r['model']:<16} {r['device']:<10} smartmem/naive x{r['smartmem_over_naive']:.2f} "
              f"/fusion x{r['smartmem_over_fusion']:.2f}", flush=True)
    common.write_csv(out / "fig11_portability.csv", rows, COLUMNS,
                     common.header(devices=" ".join(devices), size=common.size_label(args.tiny)))
    if rows:
        plot(rows, out / "fig11_portability.png")
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
