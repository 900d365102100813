"""The heat-map figure (smartmem_sim/heatmap_figures.py): folding a long surface keeps every texel once at
its place, panels of one level share one colour scale, and the files come in three formats."""
import numpy as np
import pytest

from smartmem_sim import memsim
from smartmem_sim.heatmap_figures import _folded, draw, fold
from smartmem_sim.memsim.heatmap import heatmap


@pytest.mark.parametrize("shape", [(784, 4), (2352, 4), (5, 90), (48, 64), (1, 1)])
def test_folding_puts_each_texel_once_where_the_strips_say(shape):
    h, w = shape
    how, k, s = fold(h, w)
    a = np.arange(h * w, dtype=float).reshape(h, w)
    out = _folded(a, how, k, s)
    assert sorted(out[np.isfinite(out)].tolist()) == list(range(h * w))  # each texel once, padding NaN
    for y, x in [(0, 0), (h - 1, w - 1), (h // 2, w // 3)]:
        if how == "tall":  # strip y // s, at column (y // s) * w + x, row y % s
            assert out[y % s, (y // s) * w + x] == a[y, x]
        elif how == "wide":
            assert out[(x // s) * h + y, x % s] == a[y, x]
        else:
            assert out[y, x] == a[y, x]
    if how:
        dh, dw = out.shape
        assert max(dh / dw, dw / dh) < max(h / w, w / h)  # closer to square than the surface


def test_one_colour_scale_per_level_and_three_files(tmp_path):
    prof = memsim.load_profile("adreno740")
    img = memsim.Image2D(32, 16, "fp16", name="img")
    panels = []
    for layout in (memsim.ImageLayout("linear"), memsim.ImageLayout("tiled", 4, 2)):
        trace = memsim.study.walk_trace("column", img, prof.cores)
        _, (m,) = heatmap(prof.hierarchy(), trace, memsim.SurfaceTable([img], layout))
        panels.append((layout.kind, m))
    paths = draw(panels, tmp_path / "hm.png", title="t", description="test")
    assert sorted(p.suffix for p in paths) == [".pdf", ".png", ".svg"]
    from smartmem_sim.heatmap_figures import _draw

    fig = _draw(panels, "t", None, True)
    levels = list(panels[0][1].misses)
    for c, lv in enumerate(levels):
        norms = {(im.norm.vmin, im.norm.vmax) for ax in fig.axes[c::len(levels) + 1][:2] for im in ax.images}
        assert norms == {(0, max(1, max(int(m.misses[lv].max()) for _, m in panels)))}
