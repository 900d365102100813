"""One style for every figure the framework draws (CLI commands, the Python API, experiments/).

Why a module: figures made by different scripts must read as one set in a paper. The choices:
- the Okabe-Ito palette (safe for the common colour-vision deficiencies; Okabe & Ito 2008, "Color Universal
  Design"), one colour per meaning, fixed by :func:`color` so a series keeps its colour across panels;
- constrained layout, so titles, labels and legends are not clipped or drawn over each other;
- vector files (SVG, PDF) beside a PNG at 200 dpi or more;
- the commit and command that made a figure go into the file's metadata, not onto the picture
  (``stamp=True`` draws them as well, for slides).

Nothing here switches matplotlib's backend: :func:`new_figure` builds a Figure without pyplot, so a notebook's
backend is left alone, and CLI code that never shows a window needs no ``matplotlib.use``.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

# Okabe & Ito (2008); black last, because it is also the colour of reference lines
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")

# one colour per meaning, the same in every figure
SERIES_COLORS = {
    "naive": "#D55E00", "mnn": "#D55E00",
    "fusion": "#0072B2", "dnnfusion": "#0072B2",
    "smartmem": "#009E73",
    # the ablation's intermediate policies (experiments/fig8_9_ablation.py), between fusion and smartmem
    "smartmem-elim": "#56B4E9", "smartmem-select": "#F0E442",
    "search": "#CC79A7",
    "tvm": "#E69F00",
    "transform": "#E69F00", "layout transforms": "#E69F00",
    "operator kernels": "#56B4E9",
    "paper": "#000000",
}
REFERENCE_COLOR = "0.35"
PNG_DPI = 200

RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
    "savefig.dpi": PNG_DPI,
    "axes.formatter.use_mathtext": False,
}


def color(name: str, index: int = 0) -> str:
    """The colour of a named series (policy, framework, component); unnamed series cycle through Okabe-Ito."""
    return SERIES_COLORS.get(name.lower(), OKABE_ITO[index % len(OKABE_ITO)])


def palette(names: Iterable[str]) -> dict[str, str]:
    """Colours for several series: named ones keep their colour, the others take unused Okabe-Ito colours."""
    names = list(names)
    taken = {SERIES_COLORS[n.lower()] for n in names if n.lower() in SERIES_COLORS}
    free = [c for c in OKABE_ITO if c not in taken] or list(OKABE_ITO)
    out, i = {}, 0
    for n in names:
        if n.lower() in SERIES_COLORS:
            out[n] = SERIES_COLORS[n.lower()]
        else:
            out[n] = free[i % len(free)]
            i += 1
    return out


def new_figure(*, nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 3.6), **subplot_kw):
    """A (Figure, axes) pair in the house style, made without pyplot (no backend switch, no global state)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context(RC):
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def style_context():
    """``with style_context(): ...`` applies the house rcParams to figures made inside (pyplot users)."""
    import matplotlib as mpl

    return mpl.rc_context(RC)


def reference_line(ax, y: float = 1.0, label: str | None = None, *, axis: str = "y", **kw) -> None:
    """A labelled horizontal (or vertical) reference line, drawn under the data."""
    style = {"color": REFERENCE_COLOR, "lw": 0.9, "ls": "--", "zorder": 0.5} | kw
    if axis == "y":
        ax.axhline(y, label=label, **style)
    else:
        ax.axvline(y, label=label, **style)


