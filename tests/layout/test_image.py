"""Tensor layouts on 2.5D memory: injective within the image extent, inverses round-trip, presets
match the peers' formulas (written out here in plain Python)."""
from math import ceil, prod

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.image import (
    LANES,
    BufferLayout,
    ImageLayout,
    buffer_layout,
    image_layout,
    nc4hw4,
    nchw4c,
    phwc4,
)
from smartmem_sim.layout.ops import Chain, Reshape, Transpose

LAYOUT = settings.get_profile("smartmem-layout")


def _check_layout(layout: ImageLayout):
    shape = layout.shape
    coords = tuple(np.indices(shape).reshape(len(shape), -1))
    x, y, lane = layout.locate(coords)
    assert (0 <= x).all() and (x < layout.width).all()
    assert (0 <= y).all() and (y < layout.height).all()
    assert (0 <= lane).all() and (lane < LANES).all()
    slot = (y * layout.width + x) * LANES + lane
    assert len(np.unique(slot)) == prod(shape), "two elements share a texel lane"
    back, valid = layout.inverse(x, y, lane)
    assert valid.all() and all(np.array_equal(b, c) for b, c in zip(back, coords, strict=True))
    # every other slot of the image is padding
    yy, xx, ll = np.indices((layout.height, layout.width, LANES)).reshape(3, -1)
    _, valid_all = layout.inverse(xx, yy, ll)
    assert int(valid_all.sum()) == prod(shape)
    # symbolic: the inverse, then the layout, is the identity on (x, y, lane) of real elements
    variables, exprs = layout.inverse_exprs()
    again = layout.address_exprs(exprs)
    expected = [v.name if v.extent > 1 else "0" for v in variables]
    if layout.lane_dim is None:
        expected[2] = "0"  # real elements sit in lane 0 only
    assert [str(e) for e in again] == expected


@st.composite
def image_layouts(draw):
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)))
    dims = list(draw(st.permutations(range(len(shape)))))
    cut = draw(st.integers(0, len(dims)))
    lane = draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
    return image_layout(shape, width=dims[:cut], height=dims[cut:], lane=lane)


@settings(LAYOUT, max_examples=150)
@given(image_layouts())
def test_every_image_layout_is_injective_and_its_inverse_round_trips(layout):
    _check_layout(layout)


@pytest.mark.parametrize("shape", [(1, 3, 2, 5), (2, 8, 3, 1), (2, 6, 3, 5)])
def test_presets_are_injective_and_round_trip(shape):
    for make in (nc4hw4, phwc4, nchw4c):
        _check_layout(make(shape))


def test_nc4hw4_matches_mnn_formula():
    n, c, h, w = 2, 6, 3, 5
    layout = nc4hw4((n, c, h, w))
    assert (layout.width, layout.height) == (ceil(c / 4) * w, n * h)
    for nn, cc, hh, ww in np.ndindex(n, c, h, w):
        assert tuple(int(v) for v in layout.locate((nn, cc, hh, ww))) == ((cc // 4) * w + ww, nn * h + hh, cc % 4)


def test_phwc4_matches_tflite_extents_and_formula():
    n, h, w, c = 2, 3, 4, 7
    layout = phwc4((n, h, w, c))
    slices = ceil(c / 4)
    assert (layout.width, layout.height) == (w * n, h * slices)
    for nn, hh, ww, cc in np.ndindex(n, h, w, c):
        assert tuple(int(v) for v in layout.locate((nn, hh, ww, cc))) == (ww * n + nn, hh * slices + cc // 4, cc % 4)


def test_nchw4c_matches_tvm_formula():
    n, c, h, w = 2, 5, 3, 4
    layout = nchw4c((n, c, h, w))
    assert (layout.width, layout.height) == (w, n * ceil(c / 4) * h)
    for nn, cc, hh, ww in np.ndindex(n, c, h, w):
        assert tuple(int(v) for v in layout.locate((nn, cc, hh, ww))) == (ww, (nn * ceil(c / 4) + cc // 4) * h + hh, cc % 4)


def test_pack_and_unpack_round_trip_with_zero_padding():
    layout = nc4hw4((1, 5, 2, 3))
    t = np.arange(1, 31, dtype=np.float32).reshape(1, 5, 2, 3)
    image = layout.pack(t)
    assert image.shape == (2, 6, 4)
    assert np.count_nonzero(image) == 30 and layout.fill == pytest.approx(30 / 48)
    assert np.array_equal(layout.unpack(image), t)


def test_buffer_layout_is_a_transposed_row_major_order():
    shape, order = (2, 3, 4), (2, 0, 1)
    layout = buffer_layout(shape, order)
    ids = np.arange(24).reshape(shape)
    storage = ids.transpose(order).ravel()  # what numpy stores for the transposed tensor
    (offset,) = layout.locate(tuple(np.indices(shape)))
    assert np.array_equal(storage[offset], ids)
    back, valid = layout.inverse(np.arange(24))
    assert valid.all() and np.array_equal(ids[back], storage)


def test_layout_composes_with_an_index_map_and_prints_simplified():
    # a consumer iterating over the worked example's output reads its input from an image
    chain = Chain((2, 256, 4), [Reshape((16, 8, 4, 4)), Transpose((0, 2, 1, 3))])
    layout = image_layout((2, 256, 4), width=(1,), height=(0, 2), lane=1)
    x, y, lane = layout.address_of(chain.inverse(("a", "b", "c", "d")))
    assert (str(x), str(y), str(lane)) == ("(a%8)*8 + c", "(a//8)*4 + d", "b")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: image_layout((2, 3), width=(0,), height=(0,), lane=None), "exactly once"),
        (lambda: image_layout((2, 3), width=(0,), height=(1,), lane=2), "not a dim"),
        (lambda: nc4hw4((2, 3, 4)), "rank-4"),
        (lambda: BufferLayout((2, 3), (0, 0)), "not a permutation"),
        (lambda: image_layout((2, 0), width=(0,), height=(1,), lane=None), "dim < 1"),
    ],
)
def test_bad_layouts_raise(make, message):
    with pytest.raises(LayoutError, match=message):
        make()


def test_check_fits_names_the_limit():
    layout = nc4hw4((1, 64, 1, 1024))
    layout.check_fits(16384, 16384)
    with pytest.raises(LayoutError, match="exceeds the device limit 8192x8192"):
        layout.check_fits(8192, 8192)
