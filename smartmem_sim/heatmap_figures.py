"""Texture heat maps as figures: per texel (a buffer: per cell), the misses at each cache level (and the mean
reuse distance), one row of panels per (label, surface), one column per quantity, in the house style
(smartmem_sim/figure_style.py). The numbers come from smartmem_sim/memsim/heatmap.py.

Choices, so that two layouts of one tensor can be compared by eye:
- one colour scale per column (a level's misses), shared by every row, with a labelled colourbar: the same
  colour is the same count in every panel;
- a perceptually uniform sequential colormap (viridis for counts, cividis for reuse distance), so lightness
  orders the values and the maps survive greyscale printing;
- texels the kernel never named are grey, not the colour of zero, so "not read" and "read, no miss" differ;
- one square pixel per texel (nearest interpolation); a surface much taller than wide (a tensor's image2d
  is often 4 texels wide) is cut into strips set side by side, white lines between them (:func:`fold`).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

UNTOUCHED = "0.82"  # texels no trace row named (viridis has no grey)
NO_REUSE = "white"  # texels with no re-reference (cividis passes through greys)
LINEAR_UP_TO = 6  # colour scales of misses per texel stay linear up to this many
MAX_ASPECT = 4.0  # a surface longer than this times its other side is folded (fold())


def draw(panels: Sequence[tuple[str, object]], path: str | os.PathLike, *, title: str, description: str = "",
         levels: Sequence[str] | None = None, reuse: bool = True, formats=("png", "svg", "pdf")) -> list[Path]:
    """One figure: a row per (label, memsim.heatmap.SurfaceMap), a column per level's misses (all levels of
    the maps unless ``levels``), then the mean first-level reuse distance. Returns the written paths."""
    from smartmem_sim.figure_style import save, style_context

    if not panels:
        raise ValueError("heat map: nothing to draw")
    # titles, labels and colourbars are made after new_figure returns: they need the house rcParams too
    with style_context():
        fig = _draw(panels, title, levels, reuse)
    return save(fig, path, formats=formats, description=description)


def _short(name: str, limit: int = 28) -> str:
    """A surface name that fits a row label: long derived names (copies of copies) keep their end."""
    return name if len(name) <= limit else "..." + name[-(limit - 3):]


def _norm(vmax: int):
    """Linear up to LINEAR_UP_TO misses; above, linear to 1 and logarithmic beyond, so that one surface with
    many misses per texel does not turn every other panel the colour of zero."""
    from matplotlib.colors import Normalize, SymLogNorm

    if vmax <= LINEAR_UP_TO:
        return Normalize(0, vmax)
    return SymLogNorm(linthresh=1.0, linscale=0.5, vmin=0, vmax=vmax, base=10)


def fold(h: int, w: int) -> tuple[str, int, int]:
    """How a (h, w) surface is shown: ("", 1, h) as it is; ("tall", k, s) cut into k strips of s texel rows
    set side by side (left to right); ("wide", k, s) cut into k bands of s texel columns stacked (top to
    bottom). Image2D layouts of tensors are often a few texels wide and hundreds tall: folding keeps one
    square pixel per texel and a panel near square."""
    if h > MAX_ASPECT * w:
        k = max(2, round((h / w) ** 0.5))
        return "tall", k, -(-h // k)
    if w > MAX_ASPECT * h:
        k = max(2, round((w / h) ** 0.5))
        return "wide", k, -(-w // k)
    return "", 1, h


def _folded(a: np.ndarray, how: str, k: int, s: int) -> np.ndarray:
    """``a`` (float, NaN = nothing to show) rearranged as :func:`fold` says; padding is NaN."""
    h, w = a.shape
    if how == "tall":
        pad = np.full((k * s, w), np.nan)
        pad[:h] = a
        return pad.reshape(k, s, w).transpose(1, 0, 2).reshape(s, k * w)
    if how == "wide":
        pad = np.full((h, k * s), np.nan)
        pad[:, :w] = a
        return pad.reshape(h, k, s).transpose(1, 0, 2).reshape(k * h, s)
    return a


def _draw(panels, title, levels, reuse):
    import matplotlib as mpl
    from matplotlib.colors import ListedColormap

    from smartmem_sim.figure_style import new_figure

    levels = list(levels or next(iter(panels))[1].misses)
    cols = [("misses", lv) for lv in levels] + ([("reuse", None)] if reuse else [])
    folds = [fold(*m.shape) for _, m in panels]
    shown = [_folded(np.zeros(m.shape), *f).shape for (_, m), f in zip(panels, folds, strict=True)]
    aspect = float(np.median([w / h for h, w in shown]))  # of the drawn arrays (width / height)
    pw = 2.0 if aspect <= 1 else min(3.2, 2.0 * aspect ** 0.5)
    ph = min(3.2, max(1.0, pw / aspect))
    fig, axes = _grid(new_figure, len(panels), len(cols), pw, ph)
    vmax = {lv: max(1, max(int(m.misses[lv].max()) for _, m in panels)) for kind, lv in cols if kind == "misses"}
    finite = [np.nanmax(m.mean_reuse_distance) for _, m in panels if np.isfinite(m.mean_reuse_distance).any()]
    reuse_max = max(1.0, max(finite, default=1.0))
    viridis = mpl.colormaps["viridis"].with_extremes(bad=UNTOUCHED)
    cividis = mpl.colormaps["cividis"].with_extremes(bad=(0, 0, 0, 0))  # NaN: see the layer under it
    under = ListedColormap([UNTOUCHED, NO_REUSE])  # untouched / touched without a re-reference
    images = {}
    for r, ((label, m), (how, k, s)) in enumerate(zip(panels, folds, strict=True)):
        touched = m.rows > 0
        h, w = m.shape
        for c, (kind, lv) in enumerate(cols):
            ax = axes[r][c]
            show = dict(interpolation="nearest", origin="upper", aspect="equal")
            if kind == "misses":
                data = _folded(np.where(touched, m.misses[lv], np.nan), how, k, s)
                im = ax.imshow(np.ma.masked_invalid(data), cmap=viridis, norm=_norm(vmax[lv]), **show)
            else:
                base = _folded(np.where(touched, 1.0, np.nan), how, k, s)
                ax.imshow(np.ma.masked_invalid(np.nan_to_num(base, nan=0.0)), cmap=under, vmin=0, vmax=1, **show)
                data = _folded(m.mean_reuse_distance, how, k, s)
                im = ax.imshow(np.ma.masked_invalid(data), cmap=cividis, vmin=0, vmax=reuse_max, **show)
            images[(kind, lv)] = im
            ax.grid(False)
            ax.tick_params(length=2, labelsize=6)
            dh, dw = data.shape
            for j in range(1, k):  # where one strip (band) ends and the next begins
                if how == "tall":
                    ax.axvline(j * w - 0.5, color="white", lw=0.8)
                else:
                    ax.axhline(j * h - 0.5, color="white", lw=0.8)
            if how == "tall":
                ax.set_xticks([])
                ax.set_yticks([0, dh - 1])
            elif how == "wide":
                ax.set_xticks([0, dw - 1])
                ax.set_yticks([])
            else:
                ax.set_xticks([0, w - 1] if w > 1 else [0])
                ax.set_yticks([0, h - 1] if h > 1 else [0])
            if r == 0:
                ax.set_title(f"{lv} misses" if kind == "misses" else "mean reuse distance")
            unit = "texels" if m.kind == "image" else f"buffer cells of {m.unit_bytes} B"
            if c == 0:
                where = {"tall": f"\n{k} strips of {s} rows, left to right", "": "\ny (row)",
                         "wide": f"\n{k} bands of {s} columns, top down"}[how]
                ax.set_ylabel(f"{label}\n{_short(m.name)}\n({w}x{h} {unit}){where}", fontsize=7)
            if r == len(panels) - 1 or how:
                ax.set_xlabel("x within each strip" if how == "tall" else "x (column)", fontsize=6)
            if kind == "misses":
                total = int(m.misses[lv].sum())
                ax.text(0.99, 0.01, f"{total:,}", transform=ax.transAxes, ha="right", va="bottom", fontsize=6,
                        color="white", bbox={"facecolor": "black", "alpha": 0.45, "pad": 1, "lw": 0})
    for c, (kind, lv) in enumerate(cols):
        label = (f"{lv} misses per texel" if kind == "misses"
                 else "mean first-level reuse distance\n(distinct lines; white: no re-reference)")
        cb = fig.colorbar(images[(kind, lv)], ax=[axes[r][c] for r in range(len(panels))], location="bottom",
                          shrink=0.9, aspect=25, pad=0.02)
        if kind == "misses" and vmax[lv] > LINEAR_UP_TO:
            label += " (log scale above 1)"
            ticks = [t for t in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t < 0.8 * vmax[lv]] + [vmax[lv]]
            cb.set_ticks(ticks, labels=[str(t) for t in ticks])
            cb.ax.minorticks_off()
        elif kind == "misses":
            cb.set_ticks(range(0, vmax[lv] + 1))
        cb.set_label(label, fontsize=7)
        cb.ax.tick_params(labelsize=6)
    fig.suptitle(title + "\n(grey: texels or cells the trace never names; corner number: the panel's total)",
                 fontsize=8)
    return fig


def _grid(new_figure, nrows: int, ncols: int, pw: float, ph: float):
    fig, axes = new_figure(nrows=nrows, ncols=ncols, figsize=(pw * ncols + 0.6, ph * nrows + 1.4))
    axes = np.asarray(axes).reshape(nrows, ncols)
    return fig, axes
