"""Fig 12 of the paper: a roofline. For every model and policy, arithmetic intensity (MACs of one inference,
smartmem_sim.compiler.analysis.counts.macs, over the DRAM bytes the simulation moved) against attained throughput (MACs
over simulated seconds), under the device profile's roofs: peak compute = ALU lanes x clock (FMA/s, the
profile's [execution] table) and DRAM bandwidth (memsim profile), plus the texture-L1 roof (all cores'
L1 bandwidth). The paper's Adreno 740 roofs (2.0 TMAC/s, 55 GB/s DRAM, 511 GB/s texture) are drawn beside ours.

Writes ``fig12_roofline.csv`` and ``.png`` under experiments/results/fig12/.

    .venv/bin/python experiments/fig12_roofline.py [--models swin,vit] [--tiny] [--device adreno740]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem")
COLUMNS = ["model", "size", "policy", "macs", "dram_bytes", "seconds", "intensity_mac_per_byte",
           "attained_gmac_s", "roof_gmac_s", "fraction_of_roof"]


def roofs(device: str) -> dict[str, float]:
    """Peak compute (MAC/s), DRAM and texture-L1 bandwidth (B/s) of a device profile."""
    from smartmem_sim.compiler.costs import priced_device

    prof = priced_device(device)
    l1 = prof.levels[0]
    l1_bw = l1.bandwidth_bytes_per_cycle * prof.clock_hz * (prof.cores if l1.per_core else 1)
    return {"peak_mac_s": prof.execution.alu_lanes * prof.clock_hz, "dram_b_s": prof.dram.bandwidth_bytes_per_s,
            "l1_b_s": l1_bw}


def model_macs(name: str, tiny: bool) -> int:
    from smartmem_sim.compiler.analysis.counts import macs
    from smartmem_sim.simulation import load_graph

    return int(macs(load_graph(name, tiny))["total"])


def roofline_rows(per_model: dict[str, dict[str, dict]], macs: dict[str, int], roof: dict[str, float]) -> list[dict]:
    rows = []
    for model, recs in per_model.items():
        for p in POLICIES:
            if p not in recs:
                continue
            r = recs[p]
            intensity = common.ratio(macs[model], r["dram_bytes"])
            bound = min(roof["peak_mac_s"], intensity * roof["dram_b_s"]) if intensity == intensity else float("nan")
            attained = macs[model] / r["seconds"]
            rows.append({"model": model, "size": common.size_label(r["tiny"]), "policy": p, "macs": macs[model],
                         "dram_bytes": r["dram_bytes"], "seconds": r["seconds"], "intensity_mac_per_byte": intensity,
                         "attained_gmac_s": attained / 1e9, "roof_gmac_s": bound / 1e9,
                         "fraction_of_roof": common.ratio(attained, bound)})
    return rows


# one marker per network (colour is the policy's): twelve shapes that stay apart at small size (no circle-like
# hexagons or octagons), filled, then six of them hollow, so all 18 zoo networks differ
MARKERS = [(m, True) for m in "osD^v<>p*XPd"] + [(m, False) for m in "osD^vp"]


@common.styled
def plot(rows: list[dict], roof: dict[str, float], path: Path, device: str) -> None:
    """Attained throughput against intensity: colour = policy, marker = network; the profile's roofs in
    black, the paper's in grey, every roof labelled in the legend."""
    import numpy as np
    from matplotlib.lines import Line2D

    from smartmem_sim.figure_style import color, plain_log_ticks

    paper = common.paper()["roofline"]
    fig, ax = common.figure(figsize=(7.2, 5.0))
    # up to 100 MAC/B: past every roof's ridge point (the paper's at 36), with the networks near 1
    xs = np.logspace(np.log10(0.3), 2, 200)
    ax.plot(xs, np.minimum(roof["peak_mac_s"], xs * roof["dram_b_s"]) / 1e9, color="black", lw=1.2,
            label=f"profile roof: {roof['peak_mac_s'] / 1e12:.2f} TMAC/s, DRAM {roof['dram_b_s'] / 1e9:.0f} GB/s")
    ax.plot(xs, np.minimum(roof["peak_mac_s"], xs * roof["l1_b_s"]) / 1e9, color="black", ls=":", lw=1.2,
            label=f"profile roof: texture L1 {roof['l1_b_s'] / 1e9:.0f} GB/s")
    ax.plot(xs, np.minimum(paper["peak_tmac_s"] * 1e12, xs * paper["dram_gb_s"] * 1e9) / 1e9, color="0.55",
            ls="--", lw=1.0, label=f"paper's roof: {paper['peak_tmac_s']} TMAC/s, DRAM {paper['dram_gb_s']:.0f} GB/s")
    ax.plot(xs, np.minimum(paper["peak_tmac_s"] * 1e12, xs * paper["texture_gb_s"] * 1e9) / 1e9, color="0.55",
            ls="-.", lw=1.0, label=f"paper's roof: texture {paper['texture_gb_s']:.0f} GB/s")
    models = list(dict.fromkeys(r["model"] for r in rows))
    markers = {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(models)}
    for r in rows:
        shape, filled = markers[r["model"]]
        c = color(r["policy"])
        ax.scatter(r["intensity_mac_per_byte"], r["attained_gmac_s"], marker=shape, s=26, zorder=3,
                   facecolors=c if filled else "none", edgecolors="0.15" if filled else c,
                   linewidths=0.3 if filled else 1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(2, 4000)
    plain_log_ticks(ax, "x")
    plain_log_ticks(ax, "y")
    ax.set_xlabel("arithmetic intensity (MAC / DRAM byte)")
    ax.set_ylabel("attained GMAC/s (simulated)")
    ax.set_title(f"Fig 12: roofline on {device} ({rows[0]['size']})")
    roofs_and_policies = ax.get_legend_handles_labels()
    for p in POLICIES:
        roofs_and_policies[0].append(Line2D([], [], ls="", marker="s", color=color(p), ms=6))
        roofs_and_policies[1].append(f"{p} (colour of the points)")
    # two legends: roofs and policy colours beside the axes, the networks' markers under them
    fig.legend(*roofs_and_policies, loc="outside right upper")
    network = [Line2D([], [], ls="", marker=markers[m][0], color="0.45", ms=5,
                      mfc="0.45" if markers[m][1] else "none", mec="0.15" if markers[m][1] else "0.45",
                      mew=0.3 if markers[m][1] else 1.0) for m in models]
    fig.legend(network, models, loc="outside lower center", ncols=6, fontsize=7, columnspacing=1.0,
               handletextpad=0.2, title="networks (marker)", title_fontsize=7)
    common.save(fig, path, f"device {device}")


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(common.parser(__doc__, "fig12"), argv)
    out = Path(args.out)
    if args.replot:
        plot(common.read_csv(out / "fig12_roofline.csv"), roofs(args.device), out / "fig12_roofline.png", args.device)
        return 0
    names, records = common.policy_grid(args, POLICIES, "fig12")
    macs = {n: model_macs(n, args.tiny) for n in names}
    roof = roofs(args.device)
    rows = roofline_rows(common.by_model(records), macs, roof)
    for r in rows:
        print(f"{r['model']:<16} {r['policy']:<9} {r['intensity_mac_per_byte']:8.2f} MAC/B  "
              f"{r['attained_gmac_s']:8.2f} GMAC/s ({100 * r['fraction_of_roof']:.1f}% of roof)", flush=True)
    common.write_csv(out / "fig12_roofline.csv", rows, COLUMNS,
                     common.header(device=args.device, size=common.size_label(args.tiny),
                                   peak_gmac_s=f"{roof['peak_mac_s'] / 1e9:.0f}",
                                   dram_gb_s=f"{roof['dram_b_s'] / 1e9:.0f}", l1_gb_s=f"{roof['l1_b_s'] / 1e9:.0f}"))
    if rows:
        plot(rows, roof, out / "fig12_roofline.png", args.device)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
