"""Host-side layouts of pointer chases: which elements a chase visits and in what order.

A chase visits ``n`` elements; element k sits at byte offset ``k * stride`` (buffer) or at texel
(x, y) of an image. ``random`` order (a seeded permutation, element 0 first) defeats prefetchers and
gives the latency of the level the footprint fits in; ``sequential`` order with a stride gives the share
of accesses that leave a level (the stride sweeps that reveal sector and line extents).
"""
from __future__ import annotations

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.memsim.surfaces import TEXEL_BYTES

CHASE_TEXEL_BYTES = TEXEL_BYTES["fp32"]  # RGBA float32: the chase images store coordinates exactly in fp32


def _order(n: int, order: str, seed: int) -> np.ndarray:
    if n < 2:
        raise KernelError(f"a chase needs at least 2 elements, got {n}")
    if order == "sequential":
        return np.arange(n, dtype=np.int64)
    if order == "random":
        rest = np.random.default_rng(seed).permutation(np.arange(1, n, dtype=np.int64))
        return np.concatenate([[0], rest])
    raise KernelError(f"chase order must be 'random' or 'sequential', got {order!r}")


def buffer_chain(footprint_bytes: int, stride_bytes: int, order: str = "random", seed: int = 0) -> np.ndarray:
    """An int32 array for ``mb_chase_buffer``: ``footprint_bytes / stride_bytes`` elements spaced
    ``stride_bytes`` apart (a multiple of 4), each holding the index of the next one in visit order."""
    if stride_bytes < 4 or stride_bytes % 4:
        raise KernelError(f"buffer chase stride must be a positive multiple of 4 bytes, got {stride_bytes}")
    n = footprint_bytes // stride_bytes
    visit = _order(n, order, seed) * (stride_bytes // 4)
    chain = np.zeros(n * (stride_bytes // 4), dtype=np.int32)
    chain[visit] = np.roll(visit, -1)
    return chain


def image_chain(width: int, height: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """An RGBA float32 image (height, width, 4) for ``mb_chase_image`` visiting (xs[i], ys[i]) in order
    (xs[0], ys[0]) must be (0, 0), where the kernel starts; every other texel points back to (0, 0)."""
    xs, ys = np.asarray(xs, np.int64), np.asarray(ys, np.int64)
    if len(xs) < 2 or xs.shape != ys.shape or xs[0] != 0 or ys[0] != 0:
        raise KernelError("image chain: need >= 2 coordinates of equal count, starting at (0, 0)")
    if xs.min() < 0 or ys.min() < 0 or xs.max() >= width or ys.max() >= height:
        raise KernelError(f"image chain: coordinates fall outside the {width} x {height} image")
    img = np.zeros((height, width, 4), dtype=np.float32)
    img[ys, xs, 0] = np.roll(xs, -1)
    img[ys, xs, 1] = np.roll(ys, -1)
    return img


def grid_chain(footprint_bytes: int, row_texels: int, step_x: int, step_y: int, order: str = "random",
               seed: int = 0, column_major: bool = False) -> tuple[np.ndarray, int, int]:
    """A chase over a region of ``footprint_bytes`` of an image ``row_texels`` wide, visiting every
    ``step_x``-th texel of every ``step_y``-th row. Sequential order is row by row, or column by column
    when ``column_major``. Returns (image texels, elements visited, image height)."""
    if step_x < 1 or step_y < 1 or row_texels < step_x:
        raise KernelError(f"grid chase: steps must be >= 1 and fit the row, got {step_x}, {step_y}, {row_texels}")
    height = max(step_y, footprint_bytes // (row_texels * CHASE_TEXEL_BYTES))
    gx, gy = np.arange(0, row_texels, step_x), np.arange(0, height, step_y)
    if column_major:
        xs, ys = np.repeat(gx, len(gy)), np.tile(gy, len(gx))
    else:
        xs, ys = np.tile(gx, len(gy)), np.repeat(gy, len(gx))
    perm = _order(len(xs), order, seed)
    return image_chain(row_texels, height, xs[perm], ys[perm]), len(xs), height
