"""Program building without a device: output maps written through, and errors that name the step."""
from __future__ import annotations

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.builder import _invert_output_map, build_program
from smartmem_sim.layout.expr import Var, evaluate
from smartmem_sim.layout.ops import Reshape, Transpose
from smartmem_sim.layout.plan import Step
from tests.kernels.cases import Case, rand


@pytest.mark.parametrize("chain", [
    Transpose((0, 2, 3, 1)).forward((1, 8, 3, 4)),
    Reshape((1, 2, 24, 12)).forward((1, 48, 3, 4)).then(Transpose((0, 2, 3, 1)).forward((1, 2, 24, 12))),
    # Swin-like window partition: (8, 8, C) -> (2, 4, 2, 4, C) -> (2, 2, 4, 4, C) -> (64, C)
    Reshape((2, 4, 2, 4, 3)).forward((8, 8, 3)).then(Transpose((0, 2, 1, 3, 4)).forward((2, 4, 2, 4, 3)))
    .then(Reshape((64, 3)).forward((2, 2, 4, 4, 3))),
])
def test_output_map_inverse_is_exact(chain):
    probe = [Var(f"d{i}", n) for i, n in enumerate(chain.dst_shape)]
    inv = _invert_output_map(chain, probe)
    grid = tuple(np.indices(chain.src_shape).reshape(len(chain.src_shape), -1))
    image = chain.evaluate(grid)
    back = [np.broadcast_to(evaluate(e, {p.name: image[i] for i, p in enumerate(probe)}), g.shape) for e, g in
            zip(inv, grid, strict=True)]
    assert all(np.array_equal(b, g) for b, g in zip(back, grid, strict=True))


def test_unknown_op_and_non_constant_parameters_are_errors():
    case = Case("Relu", [rand(np.random.default_rng(0), 2, 3)])
    plan, _, _ = case.plan(("lane_last",), "lane_last", out_shapes=[(2, 3)])
    bad = Step("weird", "NoSuchOp", ("n",), plan.steps[0].inputs, plan.steps[0].outputs)
    with pytest.raises(KernelError, match="weird.*NoSuchOp"):
        build_program(plan, bad)
    # Slice's starts/ends must be known when the kernel is generated (Gather reads runtime indices instead)
    sliced = Case("Slice", [rand(np.random.default_rng(0), 4, 3), np.array([1.0], np.float32),
                            np.array([3.0], np.float32)])
    plan, _, _ = sliced.plan(("lane_last",), "lane_last", out_shapes=[(2, 3)])
    with pytest.raises(KernelError, match="must be a constant"):
        build_program(plan, plan.steps[0])


def test_the_inverse_check_in_blocks_gives_the_one_shot_verdict(monkeypatch):
    # huge outputs are checked in blocks of CHECK_BLOCK elements (memory); blocks must change no verdict
    from smartmem_sim.kernels.ops import builder
    from smartmem_sim.layout.maps import IndexMap

    good = Reshape((2, 4, 2, 4, 3)).forward((8, 8, 3)).then(Transpose((0, 2, 1, 3, 4)).forward((2, 4, 2, 4, 3)))
    folded = IndexMap.build((6, 4), (2, 4), lambda v: [v[0] % 2, v[1]])  # digits, but not a bijection
    for block in (10**9, 7, 1):
        monkeypatch.setattr(builder, "CHECK_BLOCK", block)
        builder._inverts_on_every_element.cache_clear()
        assert builder._inverts_on_every_element(good)
        assert not builder._inverts_on_every_element(folded)
    with pytest.raises(KernelError, match="not a bijection"):
        _invert_output_map(folded, [Var("a", 2), Var("b", 4)])
