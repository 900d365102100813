"""Numba kernels behind memsim/surfaces.py: (surface, x, y) -> byte address, and back.

Private: callers go through :class:`memsim.surfaces.SurfaceTable`, which validates its input and turns the
error codes returned here into messages. Every surface is described by one row of an int64 parameter
table (columns named by the P_* constants) so that one compiled loop serves every layout kind.
"""
from __future__ import annotations

from numba import njit

# Layout kinds as stored in column P_KIND.
KIND_BUFFER = 0
KIND_LINEAR = 1
KIND_TILED = 2
KIND_MORTON = 3
KIND_BLOCK_LINEAR = 4

# Columns of the parameter table (one row per surface).
P_KIND = 0
P_BASE = 1  # byte address of the surface's first byte
P_WIDTH = 2  # texels (image) or bytes (buffer)
P_HEIGHT = 3  # texels (image) or 1 (buffer)
P_TEXEL = 4  # bytes per texel (image) or 1 (buffer)
P_PITCH = 5  # bytes from one row (linear) / tile row (tiled, morton) / block row (block_linear) to the next
P_UNIT_W = 6  # tile width in texels (tiled, morton) or GOB width in texels (block_linear)
P_UNIT_H = 7  # tile height in texels (tiled, morton) or GOB height in rows (block_linear)
P_UNIT_BYTES = 8  # bytes of one tile (tiled, morton) or one block (block_linear)
P_AUX0 = 9  # morton: log2(tile width); block_linear: GOBs per block (stacked vertically)
P_AUX1 = 10  # morton: log2(tile height); block_linear: 1 if the 64 B x 8 GOB swizzle applies, else 0
P_FOOTPRINT = 11  # bytes the surface occupies from its base (padding included)
P_UNITS_X = 12  # tiles (or blocks) per tile row (or block row)
N_PARAMS = 13

# Error codes returned by resolve_rows.
ERR_NONE = 0
ERR_X = 1  # x outside the image width / buffer
ERR_Y = 2  # y outside the image height, or y != 0 for a buffer
ERR_SIZE = 3  # nbytes runs past the texel (image) or past the end of the buffer


@njit(cache=True, inline="always")
def _spread_bits(v):
    """Bits 0..15 of v moved to the even bit positions 0, 2, ..., 30."""
    v &= 0xFFFF
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


@njit(cache=True, inline="always")
def _morton_index(tx, ty, bits_x, bits_y):
    """Z-order index of texel (tx, ty) in a 2**bits_x x 2**bits_y tile: x bit i -> bit 2i, y bit i -> 2i+1
    for the bits both have; the extra bits of the longer side go on top (square Z-blocks side by side).
    Tile sides up to 2**16 texels."""
    common = min(bits_x, bits_y)
    mask = (1 << common) - 1
    idx = _spread_bits(tx & mask) | (_spread_bits(ty & mask) << 1)
    if bits_x > common:
        idx |= (tx >> common) << (2 * common)
    elif bits_y > common:
        idx |= (ty >> common) << (2 * common)
    return idx


@njit(cache=True, inline="always")
def _morton_coords(idx, bits_x, bits_y):
    common = min(bits_x, bits_y)
    tx = 0
    ty = 0
    for i in range(common):
        tx |= ((idx >> (2 * i)) & 1) << i
        ty |= ((idx >> (2 * i + 1)) & 1) << i
    if bits_x > common:
        tx |= (idx >> (2 * common)) << common
    elif bits_y > common:
        ty |= (idx >> (2 * common)) << common
    return tx, ty


