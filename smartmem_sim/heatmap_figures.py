"""Texture heat maps as figures: per texel, the misses at each cache level (and the mean reuse distance),
one row of panels per (label, surface), one column per quantity, in the house style
(smartmem_sim/figure_style.py). The numbers come from smartmem_sim/memsim/heatmap.py.

Choices, so that two layouts of one tensor can be compared by eye:
- one colour scale per column (a level's misses), shared by every row, with a labelled colourbar: the same
  colour is the same count in every panel;
- a perceptually uniform sequential colormap (viridis for counts, cividis for reuse distance), so lightness
  orders the values and the maps survive greyscale printing;
- texels the kernel never named are grey, not the colour of zero, so "not read" and "read, no miss" differ;
- texels drawn square where the surface's shape allows, one data pixel per texel (nearest interpolation).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

UNTOUCHED = "0.82"  # texels no trace row named (viridis has no grey)
NO_REUSE = "white"  # texels with no re-reference (cividis passes through greys)
MAX_ASPECT = 8.0  # a surface wider/taller than this is stretched to fit its panel


def _masked(values: np.ndarray, touched: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_array(values.astype(float), mask=~touched)


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


def _draw(panels, title, levels, reuse):
    import matplotlib as mpl

    from smartmem_sim.figure_style import new_figure

    levels = list(levels or next(iter(panels))[1].misses)
    cols = [("misses", lv) for lv in levels] + ([("reuse", None)] if reuse else [])
    shapes = [m.shape for _, m in panels]
    # panel size from the surfaces' aspect: square texels unless a surface is very long and thin
    aspect = float(np.median([min(MAX_ASPECT, max(1 / MAX_ASPECT, w / h)) for h, w in shapes]))
    pw = 2.0 if aspect <= 1 else min(3.2, 2.0 * aspect ** 0.5)
    ph = max(1.0, pw / aspect)
    fig, axes = _grid(new_figure, len(panels), len(cols), pw, ph)
    vmax = {}
    for kind, lv in cols:
        if kind == "misses":
            vmax[lv] = max(1, max(int(m.misses[lv].max()) for _, m in panels))
    reuse_max = 1.0
    if reuse:
        finite = [np.nanmax(m.mean_reuse_distance) for _, m in panels if np.isfinite(m.mean_reuse_distance).any()]
        reuse_max = max(1.0, max(finite, default=1.0))
    images = {}
    for r, (label, m) in enumerate(panels):
        touched = m.rows > 0
        h, w = m.shape
        for c, (kind, lv) in enumerate(cols):
            ax = axes[r][c]
            cmap = (mpl.colormaps["viridis"].with_extremes(bad=UNTOUCHED) if kind == "misses"
                    else mpl.colormaps["cividis"].with_extremes(bad=NO_REUSE))
            if kind == "misses":
                data, vmin, vmx = _masked(m.misses[lv], touched), 0, vmax[lv]
            else:
                data = np.ma.masked_invalid(m.mean_reuse_distance)
                vmin, vmx = 0, reuse_max
            im = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmx, interpolation="nearest", origin="upper",
                           aspect="equal" if max(w / h, h / w) <= MAX_ASPECT else "auto")
            images[(kind, lv)] = im
            ax.grid(False)
            ax.tick_params(length=2, labelsize=6)
            ax.set_xticks([0, w - 1] if w > 1 else [0])
            ax.set_yticks([0, h - 1] if h > 1 else [0])
            if r == 0:
                ax.set_title(f"{lv} misses" if kind == "misses" else "mean reuse distance")
            if c == 0:
                ax.set_ylabel(f"{label}\n{m.name} ({w}x{h})\ny (texel row)", fontsize=7)
            if r == len(panels) - 1:
                ax.set_xlabel("x (texel column)", fontsize=7)
            if kind == "misses":
                total = int(m.misses[lv].sum())
                ax.text(0.99, 0.01, f"{total:,}", transform=ax.transAxes, ha="right", va="bottom", fontsize=6,
                        color="white", bbox={"facecolor": "black", "alpha": 0.45, "pad": 1, "lw": 0})
    for c, (kind, lv) in enumerate(cols):
        label = (f"{lv} misses per texel" if kind == "misses"
                 else "mean first-level reuse distance\n(distinct lines; white: no re-reference)")
        cb = fig.colorbar(images[(kind, lv)], ax=[axes[r][c] for r in range(len(panels))], location="bottom",
                          shrink=0.9, aspect=25, pad=0.02)
        cb.set_label(label, fontsize=7)
        cb.ax.tick_params(labelsize=6)
        if kind == "misses" and vmax[lv] <= 10:
            cb.set_ticks(range(0, vmax[lv] + 1))
    fig.suptitle(title + "\n(grey: texels the trace never names; corner number: the panel's total)", fontsize=8)
    return fig


def _grid(new_figure, nrows: int, ncols: int, pw: float, ph: float):
    fig, axes = new_figure(nrows=nrows, ncols=ncols, figsize=(pw * ncols + 0.6, ph * nrows + 1.4))
    axes = np.asarray(axes).reshape(nrows, ncols)
    return fig, axes
