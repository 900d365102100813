"""Numba kernels behind smartmem_sim/memsim/surfaces.py: (surface, x, y) -> byte address, and back.

Private: callers go through :class:`memsim.surfaces.SurfaceTable`, which validates its input and turns the
error codes returned here into messages. Every surface is described by one row of an int64 parameter
table (columns named by the P_* constants) so that one compiled loop serves every layout kind.
"""
from __future__ import annotations

import numpy as np
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
# log2 of P_UNIT_W and P_UNIT_H, or -1 where one is not a power of two (never for morton): tiled and morton
# images with both take shifts and masks instead of integer divisions (tens of cycles each)
P_LOG_W = 13
P_LOG_H = 14
N_PARAMS = 15

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
    returns (-1, ERR_NONE) when every row is valid. Surface ids must already be checked by the caller.

    Rows go by runs of one surface. Buffers, linear images, and tiled or Z-order images of power-of-two
    tiles take a loop of their own: no integer division (tens of cycles a row) and no branch, the checks
    ORed over the run; a run found bad is gone over again row by row to name its first bad row. Other
    images (tiles of other sides, block-linear) take _texel_offset row by row."""
    n = surface.shape[0]
    i = 0
    while i < n:
        s = surface[i]
        j = i + 1
        while j < n and surface[j] == s:
            j += 1
        p = params[s]
        kind = p[P_KIND]
        if kind == KIND_BUFFER:
            bad = _buffer_run(p, x, y, nbytes, out, i, j)
        elif kind == KIND_LINEAR:
            bad = _image_run(p, x, y, nbytes, out, i, j, 0, 0, p[P_PITCH], p[P_TEXEL], p[P_TEXEL], False)
        elif (kind == KIND_TILED or kind == KIND_MORTON) and p[P_LOG_W] >= 0 and p[P_LOG_H] >= 0:
            bad = _image_run(p, x, y, nbytes, out, i, j, p[P_LOG_W], p[P_LOG_H], p[P_PITCH], p[P_UNIT_BYTES],
                             p[P_TEXEL], kind == KIND_MORTON)
        else:
            bad = False
            for r in range(i, j):
                code = _row_error(p, x[r], y[r], nbytes[r])
                if code != ERR_NONE:
                    return r, code
                out[r] = p[P_BASE] + _texel_offset(p, x[r], y[r])
        if bad:
            for r in range(i, j):
                code = _row_error(p, x[r], y[r], nbytes[r])
                if code != ERR_NONE:
                    return r, code
        i = j
    return -1, ERR_NONE


@njit(cache=True, inline="always")
def _row_error(p, xi, yi, nb):
    """The error code of one row on surface row p (ERR_NONE if it is good)."""
    if p[P_KIND] == KIND_BUFFER:
        if yi != 0:
            return ERR_Y
        if xi < 0 or xi >= p[P_WIDTH]:
            return ERR_X
        if xi + nb > p[P_WIDTH]:
            return ERR_SIZE
        return ERR_NONE
    if xi < 0 or xi >= p[P_WIDTH]:
        return ERR_X
    if yi < 0 or yi >= p[P_HEIGHT]:
        return ERR_Y
    if nb > p[P_TEXEL]:
        return ERR_SIZE
    return ERR_NONE


@njit(cache=True)
def _buffer_run(p, x, y, nbytes, out, lo, hi):
    """Rows lo..hi-1 of a buffer: out = base + x; True if a row is bad (y != 0, x outside, or past the end)."""
    base = p[P_BASE]
    width = np.uint64(p[P_WIDTH])
    bad = np.uint64(0)
    for r in range(lo, hi):
        xi = x[r]
        # unsigned: a negative x or end wraps above the width
        end = np.uint64(xi + nbytes[r])
        bad |= np.uint64(y[r] != 0) | np.uint64(np.uint64(xi) >= width) | np.uint64(end > width)
        out[r] = base + xi
    return bad != 0


@njit(cache=True)
def _image_run(p, x, y, nbytes, out, lo, hi, bx, by, pitch, unit_bytes, tb, morton):
    """Rows lo..hi-1 of a linear image (bx = by = 0, unit_bytes = tb: row y * pitch + x * tb) or one of
    2**bx x 2**by tiles (tile row y >> by, tile x >> bx), texels row-major inside a tile or (``morton``)
    in Z-order; True if a row is bad (outside the image, or more bytes than a texel)."""
    base = p[P_BASE]
    width = np.uint64(p[P_WIDTH])
    height = np.uint64(p[P_HEIGHT])
    texel = np.uint64(tb)
    wmask = (np.int64(1) << bx) - 1
    hmask = (np.int64(1) << by) - 1
    bad = np.uint64(0)
    for r in range(lo, hi):
        xi = x[r]
        yi = y[r]
        bad |= (np.uint64(np.uint64(xi) >= width) | np.uint64(np.uint64(yi) >= height)
                | np.uint64(np.uint64(nbytes[r]) > texel))
        if morton:
            inside = _morton_index(xi & wmask, yi & hmask, bx, by)
        else:
            inside = ((yi & hmask) << bx) + (xi & wmask)
        out[r] = base + (yi >> by) * pitch + (xi >> bx) * unit_bytes + inside * tb
    return bad != 0


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
