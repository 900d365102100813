"""`smartmem cache-study`: walk an image row-wise, column-wise, in tiles and strided on a device profile,
under one or more image layouts; print a table per cache level and save CSV, JSON and a plot (PNG, SVG, PDF).

--heatmap also draws, per walk pattern, where in the image the misses fall: per texel, the misses at each
cache level and the mean first-level reuse distance, one row per layout (heatmap_<pattern>.png/.svg/.pdf).
The per-texel counts add up to the table's counts (smartmem_sim/memsim/heatmap.py)."""
from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
from pathlib import Path

from smartmem_sim import jsonout
from smartmem_sim.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cache-study",
        help="cache behaviour of image walks (row, column, tiled, strided) on a device profile",
        description=__doc__,
    )
    p.add_argument("--profile", "--device", dest="device", metavar="PROFILE", required=True, help="profile name (see `smartmem profiles`) or path to a profile TOML")
    p.add_argument("--width", default="512", help="image width in texels (default 512)")
    p.add_argument("--height", default="512", help="image height in texels (default 512)")
    p.add_argument("--dtype", default="fp16", help="texel type: fp16 (8 B RGBA texel) or fp32 (16 B)")
    p.add_argument("--patterns", default="row,column,tiled,strided", help="comma-separated walk patterns")
    p.add_argument(
        "--layouts", default="device,linear,tiled,morton",
        help="comma-separated image layouts: device, linear, tiled[:WxH] (default: one L1 line a tile), "
        "morton[:WxH] (default 16x16), block_linear",
    )
    p.add_argument("--workgroup", default="8x8", help="2-D work-group of the tiled walk, WxH work-items")
    p.add_argument("--group-items", default="64", help="work-items per 1-D work-group (row, column, strided)")
    p.add_argument("--wave-size", default="64", help="work-items a core issues together")
    p.add_argument("--stride", default="8", help="texel stride of the strided walk")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="folder for cache_study.csv, cache_study.json, cache_study.png")
    p.add_argument("--heatmap", action="store_true",
                   help="also draw per-texel miss and reuse maps, one figure per pattern (heatmap_<pattern>.png)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    p.set_defaults(func=run)


def _positive(name: str, text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise UserError(f"{name} must be a positive integer, got {text!r}") from None
    if v < 1:
        raise UserError(f"{name} must be a positive integer, got {v}")
    return v


def _shape(name: str, text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise UserError(f"{name} must look like 8x8 (W x H work-items), got {text!r}")
    return _positive(name, parts[0]), _positive(name, parts[1])


def _list(name: str, text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UserError(f"{name} needs at least one entry")
    return items


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
            timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run(args: argparse.Namespace) -> int:
    from smartmem_sim.memsim.study import PATTERNS, WalkConfig, run_study

    width = _positive("--width", args.width)
    height = _positive("--height", args.height)
    if args.dtype not in ("fp16", "fp32"):
        raise UserError(f"--dtype must be fp16 or fp32, got {args.dtype!r}")
    patterns = _list("--patterns", args.patterns)
    unknown = [p for p in patterns if p not in PATTERNS]
    if unknown:
        raise UserError(f"--patterns: unknown pattern(s) {', '.join(unknown)}; choose from {', '.join(PATTERNS)}")
    layouts = _list("--layouts", args.layouts)
    config = WalkConfig(
        group_items=_positive("--group-items", args.group_items),
        workgroup=_shape("--workgroup", args.workgroup),
        wave_size=_positive("--wave-size", args.wave_size),
        stride=_positive("--stride", args.stride),
    )
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder")

    from tqdm import tqdm

    from smartmem_sim.memsim.profiles import load_profile

    profile = load_profile(args.device)
    total = len(patterns) * len(layouts)
    with tqdm(total=total, desc="cache-study", unit="run", file=sys.stderr, disable=None, leave=False) as bar:
        result = run_study(
            profile, width, height, args.dtype, patterns, layouts, config,
            progress=lambda layout, pattern: (bar.set_postfix_str(f"{layout} / {pattern}"), bar.update(1)),
            heatmaps=args.heatmap,
        )

    data = result.to_dict()
    data["commit"] = _commit()
    data["options"] = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    if args.heatmap:
        data["heatmaps"] = _heatmaps(result, out_dir, data["commit"])
    _write_outputs(result, data, out_dir)
    if args.json:
        print(jsonout.dumps(jsonout.report("cache-study", data), indent=1))
    else:
        _print_tables(result, out_dir)
        if args.heatmap:
            print("heat maps: " + ", ".join(data["heatmaps"]) + " (each also .svg, .pdf)")
    return 0


def _heatmaps(result, out_dir: Path, commit: str | None) -> list[str]:
    """One figure per pattern, a row per layout; the PNG paths written."""
    from smartmem_sim.heatmap_figures import draw

    img = result.image
    written = []
    for pattern in dict.fromkeys(r.pattern for r in result.runs):
        runs = [r for r in result.runs if r.pattern == pattern]
        paths = draw([(r.layout, r.texels) for r in runs], out_dir / f"heatmap_{pattern}.png",
                     title=f"{pattern} walk of a {img.width}x{img.height} {img.dtype} image on {result.device} "
                           f"({result.cores} cores): misses per texel",
                     description=f"commit {commit or 'unknown'}; smartmem cache-study --heatmap")
        written.append(str(paths[0]))
    return written


def _write_outputs(result, data: dict, out_dir: Path) -> None:
    from smartmem_sim.atomic import write_text
    from smartmem_sim.figure_style import save

    rows = result.rows()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    write_text(out_dir / "cache_study.csv", buf.getvalue())
    write_text(out_dir / "cache_study.json", jsonout.dumps(jsonout.report("cache-study", data), indent=1) + "\n")
    save(_plot(result), out_dir / "cache_study.png",
         description=f"commit {data.get('commit') or 'unknown'}; smartmem cache-study")


def _plot(result):
    """Grouped bars: x = walk pattern, one bar per layout; a panel per cache level (hit rate), then DRAM
    bytes read and predicted time. House style (smartmem_sim/figure_style.py), no pyplot."""
    import numpy as np

    from smartmem_sim.figure_style import legend_outside, new_figure, palette, style_context

    rows = result.rows()
    layouts = list(dict.fromkeys(r["layout"] for r in rows))
    patterns = list(dict.fromkeys(r["pattern"] for r in rows))
    levels = list(dict.fromkeys(r["level"] for r in rows))
    runs = {(r["layout"], r["pattern"]): r for r in rows}  # DRAM bytes and time are per run
    by_level = {(r["layout"], r["pattern"], r["level"]): r for r in rows}
    panels = [(f"{lv} hit rate", lambda la, pa, lv=lv: by_level[(la, pa, lv)]["hit_rate"] or 0.0, "hit rate")
              for lv in levels]
    panels.append(("DRAM bytes read", lambda la, pa: runs[(la, pa)]["dram_bytes_read"] / 2**20, "MiB"))
    panels.append(("predicted time", lambda la, pa: runs[(la, pa)]["seconds"] * 1e6, "µs"))
    colours = palette(layouts)
    with style_context():
        fig, axes = new_figure(nrows=1, ncols=len(panels), figsize=(2.6 * len(panels) + 1.6, 3.4))
        axes = np.atleast_1d(axes)
        xs = np.arange(len(patterns))
        width = 0.8 / len(layouts)
        for ax, (title, value, unit) in zip(axes, panels, strict=True):
            for k, la in enumerate(layouts):
                ax.bar(xs + (k - (len(layouts) - 1) / 2) * width, [value(la, pa) for pa in patterns], width,
                       label=la, color=colours[la])
            ax.set_title(title)
            ax.set_ylabel(unit)
            ax.set_xticks(xs, patterns)
            ax.set_xlabel("walk pattern")
            if unit == "hit rate":
                ax.set_ylim(0, 1)
        img = result.image
        fig.suptitle(f"{result.device}: {img.width}x{img.height} {img.dtype} image, {result.cores} cores")
        legend_outside(axes[-1], title="image layout")
    return fig


def _fmt_bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _print_tables(result, out_dir: Path) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = result.rows()
    img = result.image
    console.print(
        f"[bold]cache study[/bold] on {result.device}: {img.width}x{img.height} {img.dtype} image "
        f"({_fmt_bytes(img.data_bytes)}), {result.cores} cores, waves of {result.config.wave_size}"
    )
    blocks = dict.fromkeys((r["layout"], r["line_block"]) for r in rows)
    console.print("a first-level line covers: " + "; ".join(f"{la}: {b} texels" for la, b in blocks))
    for level in dict.fromkeys(r["level"] for r in rows):
        t = Table(title=f"level {level}", box=box.SIMPLE_HEAD)
        for col in ("layout", "pattern", "accesses", "misses", "hit rate", "bytes filled"):
            t.add_column(col, justify="left" if col in ("layout", "pattern") else "right")
        for r in rows:
            if r["level"] == level:
                hr = "-" if r["hit_rate"] is None else f"{r['hit_rate']:.3f}"
                t.add_row(r["layout"], r["pattern"], f"{r['accesses']:,}", f"{r['misses']:,}", hr,
                          _fmt_bytes(r["bytes_filled"]))
        console.print(t)
    t = Table(title="DRAM and predicted time", box=box.SIMPLE_HEAD)
    for col in ("layout", "pattern", "DRAM read", "DRAM written", "time (µs)"):
        t.add_column(col, justify="left" if col in ("layout", "pattern") else "right")
    for layout, pattern in dict.fromkeys((r["layout"], r["pattern"]) for r in rows):
        r = next(r for r in rows if (r["layout"], r["pattern"]) == (layout, pattern))
        t.add_row(layout, pattern, _fmt_bytes(r["dram_bytes_read"]), _fmt_bytes(r["dram_bytes_written"]),
                  f"{r['seconds'] * 1e6:,.1f}")
    console.print(t)
    console.print(f"wrote {out_dir / 'cache_study.csv'}, cache_study.json, cache_study.png (.svg, .pdf)")
