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


def plot(rows: list[dict], path: Path, device: str) -> None:
    plt = common.pyplot()

    keys = list(dict.fromkeys((r["model"], r["level"]) for r in rows))
    fig, axes = plt.subplots(2, len(keys), figsize=(3.2 * len(keys), 5.2), squeeze=False)
    for j, (model, level) in enumerate(keys):
        rs = [r for r in rows if r["model"] == model and r["level"] == level]
        for p in POLICIES:
            pr = [r for r in rs if r["policy"] == p]
            axes[0][j].plot([r["level_bytes"] / 1024 for r in pr], [r["ms"] for r in pr], "o-", label=p,
                            color=common.POLICY_COLORS[p])
        sm = [r for r in rs if r["policy"] == "smartmem"]
        axes[1][j].plot([r["level_bytes"] / 1024 for r in sm], [r["smartmem_over_fusion"] for r in sm], "o-",
                        label="smartmem / fusion", color=common.POLICY_COLORS["fusion"])
        axes[1][j].plot([r["level_bytes"] / 1024 for r in sm], [r["smartmem_over_naive"] for r in sm], "s--",
                        label="smartmem / naive", color=common.POLICY_COLORS["naive"])
        axes[0][j].set_title(f"{model}: {level} size")
        axes[0][j].set_ylabel("simulated ms")
        axes[1][j].set_ylabel("speedup")
        for ax in (axes[0][j], axes[1][j]):
            ax.set_xscale("log", base=2)
            ax.set_xlabel(f"{level} KiB" + (" per core" if level == "L1" else ""))
            ax.legend()
    fig.suptitle(f"Cache-size sensitivity on {device} ({rows[0]['size']})")
    common.save(fig, path, f"commit {common.commit()}, device {device}")


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, "cache_sensitivity", models=MODELS, tiny=False)
    ap.add_argument("--levels", default="L1,L2", help="cache levels to scale")
    ap.add_argument("--factors", default=",".join(str(f) for f in FACTORS), help="size factors (1 = the profile's)")
    args = ap.parse_args(argv)
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
    out = Path(args.out)
    common.write_csv(out / "cache_sensitivity.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny), levels=" ".join(levels),
                                   factors=" ".join(str(f) for f in factors)))
    if rows:
        plot(rows, out / "cache_sensitivity.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
