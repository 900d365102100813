"""Cache-size sensitivity (not in the paper: it needs a simulator): each policy's simulated latency and misses
as the L1 (per core) or L2 capacity of the profile is scaled by 1/4 .. 4, the other levels unchanged
(sweep overrides ``levels.L1.size`` / ``levels.L2.size``; sets scale, ways and line stay).

Writes ``cache_sensitivity.csv`` and ``.png`` under experiments/results/cache_sensitivity/.

    .venv/bin/python experiments/cache_sensitivity.py [--models swin,resnext] [--levels L1,L2] [--factors ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem")
MODELS = ("swin", "resnext")
FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
COLUMNS = ["model", "size", "level", "factor", "level_bytes", "policy", "ms", "level_misses", "dram_bytes",
           "ms_vs_default", "smartmem_over_fusion", "smartmem_over_naive"]


def level_sizes(device: str) -> dict[str, int]:
    from smartmem_sim import memsim
    return {lv.name: int(lv.size) for lv in memsim.load_profile(device).levels}


def sized_tasks(names, device: str, tiny: bool, levels, factors) -> list:
    from smartmem_sim.sweep import Task

    sizes = level_sizes(device)
    tasks = []
    for n in names:
        for level in levels:
            if level not in sizes:
                raise common.UserError(f"--levels: '{level}' is not a cache level of {device} ({', '.join(sizes)})")
            for f in factors:
                size = int(sizes[level] * f)
                over = () if f == 1.0 else ((f"levels.{level}.size", size),)
                tasks += [Task(n, device, p, tiny=tiny, overrides=over) for p in POLICIES]
    return tasks


def sensitivity_rows(tasks: list, records: list[dict], device: str) -> list[dict]:
    sizes = level_sizes(device)
    grid: dict[tuple, dict[str, dict]] = {}
    for t, r in zip(tasks, records, strict=True):
        if not common.ok(r):
            continue
        level, size = (t.overrides[0][0].split(".")[1], t.overrides[0][1]) if t.overrides else (None, None)
        grid.setdefault((t.model, level, size), {})[t.policy] = r
    rows = []
    for (model, level, size), recs in grid.items():
        if level is None:
            continue
        default = grid.get((model, None, None), {})
        for p, r in recs.items():
            rows.append({"model": model, "size": common.size_label(r["tiny"]), "level": level,
                         "factor": size / sizes[level], "level_bytes": size, "policy": p, "ms": r["seconds"] * 1e3,
                         "level_misses": common.level_total(r, level, "misses"), "dram_bytes": r["dram_bytes"],
                         "ms_vs_default": common.ratio(r["seconds"], default.get(p, {}).get("seconds")),
                         "smartmem_over_fusion": common.ratio(recs.get("fusion", {}).get("seconds"),
                                                              recs.get("smartmem", {}).get("seconds")),
                         "smartmem_over_naive": common.ratio(recs.get("naive", {}).get("seconds"),
                                                             recs.get("smartmem", {}).get("seconds"))})
    # the profile's own sizes (no override) belong to every level's curve
    for (model, level, _size), recs in list(grid.items()):
        if level is not None:
            continue
        for lv in dict.fromkeys(r["level"] for r in rows if r["model"] == model):
            for p, r in recs.items():
                rows.append({"model": model, "size": common.size_label(r["tiny"]), "level": lv, "factor": 1.0,
                             "level_bytes": sizes[lv], "policy": p, "ms": r["seconds"] * 1e3,
                             "level_misses": common.level_total(r, lv, "misses"), "dram_bytes": r["dram_bytes"],
                             "ms_vs_default": 1.0,
                             "smartmem_over_fusion": common.ratio(recs["fusion"]["seconds"], recs["smartmem"]["seconds"]),
                             "smartmem_over_naive": common.ratio(recs["naive"]["seconds"], recs["smartmem"]["seconds"])})
    return sorted(rows, key=lambda r: (r["model"], r["level"], r["factor"], POLICIES.index(r["policy"])))


SPEEDUP_COLOR = "0.25"


@common.styled
def plot(rows: list[dict], path: Path, device: str) -> None:
    """One column per (network, level): simulated ms per policy (top) and smartmem's speedups (bottom: solid
    over fusion, dashed over naive); x labels only under the bottom row."""
    import numpy as np

    from smartmem_sim.figure_style import color, figure_legend, plain_number, reference_line

    keys = list(dict.fromkeys((r["model"], r["level"]) for r in rows))
    fig, axes = common.figure(2, len(keys), figsize=(max(7.2, 1.8 * len(keys)), 4.6), sharex="col")
    axes = np.asarray(axes).reshape(2, len(keys))
    for j, (model, level) in enumerate(keys):
        rs = [r for r in rows if r["model"] == model and r["level"] == level]
        # KiB for the per-core L1, MiB for levels of a MiB or more, so the tick labels stay short
        scale, unit = (1024.0, "KiB") if max(r["level_bytes"] for r in rs) < 2**20 else (2.0**20, "MiB")
        for p in POLICIES:
            pr = [r for r in rs if r["policy"] == p]
            axes[0][j].plot([r["level_bytes"] / scale for r in pr], [r["ms"] for r in pr], "o-", label=p,
                            color=color(p), ms=3.5)
        sm = [r for r in rs if r["policy"] == "smartmem"]
        size = [r["level_bytes"] / scale for r in sm]
        # ratios in a neutral dark grey: in smartmem's green they would read as the top row's smartmem line
        axes[1][j].plot(size, [r["smartmem_over_fusion"] for r in sm], "D-", color=SPEEDUP_COLOR, ms=3.5,
                        label="smartmem / fusion")
        axes[1][j].plot(size, [r["smartmem_over_naive"] for r in sm], "s--", color=SPEEDUP_COLOR, ms=3.5,
                        mfc="white", label="smartmem / naive")
        reference_line(axes[1][j], 1.0, "ratio 1 (no change)")
        default = next(r["level_bytes"] / scale for r in sm if r["factor"] == 1.0)
        for ax in (axes[0][j], axes[1][j]):
            ax.axvline(default, color="0.6", lw=0.8, ls=":", zorder=0.5, label="the profile's size")
        axes[0][j].set_title(f"{model}: {level}", fontsize=8)
        axes[1][j].set_xscale("log", base=2)
        axes[1][j].set_xticks(size, [plain_number(s) for s in size])
        axes[1][j].minorticks_off()
        axes[1][j].set_xlabel(f"{level} {unit}" + (" per core" if level == "L1" else ""))
    axes[0][0].set_ylabel("simulated ms")
    axes[1][0].set_ylabel("smartmem speedup")
    fig.suptitle(f"Cache-size sensitivity on {device} ({rows[0]['size']}): one level scaled, the others as profiled")
    figure_legend(fig, where="bottom", ncols=4, order=(*POLICIES, "smartmem / fusion", "smartmem / naive"))
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, "cache_sensitivity", models=MODELS, tiny=False)
    ap.add_argument("--levels", default="L1,L2", help="cache levels to scale")
    ap.add_argument("--factors", default=",".join(str(f) for f in FACTORS), help="size factors (1 = the profile's)")
    args = common.parse_args(ap, argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "cache_sensitivity.csv"), out / "cache_sensitivity.png", args.device)
        return 0
    names = common.model_names(args.models)
    factors = sorted({float(f) for f in args.factors.split(",") if f.strip()} | {1.0})
    levels = [lv for lv in args.levels.split(",") if lv]
    tasks = sized_tasks(names, args.device, args.tiny, levels, factors)
    records = common.run_tasks(tasks, args, "cache_sensitivity")
    rows = sensitivity_rows(tasks, records, args.device)
    for r in rows:
        if r["policy"] == "smartmem":
            print(f"{r['model']:<10} {r['level']} x{r['factor']:<5} smartmem {r['ms']:9.3f} ms, /fusion "
                  f"x{r['smartmem_over_fusion']:.2f}, /naive x{r['smartmem_over_naive']:.2f}", flush=True)
    common.write_csv(out / "cache_sensitivity.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny), levels=" ".join(levels),
                                   factors=" ".join(str(f) for f in factors)))
    if rows:
        plot(rows, out / "cache_sensitivity.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
