"""smartmem_sim/memsim/surfaces.py: address maps checked against plain-Python reference formulas and layout-algebra
properties (injective, inside the footprint, no overlap, lines cover the documented 2-D blocks)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.surfaces import Buffer, Image2D, ImageLayout, SurfaceTable
from smartmem_sim.memsim.trace import Trace

SETTINGS = settings(max_examples=60, deadline=None)


def image_trace(surface_id: int, image: Image2D) -> tuple[Trace, np.ndarray, np.ndarray]:
    yy, xx = np.meshgrid(np.arange(image.height), np.arange(image.width), indexing="ij")
    x, y = xx.ravel(), yy.ravel()
    n = x.size
    t = Trace.from_columns(
        core=np.zeros(n, np.int32), surface=np.full(n, surface_id, np.int32), x=x, y=y,
        write=np.zeros(n, bool), nbytes=np.full(n, image.texel_bytes, np.int32),
    )
    return t, x, y


def rows(surface, x, y, nbytes):
    n = len(x)
    return Trace.from_columns(
        core=np.zeros(n, np.int32), surface=np.asarray(surface, np.int32), x=np.asarray(x), y=np.asarray(y),
        write=np.zeros(n, bool), nbytes=np.asarray(nbytes, np.int32),
    )


# ---- plain-Python reference address maps, written from the module docstring's definitions ----

def ref_offset(layout: ImageLayout, img: Image2D, x: int, y: int) -> int:
    tb = img.texel_bytes
    pa = layout.pitch_alignment
    up = lambda v: (v + pa - 1) // pa * pa  # noqa: E731
    if layout.kind == "linear":
        return y * up(img.width * tb) + x * tb
    if layout.kind in ("tiled", "morton"):
        tw, th = layout.tile_width, layout.tile_height
        tile_bytes = tw * th * tb
        tiles_x = -(-img.width // tw)
        tx, ty = x % tw, y % th
        if layout.kind == "tiled":
            inside = ty * tw + tx
        else:  # Z-order: walk the index bits from low to high, alternating x and y while both have bits
            inside, bit, xb, yb = 0, 0, tw.bit_length() - 1, th.bit_length() - 1
            xs, ys = list(range(xb)), list(range(yb))
            order = []
            while xs or ys:
                if xs and ys:
                    order += [("x", xs.pop(0)), ("y", ys.pop(0))]
                elif xs:
                    order.append(("x", xs.pop(0)))
                else:
                    order.append(("y", ys.pop(0)))
            for axis, b in order:
                v = tx if axis == "x" else ty
                inside |= ((v >> b) & 1) << bit
                bit += 1
        return (y // th) * up(tiles_x * tile_bytes) + (x // tw) * tile_bytes + inside * tb
    gw, gh, bh = layout.gob_width_bytes, layout.gob_height, layout.block_height_gobs
    gwt = gw // tb
    block_bytes = gw * gh * bh
    blocks_x = -(-img.width // gwt)
    xb, r = (x % gwt) * tb, y % gh
    if gw == 64 and gh == 8:
        # Tegra GOB: bit layout of the 9-bit offset = [x5 | y2 y1 | x4 | y0 | x3 x2 x1 x0]
        in_gob = ((xb >> 5) & 1) << 8 | ((r >> 1) & 3) << 6 | ((xb >> 4) & 1) << 5 | (r & 1) << 4 | (xb & 15)
    else:
        in_gob = r * gw + xb
    gob_in_block = (y % (gh * bh)) // gh
    return (y // (gh * bh)) * up(blocks_x * block_bytes) + (x // gwt) * block_bytes + gob_in_block * gw * gh + in_gob


@st.composite
def layouts(draw, kinds=("linear", "tiled", "morton", "block_linear")):
    kind = draw(st.sampled_from(kinds))
    pa = 2 ** draw(st.integers(0, 9))
    if kind == "linear":
        return ImageLayout("linear", pitch_alignment=pa)
    if kind == "tiled":
        return ImageLayout("tiled", draw(st.integers(1, 9)), draw(st.integers(1, 9)), pitch_alignment=pa)
    if kind == "morton":
        return ImageLayout("morton", 2 ** draw(st.integers(0, 4)), 2 ** draw(st.integers(0, 4)), pitch_alignment=pa)
    # the swizzled 64 B x 8 GOB half the time, other (row-major) GOB shapes otherwise
    gob_w, gob_h = draw(st.one_of(st.just((64, 8)), st.tuples(st.sampled_from([16, 32, 64, 128]), st.integers(1, 8))))
    return ImageLayout(
        "block_linear", pitch_alignment=pa, gob_width_bytes=gob_w, gob_height=gob_h,
        block_height_gobs=draw(st.integers(1, 4)),
    )


images = st.builds(Image2D, st.integers(1, 40), st.integers(1, 40), st.sampled_from(["fp16", "fp32"]), st.just("img"))


@SETTINGS
@given(layouts(), images, st.integers(0, 3))
def test_every_map_matches_reference_is_injective_and_inside_footprint(layout, img, n_before):
    before = [Buffer(1 + 777 * k, f"buf{k}") for k in range(n_before)]
    table = SurfaceTable([*before, img], layout, base_alignment=256)
    t, x, y = image_trace(n_before, img)
    addr = table.resolve(t).astype(np.int64)
    base, fp = table.base(n_before), table.footprint_bytes(n_before)
    expected = np.array([ref_offset(layout, img, int(a), int(b)) for a, b in zip(x, y, strict=True)]) + base
    np.testing.assert_array_equal(addr, expected)
    # injective on texels and texel-aligned, so whole texels never overlap
    assert np.unique(addr).size == addr.size
    assert (addr % img.texel_bytes == 0).all()
    assert addr.min() >= base and addr.max() + img.texel_bytes <= base + fp
    assert fp >= img.data_bytes
    # the inverse round-trips
    sid, lx, ly = table.locate(addr + (img.texel_bytes - 1))
    assert (sid == n_before).all()
    np.testing.assert_array_equal(lx, x)
    np.testing.assert_array_equal(ly, y)


@SETTINGS
@given(layouts(), st.lists(st.one_of(images, st.builds(Buffer, st.integers(1, 5000))), min_size=1, max_size=6),
       st.sampled_from([64, 256, 4096]))
def test_surfaces_are_aligned_and_never_overlap(layout, surfaces, alignment):
    surfaces = [s for s in surfaces if not (isinstance(s, Image2D) and layout.kind == "block_linear"
                                            and layout.gob_width_bytes % s.texel_bytes)]
    table = SurfaceTable(surfaces, layout, base_alignment=alignment)
    spans = sorted((table.base(i), table.base(i) + table.footprint_bytes(i)) for i in range(len(surfaces)))
    for (_, e0), (b1, _) in zip(spans, spans[1:], strict=False):
        assert e0 <= b1
    assert all(b % alignment == 0 for b, _ in spans)
    # every address of every surface's footprint is claimed by that surface alone (or is padding)
    probe = np.arange(0, table.end_address(), 7)
    sid, _, _ = table.locate(probe)
    for i in range(len(surfaces)):
        inside = (probe >= table.base(i)) & (probe < table.base(i) + table.footprint_bytes(i))
        assert set(np.unique(sid[inside])) <= {i, -1}


@SETTINGS
@given(st.integers(1, 300), st.sampled_from(["fp16", "fp32"]), st.integers(0, 10), st.integers(1, 5))
def test_linear_pitch_alignment(width, dtype, log_align, height):
    layout = ImageLayout("linear", pitch_alignment=2 ** log_align)
    img = Image2D(width, height + 1, dtype)
    table = SurfaceTable([img], layout)
    pitch = table.row_pitch_bytes(0)
    assert pitch % 2 ** log_align == 0
    assert width * img.texel_bytes <= pitch < width * img.texel_bytes + 2 ** log_align
    a = table.resolve(rows([0, 0], [width - 1, width - 1], [0, 1], [8, 8])).astype(np.int64)
    assert a[1] - a[0] == pitch


@pytest.mark.parametrize("dtype, tile", [("fp16", (4, 2)), ("fp16", (8, 1)), ("fp32", (2, 2)), ("fp32", (4, 1))])
def test_tiled_line_sized_tiles_put_each_aligned_block_in_one_line(dtype, tile):
    line = 64
    img = Image2D(37, 23, dtype)
    table = SurfaceTable([img], ImageLayout("tiled", *tile))
    assert tile[0] * tile[1] * img.texel_bytes == line
    t, x, y = image_trace(0, img)
    line_id = table.resolve(t).astype(np.int64) // line
    block_id = (y // tile[1]) * 1000 + x // tile[0]
    # the map block -> line is a bijection: same block <=> same line
    pairs = set(zip(block_id.tolist(), line_id.tolist(), strict=True))
    assert len(pairs) == len(set(block_id.tolist())) == len(set(line_id.tolist()))


@pytest.mark.parametrize("line_texels, block", [(2, (2, 1)), (4, (2, 2)), (8, (4, 2)), (16, (4, 4)), (64, (8, 8))])
def test_morton_lines_cover_aligned_power_of_two_blocks(line_texels, block):
    img = Image2D(48, 40, "fp16")  # not a multiple of the 16x16 tile: padding tiles exist
    table = SurfaceTable([img], ImageLayout("morton", 16, 16))
    t, x, y = image_trace(0, img)
    line_id = table.resolve(t).astype(np.int64) // (line_texels * img.texel_bytes)
    block_id = (y // block[1]) * 1000 + x // block[0]
    pairs = set(zip(block_id.tolist(), line_id.tolist(), strict=True))
    assert len(pairs) == len(set(block_id.tolist())) == len(set(line_id.tolist()))


def u_interleaved_index(x: int, y: int, bits: int = 4) -> int:
    """Mali's u-order inside a 16x16 tile (panfrost): index bits (y_i, x_i ^ y_i) per level."""
    idx = 0
    for i in range(bits):
        xi, yi = (x >> i) & 1, (y >> i) & 1
        idx |= (xi ^ yi) << (2 * i) | yi << (2 * i + 1)
    return idx


