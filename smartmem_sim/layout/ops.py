"""Layout operators as index maps: Transpose, Reshape, Flatten, Squeeze, Unsqueeze, DepthToSpace,
SpaceToDepth, Slice, Gather, Expand and Tile on static shapes, with ONNX semantics.

Each operator gives its output shape, its ``inverse`` map (output coords -> input coords, always
defined) and its ``forward`` map (input coords -> output coords), which exists only when the
operator moves every element to exactly one place (a bijection); otherwise ``forward`` raises a
LayoutError that says so. A ``Chain`` composes a sequence of operators from one input shape.

Gather on constant indices reads a table: the inverse coordinate along ``axis`` is
``Lookup(indices.ravel(), row-major offset of the output coordinates over the indices' dims)``;
a scalar index is a constant; a table that is a run of consecutive indices simplifies to
``start + p`` (see simplify.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod

import numpy as np

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import Const, Expr, Lookup
from smartmem_sim.layout.maps import IndexMap, Shape, check_shape, default_names, linearize, reshape_exprs
from smartmem_sim.layout.simplify import simplify_all


def _axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < rank:
        raise LayoutError(f"{op}: axis {axis} is out of range for rank {rank}")
    return axis % rank


class LayoutOp:
    """Base: subclasses define ``output_shape`` and ``inverse_exprs`` (and ``forward_exprs`` when bijective)."""

    name = "op"

    def output_shape(self, shape: Shape) -> Shape:
        raise NotImplementedError

    def inverse_exprs(self, out: Sequence[Expr], shape: Shape) -> list[Expr]:
        """Input coordinates of the output element at ``out`` (input shape ``shape``)."""
        raise NotImplementedError

    def forward_exprs(self, inp: Sequence[Expr], shape: Shape) -> list[Expr]:
        """Output coordinates of the input element at ``inp``; raise when not a bijection."""
        raise LayoutError(f"{self.name}: not a bijection on shape {shape}, so it has no forward (scatter) map; "
                            "absorb it in the consumer with the inverse map instead")

    def inverse(self, shape: Sequence[int], names: Sequence[str] | None = None) -> IndexMap:
        shape = check_shape(shape, self.name)
        out_shape = self.output_shape(shape)
        return IndexMap.build(out_shape, shape, lambda v: self.inverse_exprs(v, shape), names)

    def forward(self, shape: Sequence[int], names: Sequence[str] | None = None) -> IndexMap:
        shape = check_shape(shape, self.name)
        out_shape = self.output_shape(shape)
        return IndexMap.build(shape, out_shape, lambda v: self.forward_exprs(v, shape), names)


@dataclass(frozen=True)
class Transpose(LayoutOp):
    """ONNX Transpose: output dim d is input dim ``perm[d]`` (default: reversed)."""

    perm: tuple[int, ...] | None = None
    name = "Transpose"

    def _perm(self, shape: Shape) -> tuple[int, ...]:
        perm = tuple(reversed(range(len(shape)))) if self.perm is None else tuple(int(p) for p in self.perm)
        if sorted(perm) != list(range(len(shape))):
            raise LayoutError(f"Transpose: perm {perm} is not a permutation of the {len(shape)} dims of {shape}")
        return perm

    def output_shape(self, shape):
        return tuple(shape[p] for p in self._perm(shape))

    def inverse_exprs(self, out, shape):
        res: list[Expr] = [Const(0)] * len(shape)
        for d, p in enumerate(self._perm(shape)):
            res[p] = out[d]
        return res

    def forward_exprs(self, inp, shape):
        return [inp[p] for p in self._perm(shape)]


@dataclass(frozen=True)
class Reshape(LayoutOp):
    """ONNX Reshape with a constant target: ``0`` copies the input dim (allowzero=0), ``-1`` is inferred."""

    shape: tuple[int, ...]
    name = "Reshape"

    def output_shape(self, shape):
        target = [int(d) for d in self.shape]
        if target.count(-1) > 1:
            raise LayoutError(f"Reshape: target {tuple(target)} has more than one -1")
        for k, d in enumerate(target):
            if d == 0:
                if k >= len(shape):
                    raise LayoutError(f"Reshape: target {tuple(target)} copies dim {k} (0) of a rank-{len(shape)} input")
                target[k] = shape[k]
            elif d < -1:
                raise LayoutError(f"Reshape: target {tuple(target)} has a negative dim {d}")
        if -1 in target:
            known = prod(d for d in target if d != -1)
            if known == 0 or prod(shape) % known:
                raise LayoutError(f"Reshape: cannot infer -1 in {tuple(self.shape)} for input {shape}")
            target[target.index(-1)] = prod(shape) // known
        if prod(target) != prod(shape):
            raise LayoutError(f"Reshape: {shape} ({prod(shape)} elements) cannot become {tuple(target)}")
        return tuple(target)

    def inverse_exprs(self, out, shape):
        return reshape_exprs(out, self.output_shape(shape), shape)

    def forward_exprs(self, inp, shape):
        return reshape_exprs(inp, shape, self.output_shape(shape))


@dataclass(frozen=True)
class Flatten(LayoutOp):
    """ONNX Flatten: ``[prod(shape[:axis]), prod(shape[axis:])]``."""

    axis: int = 1
    name = "Flatten"

    def _reshape(self, shape: Shape) -> Reshape:
        if not -len(shape) <= self.axis <= len(shape):
            raise LayoutError(f"Flatten: axis {self.axis} is out of range for rank {len(shape)}")
        a = self.axis % len(shape) if self.axis < 0 else self.axis
        return Reshape((prod(shape[:a]), prod(shape[a:])))

    def output_shape(self, shape):
        return self._reshape(shape).output_shape(shape)

    def inverse_exprs(self, out, shape):
        return self._reshape(shape).inverse_exprs(out, shape)

    def forward_exprs(self, inp, shape):
        return self._reshape(shape).forward_exprs(inp, shape)


@dataclass(frozen=True)
class Squeeze(LayoutOp):
    """ONNX Squeeze: drop the listed size-1 axes (all size-1 axes when ``axes`` is None)."""

    axes: tuple[int, ...] | None = None
    name = "Squeeze"

    def _axes(self, shape: Shape) -> set[int]:
        if self.axes is None:
            return {d for d, n in enumerate(shape) if n == 1}
        axes = {_axis(a, len(shape), "Squeeze") for a in self.axes}
        bad = [a for a in axes if shape[a] != 1]
        if bad:
            raise LayoutError(f"Squeeze: axes {sorted(bad)} of {shape} are not of size 1")
        return axes

    def output_shape(self, shape):
        axes = self._axes(shape)
        return tuple(n for d, n in enumerate(shape) if d not in axes)

    def inverse_exprs(self, out, shape):
        axes = self._axes(shape)
        it = iter(out)
        return [Const(0) if d in axes else next(it) for d in range(len(shape))]

    def forward_exprs(self, inp, shape):
        axes = self._axes(shape)
        return [inp[d] for d in range(len(shape)) if d not in axes]


@dataclass(frozen=True)
class Unsqueeze(LayoutOp):
    """ONNX Unsqueeze: insert size-1 dims at ``axes`` (positions in the output)."""

    axes: tuple[int, ...]
    name = "Unsqueeze"

    def _axes(self, shape: Shape) -> set[int]:
        rank = len(shape) + len(self.axes)
        axes = {_axis(a, rank, "Unsqueeze") for a in self.axes}
        if len(axes) != len(self.axes):
            raise LayoutError(f"Unsqueeze: repeated axes {tuple(self.axes)}")
        return axes

    def output_shape(self, shape):
        axes = self._axes(shape)
        it = iter(shape)
        return tuple(1 if d in axes else next(it) for d in range(len(shape) + len(axes)))

    def inverse_exprs(self, out, shape):
        axes = self._axes(shape)
        return [out[d] for d in range(len(out)) if d not in axes]

    def forward_exprs(self, inp, shape):
        axes = self._axes(shape)
        it = iter(inp)
        return [Const(0) if d in axes else next(it) for d in range(len(shape) + len(axes))]


@dataclass(frozen=True)
class _BlockShuffle(LayoutOp):
    """DepthToSpace / SpaceToDepth on NCHW: a Reshape, a Transpose and a Reshape (ONNX definitions)."""

    blocksize: int
    mode: str = "DCR"
    name = "DepthToSpace"

    def _parts(self, shape: Shape) -> tuple[Reshape, Transpose, Reshape]:
        raise NotImplementedError

    def output_shape(self, shape):
        r1, t, r2 = self._parts(shape)
        s1 = r1.output_shape(shape)
        return r2.output_shape(t.output_shape(s1))

    def _chain(self, shape: Shape) -> Chain:
        return Chain(shape, self._parts(shape))

    def inverse_exprs(self, out, shape):
        return self._chain(shape).inverse_exprs(out)

    def forward_exprs(self, inp, shape):
        return self._chain(shape).forward_exprs(inp)

    def _check(self, shape: Shape) -> tuple[int, int, int, int, int]:
        b = int(self.blocksize)
        if len(shape) != 4:
            raise LayoutError(f"{self.name}: needs a rank-4 NCHW input, got {shape}")
        if b < 1:
            raise LayoutError(f"{self.name}: blocksize {b} must be positive")
        return (*shape, b)


@dataclass(frozen=True)
class DepthToSpace(_BlockShuffle):
    """ONNX DepthToSpace, mode ``DCR`` (default) or ``CRD``."""

    name = "DepthToSpace"

    def _parts(self, shape):
        n, c, h, w, b = self._check(shape)
        if c % (b * b):
            raise LayoutError(f"DepthToSpace: channels {c} of {shape} are not divisible by blocksize^2 = {b * b}")
        c2 = c // (b * b)
        if self.mode == "DCR":
            return Reshape((n, b, b, c2, h, w)), Transpose((0, 3, 4, 1, 5, 2)), Reshape((n, c2, h * b, w * b))
        if self.mode == "CRD":
            return Reshape((n, c2, b, b, h, w)), Transpose((0, 1, 4, 2, 5, 3)), Reshape((n, c2, h * b, w * b))
        raise LayoutError(f"DepthToSpace: mode {self.mode!r} is not DCR or CRD")


@dataclass(frozen=True)
class SpaceToDepth(_BlockShuffle):
    """ONNX SpaceToDepth (block rows, block cols, channel order of the output channels)."""

    name = "SpaceToDepth"

    def _parts(self, shape):
        n, c, h, w, b = self._check(shape)
        if h % b or w % b:
            raise LayoutError(f"SpaceToDepth: H, W of {shape} are not divisible by blocksize {b}")
        return (Reshape((n, c, h // b, b, w // b, b)), Transpose((0, 3, 5, 1, 2, 4)),
                Reshape((n, c * b * b, h // b, w // b)))


@dataclass(frozen=True)
class Slice(LayoutOp):
    """ONNX Slice with constant ``starts``, ``ends``, ``axes`` and ``steps`` (clamped as ONNX does)."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: tuple[int, ...] | None = None
    steps: tuple[int, ...] | None = None
    name = "Slice"

    def _ranges(self, shape: Shape) -> dict[int, tuple[int, int, int]]:
        """axis -> (first index, step, count)."""
        n = len(self.starts)
        axes = tuple(range(n)) if self.axes is None else tuple(self.axes)
        steps = (1,) * n if self.steps is None else tuple(self.steps)
        if not (len(self.ends) == len(axes) == len(steps) == n):
            raise LayoutError(f"Slice: starts/ends/axes/steps have different lengths ({self})")
        out: dict[int, tuple[int, int, int]] = {}
        for s, e, a, st in zip(self.starts, self.ends, axes, steps, strict=True):
            ax = _axis(int(a), len(shape), "Slice")
            if ax in out:
                raise LayoutError(f"Slice: axis {a} appears twice")
            st = int(st)
            if st == 0:
                raise LayoutError("Slice: a step of 0 is not allowed")
            dim = shape[ax]
            s, e = int(s), int(e)
            s = s + dim if s < 0 else s
            e = e + dim if e < 0 else e
            if st > 0:
                s, e = min(max(s, 0), dim), min(max(e, 0), dim)
                count = max(0, -(-(e - s) // st))
            else:
                s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
                count = max(0, -(-(s - e) // -st))
            if count == 0:
                raise LayoutError(f"Slice: axis {ax} of {shape} becomes empty; empty tensors are not supported")
            out[ax] = (s, st, count)
        return out

    def output_shape(self, shape):
        r = self._ranges(shape)
        return tuple(r[d][2] if d in r else n for d, n in enumerate(shape))

    def inverse_exprs(self, out, shape):
        r = self._ranges(shape)
        return [out[d] * r[d][1] + r[d][0] if d in r else out[d] for d in range(len(shape))]

    def forward_exprs(self, inp, shape):
        r = self._ranges(shape)
        res = []
        for d, n in enumerate(shape):
            if d not in r:
                res.append(inp[d])
                continue
            first, step, count = r[d]
            if count != n:  # drops elements
                return super().forward_exprs(inp, shape)
            res.append(inp[d] if step > 0 else (n - 1) - inp[d])  # all kept: identity or reversal
        return res


@dataclass(frozen=True)
class Gather(LayoutOp):
    """ONNX Gather with a constant index tensor (any rank; negative indices count from the end)."""

    indices: np.ndarray = field(compare=False)
    axis: int = 0
    table_name: str | None = None
    name = "Gather"

    def _norm(self, shape: Shape) -> tuple[int, np.ndarray]:
        ax = _axis(int(self.axis), len(shape), "Gather")
        idx = np.asarray(self.indices)
        if idx.dtype.kind not in "iu":
            raise LayoutError(f"Gather: indices must be integers, got dtype {idx.dtype}")
        dim = shape[ax]
        if idx.size and (idx.min() < -dim or idx.max() >= dim):
            raise LayoutError(f"Gather: indices {idx.min()}..{idx.max()} out of range for axis {ax} of size {dim}")
        if idx.size == 0:
            raise LayoutError("Gather: empty indices make an empty tensor, which is not supported")
        return ax, np.where(idx < 0, idx + dim, idx).astype(np.int64)

    def output_shape(self, shape):
        ax, idx = self._norm(shape)
        return tuple(shape[:ax]) + tuple(idx.shape) + tuple(shape[ax + 1 :])

    def inverse_exprs(self, out, shape):
        ax, idx = self._norm(shape)
        k = idx.ndim
        pos = out[ax : ax + k]
        if k == 0:
            along: Expr = Const(int(idx))
        else:
            along = Lookup(idx.ravel().tolist(), linearize(pos, idx.shape), self.table_name)
        return [*out[:ax], along, *out[ax + k :]]

    def forward_exprs(self, inp, shape):
        ax, idx = self._norm(shape)
        dim = shape[ax]
        if idx.ndim == 0 and dim == 1:
            return [*inp[:ax], *inp[ax + 1 :]]
        if idx.ndim == 1 and sorted(idx.tolist()) == list(range(dim)):
            inv = np.argsort(idx)
            name = f"{self.table_name}_inv" if self.table_name else None
            return [*inp[:ax], Lookup(inv.tolist(), inp[ax], name), *inp[ax + 1 :]]
        return super().forward_exprs(inp, shape)


@dataclass(frozen=True)
class Expand(LayoutOp):
    """ONNX Expand to a constant shape (numpy broadcasting; may add leading dims)."""

    shape: tuple[int, ...]
    name = "Expand"

    def output_shape(self, shape):
        try:
            return tuple(int(d) for d in np.broadcast_shapes(tuple(shape), tuple(self.shape)))
        except ValueError as exc:
            raise LayoutError(f"Expand: {shape} does not broadcast to {tuple(self.shape)}") from exc

    def inverse_exprs(self, out, shape):
        lead = len(out) - len(shape)
        return [Const(0) if n == 1 else out[lead + d] for d, n in enumerate(shape)]

    def forward_exprs(self, inp, shape):
        if self.output_shape(shape) != tuple(shape):
            return super().forward_exprs(inp, shape)
        return list(inp)


@dataclass(frozen=True)
class Tile(LayoutOp):
    """ONNX Tile with constant ``repeats``."""

    repeats: tuple[int, ...]
    name = "Tile"

    def output_shape(self, shape):
        if len(self.repeats) != len(shape) or any(int(r) < 1 for r in self.repeats):
            raise LayoutError(f"Tile: repeats {tuple(self.repeats)} must be positive, one per dim of {shape}")
        return tuple(n * int(r) for n, r in zip(shape, self.repeats, strict=True))

    def inverse_exprs(self, out, shape):
        return [o % n for o, n in zip(out, shape, strict=True)]

    def forward_exprs(self, inp, shape):
        if any(int(r) != 1 for r in self.repeats):
            return super().forward_exprs(inp, shape)
        return list(inp)


class Chain:
    """Operators applied in order to a tensor of shape ``shape``; ``shapes`` lists every intermediate."""

    def __init__(self, shape: Sequence[int], ops: Sequence[LayoutOp]):
        self.ops = tuple(ops)
        for op in self.ops:
            if not isinstance(op, LayoutOp):
                raise LayoutError(f"layout chain: {op!r} is not a layout operator")
        shapes = [check_shape(shape, "layout chain")]
        for op in self.ops:
            shapes.append(op.output_shape(shapes[-1]))
        self.shapes: tuple[Shape, ...] = tuple(shapes)

    @property
    def in_shape(self) -> Shape:
        return self.shapes[0]

    @property
    def out_shape(self) -> Shape:
        return self.shapes[-1]

    def inverse_exprs(self, out: Sequence[Expr]) -> list[Expr]:
        coords = list(out)
        for op, shape in zip(reversed(self.ops), reversed(self.shapes[:-1]), strict=True):
            coords = list(simplify_all(op.inverse_exprs(coords, shape)))  # per step: trees stay small
        return coords

    def forward_exprs(self, inp: Sequence[Expr]) -> list[Expr]:
        coords = list(inp)
        for op, shape in zip(self.ops, self.shapes[:-1], strict=True):
            coords = list(simplify_all(op.forward_exprs(coords, shape)))
        return coords

    def inverse(self, names: Sequence[str] | None = None) -> IndexMap:
        """Output coords -> input coords (what a consumer absorbing the chain computes)."""
        names = names if names is not None else default_names(len(self.out_shape), "o")
        return IndexMap.build(self.out_shape, self.in_shape, self.inverse_exprs, names)

    def forward(self, names: Sequence[str] | None = None) -> IndexMap:
        """Input coords -> output coords (where a producer writes); raises unless every op is a bijection."""
        return IndexMap.build(self.in_shape, self.out_shape, self.forward_exprs, names)

    def __repr__(self) -> str:
        return f"Chain({self.in_shape} -> {self.out_shape}: {', '.join(op.name for op in self.ops)})"