@njit(cache=True, inline="always")
def _gob_offset(xb, r, gob_w_bytes, swizzle):
    """Byte offset inside one GOB of byte column xb, row r. The 64 B x 8 GOB uses the swizzle of the Tegra
    TRM / reverse-engineered detilers: 16 B x 2-row units, so a 32 B sector is 16 B x 2 rows and a 128 B
    line is 32 B x 4 rows. Unverified for OpenCL images on H100 (see HARDWARE.md)."""
    if swizzle:
        return (xb // 32) * 256 + (r // 2) * 64 + ((xb % 32) // 16) * 32 + (r % 2) * 16 + (xb % 16)
    return r * gob_w_bytes + xb


@njit(cache=True, inline="always")
def _gob_coords(off, gob_w_bytes, swizzle):
    if swizzle:
        xb = ((off >> 8) & 1) * 32 + ((off >> 5) & 1) * 16 + (off & 15)
        r = ((off >> 6) & 3) * 2 + ((off >> 4) & 1)
        return xb, r
    return off % gob_w_bytes, off // gob_w_bytes


@njit(cache=True, inline="always")
def _texel_offset(p, x, y):
    """Byte offset of texel (x, y) from the surface base, for an image row p of the parameter table."""
    kind = p[P_KIND]
    tb = p[P_TEXEL]
    if kind == KIND_LINEAR:
        return y * p[P_PITCH] + x * tb
    uw = p[P_UNIT_W]
    uh = p[P_UNIT_H]
    if kind == KIND_TILED:
        inside = (y % uh) * uw + (x % uw)
        return (y // uh) * p[P_PITCH] + (x // uw) * p[P_UNIT_BYTES] + inside * tb
    if kind == KIND_MORTON:  # power-of-two tiles: shifts and masks instead of division
        bx = p[P_AUX0]
        by = p[P_AUX1]
        inside = _morton_index(x & (uw - 1), y & (uh - 1), bx, by)
        return (y >> by) * p[P_PITCH] + (x >> bx) * p[P_UNIT_BYTES] + inside * tb
    # block_linear: blocks of P_AUX0 GOBs stacked vertically, each GOB uw texels x uh rows
    gob_bytes = uw * tb * uh
    block_rows = uh * p[P_AUX0]
    yb = y % block_rows
    off = (y // block_rows) * p[P_PITCH] + (x // uw) * p[P_UNIT_BYTES] + (yb // uh) * gob_bytes
    return off + _gob_offset((x % uw) * tb, yb % uh, uw * tb, p[P_AUX1])


@njit(cache=True)
def resolve_rows(params, surface, x, y, nbytes, out):
    """Fill out[i] with the byte address of row i. Stops at the first bad row and returns (row, error code);
    returns (-1, ERR_NONE) when every row is valid. Surface ids must already be checked by the caller."""
    for i in range(surface.shape[0]):
        p = params[surface[i]]
        xi = x[i]
        yi = y[i]
        nb = nbytes[i]
        if p[P_KIND] == KIND_BUFFER:
            if yi != 0:
                return i, ERR_Y
            if xi < 0 or xi >= p[P_WIDTH]:
                return i, ERR_X
            if xi + nb > p[P_WIDTH]:
                return i, ERR_SIZE
            out[i] = p[P_BASE] + xi
            continue
        if xi < 0 or xi >= p[P_WIDTH]:
            return i, ERR_X
        if yi < 0 or yi >= p[P_HEIGHT]:
            return i, ERR_Y
        if nb > p[P_TEXEL]:
            return i, ERR_SIZE
        out[i] = p[P_BASE] + _texel_offset(p, xi, yi)
    return -1, ERR_NONE


@njit(cache=True)
def locate_addresses(params, surface_of, addrs, out_x, out_y):
    """Inverse map. surface_of[i] is the surface whose [base, base + footprint) holds addrs[i] (or -1).
    Writes the texel (image) or byte offset (buffer, y = 0) there; -1 in both for padding bytes."""
    for i in range(addrs.shape[0]):
        out_x[i] = -1
        out_y[i] = -1
        s = surface_of[i]
        if s < 0:
            continue
        p = params[s]
        off = addrs[i] - p[P_BASE]
        kind = p[P_KIND]
        tb = p[P_TEXEL]
        if kind == KIND_BUFFER:
            if off < p[P_WIDTH]:
                out_x[i] = off
                out_y[i] = 0
            continue
        if kind == KIND_LINEAR:
            yy = off // p[P_PITCH]
            xx = (off % p[P_PITCH]) // tb
        elif kind == KIND_TILED or kind == KIND_MORTON:
            uw = p[P_UNIT_W]
            uh = p[P_UNIT_H]
            rem = off % p[P_PITCH]
            tile_col = rem // p[P_UNIT_BYTES]
            if tile_col >= p[P_UNITS_X]:
                continue  # pitch padding after the last tile of a tile row
            inside = (rem % p[P_UNIT_BYTES]) // tb
            if kind == KIND_TILED:
                tx = inside % uw
                ty = inside // uw
            else:
                tx, ty = _morton_coords(inside, p[P_AUX0], p[P_AUX1])
            xx = tile_col * uw + tx
            yy = (off // p[P_PITCH]) * uh + ty
        else:
            uw = p[P_UNIT_W]
            uh = p[P_UNIT_H]
            gob_bytes = uw * tb * uh
            rem = off % p[P_PITCH]
            block_col = rem // p[P_UNIT_BYTES]
            if block_col >= p[P_UNITS_X]:
                continue
            in_block = rem % p[P_UNIT_BYTES]
            xb, r = _gob_coords(in_block % gob_bytes, uw * tb, p[P_AUX1])
            xx = block_col * uw + xb // tb
            yy = (off // p[P_PITCH]) * uh * p[P_AUX0] + (in_block // gob_bytes) * uh + r
        if xx < p[P_WIDTH] and yy < p[P_HEIGHT]:
            out_x[i] = xx
            out_y[i] = yy