@pytest.mark.parametrize("range_texels", [1, 2, 4, 8, 16, 32, 64, 128, 256])
def test_morton_16x16_has_the_same_line_footprints_as_mali_u_interleave(range_texels):
    """The documented claim behind modelling Mali's u-interleaved tiles as morton 16x16."""
    table = SurfaceTable([Image2D(16, 16, "fp16")], ImageLayout("morton", 16, 16))
    t, x, y = image_trace(0, Image2D(16, 16, "fp16"))
    morton_idx = table.resolve(t).astype(np.int64) // 8
    u_idx = np.array([u_interleaved_index(int(a), int(b)) for a, b in zip(x, y, strict=True)])
    assert sorted(u_idx.tolist()) == list(range(256))
    groups_m = {frozenset(np.flatnonzero(morton_idx // range_texels == g).tolist()) for g in range(256 // range_texels)}
    groups_u = {frozenset(np.flatnonzero(u_idx // range_texels == g).tolist()) for g in range(256 // range_texels)}
    assert groups_m == groups_u


def test_block_linear_gob_sector_and_line_footprints_by_hand():
    """64 B x 8 GOB swizzle: a 32 B sector is 16 B x 2 rows, a 128 B line 32 B x 4 rows, a GOB 64 B x 8."""
    img = Image2D(16, 32, "fp16")  # 8 texels per GOB row, 2 GOBs per block -> blocks of 8 x 16 texels
    table = SurfaceTable([img], ImageLayout("block_linear"))
    # hand-computed: texel (2, 1) = byte 16 of row 1 -> x4 (bit 5) and y0 (bit 4): 32 + 16 = 48
    # texel (5, 6) = byte 40 -> x5 (256) + y2y1 = 3 (192) + y0 = 0 + x3 (8) = 456
    # texel (0, 8) = second GOB of block 0 -> 512; texel (8, 0) = block 1 -> 1024
    a = table.resolve(rows([0] * 4, [2, 5, 0, 8], [1, 6, 8, 0], [8] * 4)).astype(np.int64)
    assert a.tolist() == [48, 456, 512, 1024]
    for size, shape in [(32, (2, 2)), (128, (4, 4)), (512, (8, 8))]:
        texels = table.line_texels(0, 0, size)
        assert sorted(map(tuple, texels.tolist())) == [(i, j) for i in range(shape[0]) for j in range(shape[1])]


def test_resolve_handles_buffers_and_mixed_surfaces():
    table = SurfaceTable([Buffer(100, "w"), Image2D(3, 2, "fp32", "act")], ImageLayout("linear"), base_alignment=128)
    assert table.base(1) == 128
    a = table.resolve(rows([0, 0, 1, 1], [0, 96, 2, 0], [0, 0, 1, 1], [100, 4, 16, 2]))
    assert a.dtype == np.uint64
    assert a.tolist() == [0, 96, 128 + 64 + 32, 128 + 64]


def test_narrow_addresses_are_int32_only_below_2_gib():
    t = rows([0, 1, 1], [8, 2, 0], [0, 1, 0], [8, 16, 16])
    small = SurfaceTable([Buffer(100, "w"), Image2D(3, 2, "fp32", "act")], ImageLayout("tiled", 2, 2))
    narrow = small.resolve(t, narrow=True)
    assert narrow.dtype == np.int32 and narrow.tolist() == small.resolve(t).tolist()
    # a 2 GiB buffer first: the image ends above 2**31 - 1 and its addresses stay uint64
    big = SurfaceTable([Buffer(2**31, "w"), Image2D(3, 2, "fp32", "act")], ImageLayout("tiled", 2, 2))
    wide = big.resolve(t, narrow=True)
    assert wide.dtype == np.uint64 and wide.tolist() == big.resolve(t).tolist()
    assert int(wide.max()) > 2**31
    with pytest.raises(MemsimError, match="trace row 1"):
        small.resolve(rows([0, 1], [0, 3], [0, 0], [8, 16]), narrow=True)


@pytest.mark.parametrize("layout", [
    ImageLayout("linear", pitch_alignment=64), ImageLayout("tiled", 8, 4), ImageLayout("tiled", 2, 8),
    ImageLayout("tiled", 3, 5), ImageLayout("morton", 4, 16), ImageLayout("morton", 16, 2),
    ImageLayout("block_linear"),
], ids=str)
@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
def test_each_loop_of_the_map_matches_the_reference(layout, dtype):
    """Every kind's loop of resolve_rows (power-of-two tiles, square or not, and the others) on a whole
    image after a buffer."""
    img = Image2D(37, 21, dtype, "img")
    table = SurfaceTable([Buffer(100, "b"), img], layout, base_alignment=256)
    t, x, y = image_trace(1, img)
    expected = [table.base(1) + ref_offset(layout, img, a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    assert table.resolve(t).tolist() == expected


def ref_first_bad_row(surfaces, sid, x, y, nbytes):
    """The first row outside its surface (or past its texel / the buffer's end), or None."""
    for r, (i, xv, yv, nb) in enumerate(zip(sid, x, y, nbytes, strict=True)):
        s = surfaces[i]
        if isinstance(s, Buffer):
            if yv != 0 or not 0 <= xv < s.nbytes or xv + nb > s.nbytes:
                return r
        elif not (0 <= xv < s.width and 0 <= yv < s.height and nb <= s.texel_bytes):
            return r
    return None


@SETTINGS
@given(layouts(), st.lists(images, min_size=1, max_size=3), st.integers(0, 2**32 - 1), st.sampled_from([0, 0, 1, 3]))
def test_mixed_surfaces_in_runs_match_the_reference_and_name_the_first_bad_row(layout, imgs, seed, bad_rows):
    """Rows of several images and buffers in runs of one surface (each kind has a loop of its own, see
    resolve_rows), a few of them bad: the addresses of the reference maps, or the first bad row named."""
    rng = np.random.default_rng(seed)
    surfaces = [Buffer(int(rng.integers(1, 300)), "b0"), *imgs, Buffer(int(rng.integers(1, 300)), "b1")]
    table = SurfaceTable(surfaces, layout, base_alignment=256)
    sid = np.repeat(rng.integers(0, len(surfaces), 12), rng.integers(1, 40, 12))
    n = sid.size
    width = np.array([s.nbytes if isinstance(s, Buffer) else s.width for s in surfaces])[sid]
    height = np.array([1 if isinstance(s, Buffer) else s.height for s in surfaces])[sid]
    texel = np.array([1 if isinstance(s, Buffer) else s.texel_bytes for s in surfaces])[sid]
    x = rng.integers(0, width)
    y = rng.integers(0, height)
    nbytes = np.minimum(rng.integers(1, 17, n), np.where(texel == 1, width - x, texel))
    for r in rng.integers(0, n, bad_rows):
        col = rng.integers(0, 3)
        if col == 0:
            x[r] = rng.choice([width[r], width[r] + 5])  # (Trace.from_columns refuses negative ones)
        elif col == 1:
            y[r] = height[r] if texel[r] > 1 else 1
        else:
            nbytes[r] = texel[r] + 1 if texel[r] > 1 else width[r] - x[r] + 1
    t = rows(sid, x, y, nbytes)
    first = ref_first_bad_row(surfaces, sid, x, y, nbytes)
    if first is not None:
        with pytest.raises(MemsimError, match=f"trace row {first}:"):
            table.resolve(t)
        with pytest.raises(MemsimError, match=f"trace row {first}:"):
            table.resolve(t, narrow=True)
        return
    expected = [table.base(i) + (xv if isinstance(surfaces[i], Buffer) else ref_offset(layout, surfaces[i], xv, yv))
                for i, xv, yv in zip(sid.tolist(), x.tolist(), y.tolist(), strict=True)]
    assert table.resolve(t).tolist() == expected
    assert table.resolve(t, narrow=True).tolist() == expected


@pytest.mark.parametrize(
    "surface, x, y, nbytes, needle",
    [
        (2, 0, 0, 8, "surface id 2 is unknown"),
        (1, 3, 0, 8, "x = 3 is outside 0..2"),
        (1, 0, 2, 8, "y = 2 is outside 0..1"),
        (1, 0, 0, 9, "runs past the texel (8 B)"),
        (0, 60, 0, 8, "run past the end of the buffer (64 B)"),
        (0, 64, 0, 1, "byte offset x = 64 is outside 0..63"),
        (0, 0, 1, 1, "buffer rows must have y = 0"),
    ],
)
def test_bad_rows_name_the_surface_and_the_first_bad_row(surface, x, y, nbytes, needle):
    table = SurfaceTable([Buffer(64, "weights"), Image2D(3, 2, "fp16", "act")], ImageLayout("tiled", 2, 2))
    t = rows([1, 1, surface, 1], [0, 1, x, 5], [0, 0, y, 0], [8, 8, nbytes, 8])
    with pytest.raises(MemsimError) as exc:
        table.resolve(t)
    msg = str(exc.value)
    assert "trace row 2" in msg and needle in msg
    if surface != 2:
        assert ("'weights'" if surface == 0 else "'act'") in msg


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"kind": "swizzled"}, "kind must be one of"),
        ({"kind": "linear", "tile_width": 4}, "tile_width = 4 has no meaning for kind 'linear'"),
        ({"kind": "tiled", "gob_height": 4}, "gob_height = 4 has no meaning"),
        ({"kind": "morton", "tile_width": 12}, "tile_width must be a power of two up to 65536"),
        ({"kind": "tiled", "tile_height": 0}, "tile_height must be >= 1"),
        ({"kind": "linear", "pitch_alignment": 48}, "pitch_alignment must be a power of two"),
        ({"kind": "tiled", "tile_width": 2.5}, "tile_width must be an integer"),
    ],
)
def test_bad_layouts_name_the_field(kwargs, needle):
    with pytest.raises(MemsimError, match=needle):
        ImageLayout(**kwargs)


def test_layout_from_table_strips_source_and_rejects_unknown_keys():
    lay = ImageLayout.from_table({"kind": "tiled", "tile_width": 8, "tile_height": 4, "source": {"kind": "Mesa"}})
    assert lay == ImageLayout("tiled", 8, 4)
    with pytest.raises(MemsimError, match="adreno740.toml: unknown key"):
        ImageLayout.from_table({"kind": "tiled", "tile_wdth": 8}, where="adreno740.toml")
    with pytest.raises(MemsimError, match="x.toml: image_layout.tile_width must be a power of two"):
        ImageLayout.from_table({"kind": "morton", "tile_width": 6}, where="x.toml")


def test_bad_surfaces_and_tables():
    with pytest.raises(MemsimError, match="dtype must be one of"):
        Image2D(4, 4, "int8")
    with pytest.raises(MemsimError, match="width must be >= 1"):
        Image2D(0, 4)
    with pytest.raises(MemsimError, match="nbytes must be >= 1"):
        Buffer(0)
    with pytest.raises(MemsimError, match="base_alignment must be a power of two"):
        SurfaceTable([Buffer(4)], ImageLayout("linear"), base_alignment=3000)
    with pytest.raises(MemsimError, match="not a whole number of 16 B texels"):
        SurfaceTable([Image2D(4, 4, "fp32", "a")], ImageLayout("block_linear", gob_width_bytes=8))


def test_locate_marks_padding_and_outside_addresses():
    table = SurfaceTable([Image2D(3, 2, "fp16")], ImageLayout("linear", pitch_alignment=64))
    sid, x, y = table.locate(np.array([0, 16, 24, 64, 127, 128, 10**9]))
    assert sid.tolist() == [0, 0, -1, 0, -1, -1, -1]
    assert x.tolist()[:4] == [0, 2, -1, 0] and y.tolist()[:4] == [0, 0, -1, 1]


def test_footprints_past_the_address_space_are_errors_not_wrapped_ints():
    """A 2^31-texel-square image (or surfaces adding up past 2^62 bytes) is a MemsimError naming the surface,
    never an int64 that wrapped and put two surfaces at one address."""
    import warnings

    import pytest

    from smartmem_sim import memsim
    from smartmem_sim.memsim.surfaces import MAX_ADDRESS

    for layout in (memsim.load_profile("adreno740").image_layout, memsim.load_profile("h100_opencl").image_layout,
                   memsim.ImageLayout(kind="linear")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's overflow warning would be the old behaviour
            with pytest.raises(memsim.MemsimError, match="'huge'.*address space"):
                memsim.SurfaceTable([memsim.Image2D(2**31 - 1, 2**31 - 1, "fp16", name="huge")], layout)
            with pytest.raises(memsim.MemsimError, match="'big'.*end address"):
                memsim.SurfaceTable([memsim.Image2D(2**28, 2**28, "fp32", name="big")] * 8, layout)
    with pytest.raises(memsim.MemsimError, match="buffer"):
        memsim.SurfaceTable([memsim.Buffer(MAX_ADDRESS // 2)] * 3, memsim.ImageLayout(kind="linear"))
