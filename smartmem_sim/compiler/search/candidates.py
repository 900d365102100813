"""Candidate layouts of one stored tensor: which dim fills the RGBA lanes, which dims go to the texture's
width and height (the innermost y dim serving a second reduction dim), image or linear buffer.

Order matters (callers cap the list): the plan's current layout first (so the search can always keep it),
then the layouts its readers' reduction dims ask for, the MNN-like default, other lane dims, a buffer.
Images past the image2d limit (16384 texels a side) are left out."""
from __future__ import annotations

from smartmem_sim.compiler.passes.layouts import IMAGE_MAX, default_layout, reduction_layout
from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout
from smartmem_sim.layout.plan import Plan
from smartmem_sim.layout.signature import layout_key


def _fits(layout: TensorLayout) -> bool:
    return not isinstance(layout, ImageLayout) or (layout.width <= IMAGE_MAX and layout.height <= IMAGE_MAX)


def candidate_layouts(plan: Plan, tensor: str, preferred: list[int], limit: int = 4,
                      buffers: bool = True) -> list[TensorLayout]:
    """Up to ``limit`` distinct layouts for ``plan.tensors[tensor]``; ``preferred``: stored dims its readers
    reduce over, most requested first."""
    t = plan.tensors[tensor]
    shape = t.shape
    out: list[TensorLayout] = []
    seen: set = set()

    def add(layout: TensorLayout) -> None:
        key = layout_key(layout)
        if key not in seen and _fits(layout):
            seen.add(key)
            out.append(layout)

    add(t.layout)
    dims = list(dict.fromkeys(preferred))
    if len(dims) >= 2:
        add(reduction_layout(shape, [dims[1], dims[0]]))
    for d in dims:
        add(reduction_layout(shape, [d]))
    add(default_layout(shape, t.dtype))
    if shape:
        for d in sorted(range(len(shape)), key=lambda d: (-shape[d], d)):
            if shape[d] > 1:
                add(reduction_layout(shape, [d]))
    if buffers:
        add(BufferLayout(shape, None, "linear"))
    return out[:max(1, limit)]
