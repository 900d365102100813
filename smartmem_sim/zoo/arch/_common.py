"""What every architecture module shares: argument checks and the deterministic build recipe."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from smartmem_sim.errors import UserError


def seeded_build(
    name: str,
    make_model: Callable[[dict], nn.Module],
    cfg: dict,
    shape: tuple[int, ...],
    tiny: bool,
    seed: int,
) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Build ``make_model(cfg)`` with weights drawn from ``seed``, in eval mode, and a random input.

    The global torch RNG is left as it was (fork_rng), so building a model never changes the numbers
    another caller draws. BatchNorm running statistics are drawn too (mean ~ N(0, 0.1^2),
    var ~ U(0.5, 1.5)): with the default zeros and ones an exporter that dropped or misplaced a
    normalization would go unnoticed by a numeric check.
    """
    if not isinstance(tiny, bool):
        raise UserError(f"{name}.build: tiny must be True or False, got {tiny!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"{name}.build: seed must be a non-negative integer, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model(cfg)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.normal_(0.0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
        inputs = (torch.randn(shape),)
    model.eval()
    return model, inputs


def require(condition: bool, message: str) -> None:
    """Raise UserError(message) unless condition holds; for configs that would otherwise reshape wrongly."""
    if not condition:
        raise UserError(message)
