"""Chase layouts: following the chain visits every element once, in the stated order."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.microbench import chains


def follow_buffer(chain, steps):
    i, seen = 0, []
    for _ in range(steps):
        seen.append(i)
        i = int(chain[i])
    return seen, i


@pytest.mark.parametrize("order", ["random", "sequential"])
@pytest.mark.parametrize("stride", [4, 32, 128])
def test_buffer_chain_is_one_cycle(order, stride):
    chain = chains.buffer_chain(4096, stride, order, seed=3)
    n = 4096 // stride
    seen, end = follow_buffer(chain, n)
    assert end == 0 and len(set(seen)) == n
    assert sorted(seen) == [k * (stride // 4) for k in range(n)]
    if order == "sequential":
        assert seen == sorted(seen)


def test_image_grid_chain_visits_grid():
    img, n, height = chains.grid_chain(64 * 16 * 16, 64, 4, 2, "random", seed=1)
    assert img.shape == (16, 64, 4) and height == 16 and n == 16 * 8
    x = y = 0
    seen = set()
    for _ in range(n):
        seen.add((x, y))
        x, y = int(img[y, x, 0]), int(img[y, x, 1])
    assert (x, y) == (0, 0)
    assert seen == {(gx, gy) for gx in range(0, 64, 4) for gy in range(0, 16, 2)}


def test_column_major_sequential_order():
    img, n, _ = chains.grid_chain(8 * 16 * 4, 8, 4, 1, "sequential", column_major=True)
    x = y = 0
    order = []
    for _ in range(n):
        order.append((x, y))
        x, y = int(img[y, x, 0]), int(img[y, x, 1])
    assert order == [(0, 0), (0, 1), (0, 2), (0, 3), (4, 0), (4, 1), (4, 2), (4, 3)]


def test_bad_chains_raise():
    with pytest.raises(KernelError, match="multiple of 4"):
        chains.buffer_chain(4096, 6)
    with pytest.raises(KernelError, match="at least 2"):
        chains.buffer_chain(64, 64)
    with pytest.raises(KernelError, match="order"):
        chains.buffer_chain(4096, 64, "zigzag")
    with pytest.raises(KernelError, match="outside"):
        chains.image_chain(4, 4, np.array([0, 5]), np.array([0, 0]))
