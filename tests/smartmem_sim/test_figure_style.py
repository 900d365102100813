"""The house figure style: files in three formats, the description in metadata (not drawn), stable bytes."""
from __future__ import annotations

import struct
import zlib

from smartmem_sim.figure_style import OKABE_ITO, new_figure, palette, save


def _png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        out.setdefault(kind, []).append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    return out


def test_save_writes_three_formats_with_metadata_and_200_dpi(tmp_path):
    fig, ax = new_figure(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="a")
    paths = save(fig, tmp_path / "f.png", description="commit 0123abc; smartmem compare x")
    assert sorted(p.suffix for p in paths) == [".pdf", ".png", ".svg"]
    png = (tmp_path / "f.png").read_bytes()
    chunks = _png_chunks(png)
    width, height = struct.unpack(">II", chunks[b"IHDR"][0][:8])
    assert (width, height) == (800, 600)  # 4 x 3 inches at 200 dpi
    texts = b"".join(chunks.get(b"tEXt", []) + [zlib.decompress(c.split(b"\0", 2)[2]) for c in chunks.get(b"zTXt", [])])
    assert b"commit 0123abc" in texts
    svg = (tmp_path / "f.svg").read_text()
    assert "commit 0123abc" in svg.split("</metadata>")[0]  # in the metadata block only
    assert "commit 0123abc" not in svg.split("</metadata>")[1]


def test_save_is_deterministic(tmp_path):
    for name in ("a", "b"):
        fig, ax = new_figure()
        ax.bar(["x", "y"], [1, 2])
        save(fig, tmp_path / f"{name}.png", description="d")
    for fmt in ("png", "svg", "pdf"):
        assert (tmp_path / f"a.{fmt}").read_bytes() == (tmp_path / f"b.{fmt}").read_bytes(), fmt


def test_stamp_draws_the_description(tmp_path):
    fig, ax = new_figure()
    save(fig, tmp_path / "s.svg", formats=("svg",), description="commit feed", stamp=True)
    assert "commit feed" in (tmp_path / "s.svg").read_text().split("</metadata>")[1]


def test_palette_keeps_named_colours_and_gives_others_distinct_ones():
    colours = palette(["naive", "smartmem", "other1", "other2"])
    assert len(set(colours.values())) == 4
    assert set(colours.values()) <= set(OKABE_ITO)
    assert palette(["smartmem"])["smartmem"] == colours["smartmem"]


def test_plain_log_ticks_label_decimals_not_powers(tmp_path):
    from smartmem_sim.figure_style import plain_log_ticks

    fig, ax = new_figure()
    ax.bar([0, 1], [0.3, 2.5])
    ax.set_yscale("log")
    ax.set_ylim(0.3, 2.6)
    plain_log_ticks(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert {"0.5", "1", "2"} <= set(labels)
    assert not any("10^" in t or "times" in t or "\\" in t for t in labels)


def test_figure_legend_lists_each_label_once_in_the_given_order():
    from smartmem_sim.figure_style import figure_legend

    fig, axes = new_figure(ncols=2)
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="b")
        ax.bar([0], [1], label="a")
    legend = figure_legend(fig, order=("a",), where="bottom")
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]


def test_stamp_lies_under_a_legend_along_the_bottom(tmp_path):
    from smartmem_sim.figure_style import figure_legend

    fig, ax = new_figure(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="a series with a long label")
    legend = figure_legend(fig, where="bottom")
    save(fig, tmp_path / "s.png", formats=("png",), description="commit feed; a long command line", stamp=True)
    stamp = next(t for t in fig.texts if t.get_text().startswith("commit feed"))
    fig.draw_without_rendering()
    assert stamp.get_window_extent().y1 <= legend.get_window_extent().y0
    assert not stamp.get_window_extent().overlaps(ax.get_window_extent())
