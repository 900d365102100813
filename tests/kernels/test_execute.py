"""smartmem_sim.kernels.execute helpers that need no device: random_inputs and fit_to_device."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from smartmem_sim.inputs import DEFAULT_INT_HIGH, random_inputs
from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.execute import allocate, fit_to_device
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from tests.kernels.cases import Case, rand


def _graph(nodes, inputs, tensors):
    from smartmem_sim.compiler.ir import Graph

    g = Graph("g")
    for name, (shape, dtype) in tensors.items():
        g.add_tensor(name, shape, dtype)
    g.inputs = list(inputs)
    for op, ins, outs, attrs in nodes:
        g.add_node(op, ins, outs, attrs)
    return g


def test_random_inputs_bound_token_ids_by_the_table_they_index():
    g = _graph([("Reshape", ["ids", "shape"], ["flat"], {}), ("Gather", ["table", "flat"], ["emb"], {"axis": 0}),
                ("Cast", ["t"], ["tf"], {"to": 1})],
               ["ids", "x", "t"],
               {"ids": ((2, 8), np.int64), "shape": ((1,), np.int64), "flat": ((16,), np.int64),
                "table": ((37, 4), np.float32), "emb": ((16, 4), np.float32), "x": ((3, 5), np.float32),
                "t": ((1,), np.int64), "tf": ((1,), np.float32)})
    a, b = random_inputs(g, 3), random_inputs(g, 3)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # seeded
    assert a["ids"].dtype == np.int64 and a["ids"].min() >= 0 and a["ids"].max() < 37
    assert a["ids"].max() > 20  # drawn over the whole table, not a small range
    assert 0 <= a["t"][0] < DEFAULT_INT_HIGH and a["x"].dtype == np.float32


def test_fit_to_device_moves_only_images_beyond_the_limits():
    case = Case("Gather", [rand(np.random.default_rng(0), 40, 6), np.array([3, 1], np.int64)], runtime=(1,))
    plan, _, _ = case.plan(("lane_rows",), "lane_last", out_shapes=[(2, 6)])
    tall = plan.tensors["in0"].layout
    assert isinstance(tall, ImageLayout)
    small = SimpleNamespace(info=SimpleNamespace(image2d_max_width=1 << 14, image2d_max_height=tall.height - 1))
    fitted, notes = fit_to_device(plan, small)
    assert isinstance(fitted.tensors["in0"].layout, BufferLayout) and len(notes) == 1 and "in0" in notes[0]
    assert fitted.tensors["y0"].layout == plan.tensors["y0"].layout
    assert isinstance(plan.tensors["in0"].layout, ImageLayout)  # the input plan is unchanged
    with pytest.raises(KernelError, match="image2d limit"):
        allocate(small, plan.tensors["in0"], "fp32")
    same, none = fit_to_device(plan, SimpleNamespace(info=SimpleNamespace(image2d_max_width=1 << 14,
                                                                          image2d_max_height=1 << 14)))
    assert same is plan and none == []
