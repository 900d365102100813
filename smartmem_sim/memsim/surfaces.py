"""Surfaces (OpenCL image2d and linear buffers) and the address maps that place their bytes in memory.

An image2d holds RGBA texels: fp16 (CL_HALF_FLOAT, 8 B a texel) or fp32 (CL_FLOAT, 16 B a texel).
A device lays an image out in one of four ways (``ImageLayout.kind``); the point of every non-linear
map is that one 64-128 B cache line of a texture cache covers a 2-D block of texels:

- ``linear``: rows of texels one after another; the row pitch (bytes) is ``width * texel_bytes`` rounded
  up to ``pitch_alignment``.
- ``tiled``: ``tile_width x tile_height`` texel tiles, each stored contiguously (texels row-major inside
  the tile), tiles row-major; e.g. Adreno's UBWC-like blocks 16x4 (<=4 B/px), 8x4 (8 B/px), 4x4 (16 B/px)
  (Mesa fd6_layout.c). Only a tile no bigger than a line makes a line 2-D; with bigger tiles a line is a
  run of texels inside one tile row.
- ``morton``: tiles as in ``tiled`` (sides powers of two), texels in Z-order inside a tile (x bit i ->
  index bit 2i, y bit i -> 2i+1; a non-square tile puts the extra bits of its longer side on top).
  Mali's 16x16 "u-interleaved" tiles (Mesa panfrost.rst) are modelled as morton 16x16: the u-order
  uses index bits (y_i, x_i XOR y_i) instead of (y_i, x_i), which permutes texels only *inside* every
  aligned power-of-two address range, so every aligned line and sector covers the same texels as in
  Z-order and cache counts are identical; only the byte order within a line differs.
- ``block_linear`` (NVIDIA-style, unverified for OpenCL images): GOBs of ``gob_width_bytes x gob_height``
  rows (512 B for 64 B x 8) stored contiguously, ``block_height_gobs`` GOBs stacked vertically into a
  block, blocks row-major. Inside a 64 B x 8 GOB the Tegra swizzle applies (16 B x 2-row units: a 32 B
  sector is 16 B x 2 rows, a 128 B line 32 B x 4 rows); GOBs of any other shape are row-major inside.

Tiled, morton and block-linear images are padded to whole tiles/blocks; in every kind the stride from
one row (of texels, tiles or blocks) to the next is rounded up to ``pitch_alignment`` bytes.
A :class:`SurfaceTable` places surfaces at aligned, non-overlapping base addresses and resolves trace rows
(see smartmem_sim/memsim/trace.py) to byte addresses.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smartmem_sim.memsim import _address_kernels as K
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.trace import Trace

LAYOUT_KINDS = ("linear", "tiled", "morton", "block_linear")
ELEM_BYTES = {"fp16": 2, "fp32": 4}  # bytes of one value of each storage type
TEXEL_BYTES = {k: 4 * v for k, v in ELEM_BYTES.items()}  # RGBA: 4 channels

_KIND_CODES = {
    "linear": K.KIND_LINEAR,
    "tiled": K.KIND_TILED,
    "morton": K.KIND_MORTON,
    "block_linear": K.KIND_BLOCK_LINEAR,
}
# Which constructor fields a kind reads; a non-default value of any other field is an error, so that a
# profile cannot carry a number that silently does nothing.
_FIELDS_USED = {
    "linear": {"pitch_alignment"},
    "tiled": {"tile_width", "tile_height", "pitch_alignment"},
    "morton": {"tile_width", "tile_height", "pitch_alignment"},
    "block_linear": {"gob_width_bytes", "gob_height", "block_height_gobs", "pitch_alignment"},
}
_DEFAULTS = {
    "tile_width": 1,
    "tile_height": 1,
    "pitch_alignment": 64,
    "gob_width_bytes": 64,
    "gob_height": 8,
    "block_height_gobs": 2,
}


def _is_pow2(v: int) -> bool:
    return v > 0 and (v & (v - 1)) == 0


def _align_up(v: int, a: int) -> int:
    return -(-v // a) * a


def _check_int(owner: str, field: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise MemsimError(f"{owner}.{field} must be an integer, got {value!r}")
    if value < minimum:
        raise MemsimError(f"{owner}.{field} must be >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class ImageLayout:
    """How a device lays out image2d texels in memory (the profile's ``[image_layout]`` table).

    Args:
        kind: "linear", "tiled", "morton" or "block_linear" (see the module docstring).
        tile_width, tile_height: tile shape in texels (tiled, morton; powers of two for morton).
        pitch_alignment: bytes; power of two; the row / tile-row / block-row stride is a multiple of it.
        gob_width_bytes, gob_height: GOB shape in bytes x rows (block_linear).
        block_height_gobs: GOBs stacked vertically in one block (block_linear).
    """

    kind: str
    tile_width: int = 1
    tile_height: int = 1
    pitch_alignment: int = 64
    gob_width_bytes: int = 64
    gob_height: int = 8
    block_height_gobs: int = 2

    def __post_init__(self) -> None:
        if self.kind not in LAYOUT_KINDS:
            raise MemsimError(f"image_layout.kind must be one of {', '.join(LAYOUT_KINDS)}; got {self.kind!r}")
        for field in _DEFAULTS:
            _check_int("image_layout", field, getattr(self, field))
        for field, default in _DEFAULTS.items():
            if field not in _FIELDS_USED[self.kind] and getattr(self, field) != default:
                users = [k for k, used in _FIELDS_USED.items() if field in used]
                raise MemsimError(
                    f"image_layout.{field} = {getattr(self, field)} has no meaning for kind {self.kind!r} "
                    f"(it applies to {' / '.join(users)}); remove it or change the kind"
                )
        if not _is_pow2(self.pitch_alignment):
            raise MemsimError(f"image_layout.pitch_alignment must be a power of two, got {self.pitch_alignment}")
        if self.kind == "morton":
            for field in ("tile_width", "tile_height"):
                if not _is_pow2(getattr(self, field)) or getattr(self, field) > 1 << 16:
                    raise MemsimError(
                        f"image_layout.{field} must be a power of two up to 65536 for kind 'morton', "
                        f"got {getattr(self, field)}"
                    )
        if self.kind == "block_linear" and not _is_pow2(self.gob_width_bytes):
            raise MemsimError(f"image_layout.gob_width_bytes must be a power of two, got {self.gob_width_bytes}")

    @classmethod
    def from_table(cls, table: dict, where: str = "image_layout") -> ImageLayout:
        """Build from a TOML table (keys = constructor arguments; a ``source`` sub-table is ignored).
        Unknown keys are an error naming ``where`` (e.g. the profile file)."""
        known = {"kind", *_DEFAULTS}
        unknown = sorted(set(table) - known - {"source"})
        if unknown:
            raise MemsimError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        if "kind" not in table:
            raise MemsimError(f"{where}: missing key 'kind' (one of {', '.join(LAYOUT_KINDS)})")
        try:
            return cls(**{k: v for k, v in table.items() if k != "source"})
        except MemsimError as exc:
            raise MemsimError(f"{where}: {exc}") from None

    def describe(self) -> str:
        """Short label, e.g. 'linear', 'tiled 8x4', 'morton 16x16', 'block_linear 64Bx8 x2'."""
        if self.kind in ("tiled", "morton"):
            return f"{self.kind} {self.tile_width}x{self.tile_height}"
        if self.kind == "block_linear":
            return f"block_linear {self.gob_width_bytes}Bx{self.gob_height} x{self.block_height_gobs}"
        return "linear"


@dataclass(frozen=True)
class Image2D:
    """An OpenCL image2d of RGBA texels. Width and height in texels; dtype "fp16" or "fp32"."""

    width: int
    height: int
    dtype: str = "fp16"
    name: str = ""

    def __post_init__(self) -> None:
        label = f"Image2D {self.name!r}" if self.name else "Image2D"
        _check_int(label, "width", self.width)
        _check_int(label, "height", self.height)
        if self.dtype not in TEXEL_BYTES:
            raise MemsimError(f"{label}.dtype must be one of {', '.join(TEXEL_BYTES)}, got {self.dtype!r}")

    @property
    def texel_bytes(self) -> int:
        return TEXEL_BYTES[self.dtype]

    @property
    def data_bytes(self) -> int:
        """Bytes of texel data, without padding."""
        return self.width * self.height * self.texel_bytes


@dataclass(frozen=True)
class Buffer:
    """A linear OpenCL buffer of ``nbytes`` bytes; trace rows address it by byte offset (x) with y = 0."""

    nbytes: int
    name: str = ""

    def __post_init__(self) -> None:
        _check_int(f"Buffer {self.name!r}" if self.name else "Buffer", "nbytes", self.nbytes)

    @property
    def data_bytes(self) -> int:
        return self.nbytes


Surface = Image2D | Buffer


MAX_ADDRESS = 1 << 62  # byte addresses stay below this: int64 arithmetic in the kernels keeps headroom


def _bounded(what: str, value: int, surface: Surface) -> int:
    """``value`` (a Python int, computed without overflow) or a MemsimError naming the surface."""
    if value >= MAX_ADDRESS:
        kind = "image" if isinstance(surface, Image2D) else "buffer"
        shape = f"{surface.width}x{surface.height} {surface.dtype}" if isinstance(surface, Image2D) \
            else f"{surface.nbytes} B"
        name = f" {surface.name!r}" if surface.name else ""
        raise MemsimError(f"{kind}{name} ({shape}): {what} at {value:,} bytes "
                          f"exceeds the {MAX_ADDRESS:,}-byte address space memsim simulates; use smaller surfaces")
    return value


def _end(base: int, footprint: int, surface: Surface) -> int:
    """``footprint``, checked that the surface ends inside the address space."""
    return _bounded("the end address (base + footprint)", base + footprint, surface) - base


def surface_params(surface: Surface, layout: ImageLayout, base: int = 0) -> np.ndarray:
    """The kernel parameter row (see smartmem_sim/memsim/_address_kernels.py) of one surface placed at ``base``;
    footprints and addresses past :data:`MAX_ADDRESS` are a MemsimError (never a wrapped int64)."""
    _bounded("the base address", int(base), surface)
    p = np.zeros(K.N_PARAMS, dtype=np.int64)
    p[K.P_BASE] = base
    if isinstance(surface, Buffer):
        p[K.P_KIND] = K.KIND_BUFFER
        p[K.P_WIDTH] = surface.nbytes
        p[K.P_HEIGHT] = 1
        p[K.P_TEXEL] = 1
        p[K.P_FOOTPRINT] = _end(int(base), int(surface.nbytes), surface)
        return p
    w, h, tb = surface.width, surface.height, surface.texel_bytes
    p[K.P_KIND] = _KIND_CODES[layout.kind]
    p[K.P_WIDTH], p[K.P_HEIGHT], p[K.P_TEXEL] = w, h, tb
    if layout.kind == "linear":
        pitch = _align_up(int(w) * int(tb), layout.pitch_alignment)
        p[K.P_PITCH] = _bounded("the row pitch", pitch, surface)
        p[K.P_FOOTPRINT] = _end(int(base), pitch * int(h), surface)
        return p
    if layout.kind in ("tiled", "morton"):
        uw, uh = layout.tile_width, layout.tile_height
        unit_bytes = uw * uh * tb
        units_x, units_y = -(-w // uw), -(-h // uh)
        p[K.P_AUX0] = uw.bit_length() - 1
        p[K.P_AUX1] = uh.bit_length() - 1
    else:
        if layout.gob_width_bytes % tb:
            raise MemsimError(
                f"image_layout.gob_width_bytes = {layout.gob_width_bytes} is not a whole number of "
                f"{tb} B texels (image {surface.name!r}, {surface.dtype})"
            )
        uw, uh = layout.gob_width_bytes // tb, layout.gob_height
        unit_bytes = layout.gob_width_bytes * uh * layout.block_height_gobs
        units_x, units_y = -(-w // uw), -(-h // (uh * layout.block_height_gobs))
        p[K.P_AUX0] = layout.block_height_gobs
        p[K.P_AUX1] = int(layout.gob_width_bytes == 64 and layout.gob_height == 8)
    p[K.P_UNIT_W], p[K.P_UNIT_H], p[K.P_UNIT_BYTES], p[K.P_UNITS_X] = uw, uh, unit_bytes, units_x
    p[K.P_LOG_W], p[K.P_LOG_H] = (v.bit_length() - 1 if _is_pow2(v) else -1 for v in (uw, uh))
    pitch = _align_up(int(units_x) * int(unit_bytes), layout.pitch_alignment)
    p[K.P_PITCH] = _bounded("the row pitch", pitch, surface)
    p[K.P_FOOTPRINT] = _end(int(base), pitch * int(units_y), surface)
    return p


def _surface_label(i: int, s: Surface) -> str:
    kind = "image" if isinstance(s, Image2D) else "buffer"
    shape = f"{s.width}x{s.height} {s.dtype}" if isinstance(s, Image2D) else f"{s.nbytes} B"
    name = f" {s.name!r}" if s.name else ""
    return f"{kind}{name} (surface {i}, {shape})"


class SurfaceTable:
    """Surfaces placed at non-overlapping base addresses, each aligned to ``base_alignment`` bytes,
    in the order given, starting at address 0. Images use ``layout``; buffers are linear."""

    def __init__(self, surfaces: Sequence[Surface], layout: ImageLayout, base_alignment: int = 4096):
        if not isinstance(layout, ImageLayout):
            raise MemsimError(f"SurfaceTable: layout must be an ImageLayout, got {type(layout).__name__}")
        _check_int("SurfaceTable", "base_alignment", base_alignment)
        if not _is_pow2(base_alignment):
            raise MemsimError(f"SurfaceTable.base_alignment must be a power of two, got {base_alignment}")
        self.surfaces: tuple[Surface, ...] = tuple(surfaces)
        self.layout = layout
        self.base_alignment = int(base_alignment)
        rows = []
        next_base = 0
        for i, s in enumerate(self.surfaces):
            if not isinstance(s, Image2D | Buffer):
                raise MemsimError(f"SurfaceTable: surface {i} must be an Image2D or Buffer, got {type(s).__name__}")
            p = surface_params(s, layout, next_base)
            rows.append(p)
            next_base = _align_up(int(p[K.P_BASE] + p[K.P_FOOTPRINT]), self.base_alignment)
        self._params = np.array(rows, dtype=np.int64).reshape(len(rows), K.N_PARAMS)

    def __len__(self) -> int:
        return len(self.surfaces)

    def base(self, i: int) -> int:
        """Byte address of surface i's first byte."""
        return int(self._params[self._index(i), K.P_BASE])

    def footprint_bytes(self, i: int) -> int:
        """Bytes surface i occupies from its base, padding included."""
        return int(self._params[self._index(i), K.P_FOOTPRINT])

    def row_pitch_bytes(self, i: int) -> int:
        """Stride in bytes between texel rows (linear), tile rows (tiled, morton) or block rows (block_linear)."""
        if isinstance(self.surfaces[self._index(i)], Buffer):
            raise MemsimError(f"surface {i} is a buffer and has no row pitch")
        return int(self._params[i, K.P_PITCH])

    def end_address(self) -> int:
        """One past the last byte of the last surface (0 for an empty table)."""
        if not len(self):
            return 0
        return int(self._params[-1, K.P_BASE] + self._params[-1, K.P_FOOTPRINT])

    def _index(self, i: int) -> int:
        if not 0 <= i < len(self.surfaces):
            raise MemsimError(f"surface index {i} out of range: the table has {len(self.surfaces)} surfaces")
        return i

    def resolve(self, trace: Trace, narrow: bool = False) -> np.ndarray:
        """Byte address (uint64) of the first byte of every trace row; with ``narrow``, int32 addresses
        when every surface ends below 2 GiB (as Hierarchy.simulate takes them: the simulator then reads
        half the bytes per row), else uint64 as without it.

        Raises MemsimError naming the surface and the first offending row for an unknown surface id, a
        coordinate outside the surface, or an access that runs past its texel (image; at most
        ``texel_bytes`` from the texel start) or past the end of the buffer.
        """
        if not isinstance(trace, Trace):
            raise MemsimError(f"resolve: expected a memsim.Trace, got {type(trace).__name__}")
        for col in ("surface", "x", "y", "nbytes"):
            if getattr(trace, col).dtype.kind not in "iu":
                raise MemsimError(f"resolve: trace column '{col}' must be integers, got {getattr(trace, col).dtype}; "
                                  "build traces with Trace.from_columns")
        n = len(trace)
        # (returned rows all lie inside their surfaces, so below end_address: a bad row raises below)
        small = narrow and self.end_address() <= 2**31 - 1
        out = np.zeros(n, dtype=np.int32 if small else np.int64)
        if n == 0:
            return out if small else out.view(np.uint64)
        surface = np.ascontiguousarray(trace.surface, dtype=np.int32)
        if int(surface.min()) < 0 or int(surface.max()) >= len(self.surfaces):
            r = int(np.flatnonzero((surface < 0) | (surface >= len(self.surfaces)))[0])
            raise MemsimError(
                f"trace row {r}: surface id {int(surface[r])} is unknown; the surface table has "
                f"{len(self.surfaces)} surfaces (ids 0..{len(self.surfaces) - 1})"
            )
        x = np.ascontiguousarray(trace.x, dtype=np.int64)
        y = np.ascontiguousarray(trace.y, dtype=np.int64)
        nbytes = np.ascontiguousarray(trace.nbytes, dtype=np.int32)
        row, code = K.resolve_rows(self._params, surface, x, y, nbytes, out)
        if code != K.ERR_NONE:
            raise MemsimError(self._row_error(int(row), int(code), trace))
        return out if small else out.view(np.uint64)

    def _row_error(self, r: int, code: int, trace: Trace) -> str:
        si = int(trace.surface[r])
        s = self.surfaces[si]
        xv, yv, nb = int(trace.x[r]), int(trace.y[r]), int(trace.nbytes[r])
        where = f"trace row {r}: {_surface_label(si, s)}"
        if isinstance(s, Buffer):
            if code == K.ERR_Y:
                return f"{where}: y = {yv}, but buffer rows must have y = 0 (x is the byte offset)"
            if code == K.ERR_X:
                return f"{where}: byte offset x = {xv} is outside 0..{s.nbytes - 1}"
            return f"{where}: {nb} B from offset {xv} run past the end of the buffer ({s.nbytes} B)"
        if code == K.ERR_X:
            return f"{where}: x = {xv} is outside 0..{s.width - 1}"
        if code == K.ERR_Y:
            return f"{where}: y = {yv} is outside 0..{s.height - 1}"
        return (
            f"{where}: nbytes = {nb} runs past the texel ({s.texel_bytes} B); "
            f"split a multi-texel access into one row per texel"
        )

    def locate(self, addrs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inverse of :meth:`resolve`: for byte addresses, the (surface, x, y) holding that byte.

        Image: the texel containing the byte; buffer: x = byte offset, y = 0. Addresses in padding or
        outside every surface give (-1, -1, -1).
        """
        a = np.asarray(addrs)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise MemsimError(f"locate: addresses must be a 1-D integer array, got {a.dtype} of shape {a.shape}")
        a = a.astype(np.int64)
        if len(self) == 0:
            neg = np.full(a.shape, -1, np.int64)
            return neg, neg.copy(), neg.copy()
        bases = self._params[:, K.P_BASE]
        ends = bases + self._params[:, K.P_FOOTPRINT]
        idx = np.searchsorted(bases, a, side="right") - 1
        inside = (idx >= 0) & (a < ends[np.maximum(idx, 0)])
        surface_of = np.where(inside, idx, -1).astype(np.int64)
        out_x = np.empty(a.shape, np.int64)
        out_y = np.empty(a.shape, np.int64)
        K.locate_addresses(self._params, surface_of, a, out_x, out_y)
        surface_of[out_x < 0] = -1
        return surface_of, out_x, out_y

    def line_texels(self, i: int, address: int, line_bytes: int) -> np.ndarray:
        """The (x, y) texels of image ``i`` inside the aligned ``line_bytes`` line holding ``address``,
        as an (n, 2) int64 array in address order (a texel appears once). Shows the 2-D block a line covers."""
        s = self.surfaces[self._index(i)]
        if not isinstance(s, Image2D):
            raise MemsimError(f"line_texels: surface {i} is a buffer, not an image")
        _check_int("line_texels", "line_bytes", line_bytes)
        start = (int(address) // line_bytes) * line_bytes
        probe = np.arange(start, start + line_bytes, s.texel_bytes if line_bytes >= s.texel_bytes else 1)
        sid, x, y = self.locate(probe)
        keep = sid == i
        xy = np.stack([x[keep], y[keep]], axis=1)
        _, first = np.unique(xy, axis=0, return_index=True)
        return xy[np.sort(first)]