def plain_number(value: float, _pos=None) -> str:
    """A tick label in plain decimals (0.3, 1, 1.5, 2000): log axes otherwise label 0.4 as "4x10^-1"."""
    return f"{value:g}"


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis in plain decimals with ticks dense enough to read values off a short range.

    Call it after the data is drawn: the tick density follows the decades the axis spans then (decades only
    beyond three, 1-2-5 down to 1.3, 1-1.5-2-3-5-7 down to half a decade, steps of 0.2 below that).
    """
    from math import log10

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    decades = log10(max(hi, lo) / min(hi, lo)) if min(hi, lo) > 0 else 4.0
    if decades > 3:
        subs: tuple[float, ...] = (1.0,)
    elif decades > 1.3:
        subs = (1.0, 2.0, 5.0)
    elif decades > 0.5:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    else:
        subs = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    target.set_major_formatter(FuncFormatter(plain_number))
    target.set_minor_formatter(NullFormatter())


def legend_outside(ax_or_fig, *, where: str = "right", ncols: int = 1, **kw):
    """A legend outside the data: to the right of the axes or above it (constrained layout makes room)."""
    if where == "right":
        return ax_or_fig.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncols=ncols, **kw)
    if where == "top":
        return ax_or_fig.legend(loc="lower left", bbox_to_anchor=(0.0, 1.02), ncols=ncols, **kw)
    raise ValueError(f"legend_outside: where must be 'right' or 'top', not {where!r}")


def figure_legend(fig, axes=None, *, where: str = "right", ncols: int = 1, order: Sequence[str] = (), **kw):
    """One legend for the whole figure, outside every axes (constrained layout makes room): the labelled
    artists of ``axes`` (default: all of the figure's), each label once; labels in ``order`` first, in that
    order, then the others as matplotlib lists them (lines and markers before bars)."""
    seen: dict[str, object] = {}
    for ax in (fig.axes if axes is None else axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    first = [label for label in order if label in seen]
    seen = {label: seen[label] for label in first + [label for label in seen if label not in first]}
    loc = {"right": "outside right upper", "top": "outside upper center", "bottom": "outside lower center"}
    if where not in loc:
        raise ValueError(f"figure_legend: where must be one of {sorted(loc)}, not {where!r}")
    return fig.legend(list(seen.values()), list(seen), loc=loc[where], ncols=ncols, **kw)


def _metadata(fmt: str, description: str) -> dict:
    if fmt == "png":
        return {"Software": "smartmem-sim", "Description": description}
    if fmt == "svg":
        return {"Creator": "smartmem-sim", "Description": description, "Date": None}
    if fmt == "pdf":
        # no creation date: the same figure gives the same bytes
        return {"Creator": "smartmem-sim", "Subject": description, "CreationDate": None}
    return {}


def _stamp(fig, text: str, strip_in: float = 0.16) -> None:
    """Draw ``text`` in a strip added under the finished layout. Inside the figure it could land on a legend
    that the layout put along the bottom: the layout is done first, then frozen, then the figure grows."""
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()  # runs the layout engine
    h = fig.get_figheight()
    legends = [(leg, leg.get_window_extent().transformed(fig.dpi_scale_trans.inverted())) for leg in fig.legends]
    fig.set_layout_engine("none")
    grown = h + strip_in

    def lift(y: float) -> float:  # a figure fraction of the old height -> of the grown one
        return (y * h + strip_in) / grown

    for ax in fig.axes:
        pos = ax.get_position()
        ax.set_position(Bbox.from_bounds(pos.x0, lift(pos.y0), pos.width, pos.height * h / grown))
    for t in fig.texts + [a for a in (getattr(fig, "_suptitle", None), getattr(fig, "_supxlabel", None)) if a]:
        x, y = t.get_position()
        t.set_position((x, lift(y)))
    for leg, box in legends:  # pinned in inches where the layout put them, lifted with the rest
        leg.set_bbox_to_anchor(Bbox.from_bounds(box.x0, box.y0 + strip_in, box.width, box.height),
                               transform=fig.dpi_scale_trans)
        leg.set_loc("center")
    fig.set_figheight(grown)
    fig.text(0.995, 0.3 * strip_in / grown, text, ha="right", va="bottom", fontsize=6, color="0.4")


def save(fig, path: str | os.PathLike, *, formats: Sequence[str] = ("png", "svg", "pdf"),
         description: str = "", stamp: bool = False) -> list[Path]:
    """Write ``fig`` once per format beside ``path`` (its suffix is replaced), atomically; returns the paths.

    ``description`` (e.g. "commit abc123; smartmem compare swin --profile adreno740") goes into each file's
    metadata; with ``stamp`` it is also drawn in small print under the figure.
    """
    from smartmem_sim.atomic import atomic_path

    path = Path(path)
    if stamp and description:
        _stamp(fig, description)
    written = []
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        with atomic_path(target) as tmp:
            # SVG text stays text (searchable, editable) and file hashes stay stable across runs
            rc = {"svg.fonttype": "none", "svg.hashsalt": "smartmem-sim"} if fmt == "svg" else {}
            import matplotlib as mpl

            with mpl.rc_context(rc):
                fig.savefig(tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else None,
                            metadata=_metadata(fmt, description))
        written.append(target)
    return written
