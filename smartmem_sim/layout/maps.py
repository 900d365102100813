"""Index maps: coordinates of one tensor as symbolic expressions of another's, and their composition.

An ``IndexMap`` from shape S to shape D gives, for every coordinate of a tensor of shape S (the
variables ``variables``, one per dim of S, with the dims as extents), the coordinates in D
(``exprs``, one per dim of D). Two directions matter for layout-transform elimination:

- *forward* (input coords -> output coords, "where does this element go"): what a producer
  needs to write its result directly in the place the eliminated chain would have moved it;
- *inverse* (output coords -> input coords, "where does this element come from"): what a
  consumer that absorbs the chain computes to read its input; defined for every operator here,
  including the ones that drop or repeat elements (Slice, Gather, Expand, Tile).

Maps compose by substitution followed by ``simplify``; ``reshape_steps`` classifies a Reshape into
identity / split / merge groups, from which its maps are built group by group (the paper's
"each step between consecutive shapes is identity, split (/ and %) or merge (* and +)").
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import Const, Expr, Var, evaluate, free_vars, substitute
from smartmem_sim.layout.simplify import simplify_all

Shape = tuple[int, ...]


def check_shape(shape: Sequence[int], what: str) -> Shape:
    """A static shape of positive ints, or a LayoutError naming ``what``."""
    try:
        out = tuple(int(d) for d in shape)
    except (TypeError, ValueError) as exc:
        raise LayoutError(f"{what}: shape {shape!r} is not a sequence of integers") from exc
    if any(d < 1 for d in out):
        raise LayoutError(f"{what}: shape {out} has a dim < 1; only static, non-empty shapes are supported")
    return out


def default_names(rank: int, prefix: str = "i") -> tuple[str, ...]:
    """``i0, i1, ...``: the coordinate names used when none are given."""
    return tuple(f"{prefix}{d}" for d in range(rank))


@dataclass(frozen=True)
class IndexMap:
    """Coordinates in ``src_shape`` (variables) -> coordinates in ``dst_shape`` (expressions)."""

    src_shape: Shape
    dst_shape: Shape
    variables: tuple[Var, ...]
    exprs: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if len(self.variables) != len(self.src_shape) or len(self.exprs) != len(self.dst_shape):
            raise LayoutError(
                f"index map: {len(self.variables)} variables / {len(self.exprs)} expressions for shapes "
                f"{self.src_shape} -> {self.dst_shape}"
            )
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise LayoutError(f"index map: repeated coordinate names {names}")
        for v, n in zip(self.variables, self.src_shape, strict=True):
            if v.extent != n:
                raise LayoutError(f"index map: variable '{v.name}' has extent {v.extent}, its dim is {n}")
        allowed = set(names)
        for e in self.exprs:
            extra = set(free_vars(e)) - allowed
            if extra:
                raise LayoutError(f"index map: expression {e} reads unknown variables {sorted(extra)}")

    @classmethod
    def build(cls, src_shape: Sequence[int], dst_shape: Sequence[int], fn, names: Sequence[str] | None = None):
        """Make variables for ``src_shape`` (named ``names`` or i0, i1, ...), call ``fn(vars) -> exprs``,
        simplify."""
        src = check_shape(src_shape, "index map")
        dst = check_shape(dst_shape, "index map")
        names = tuple(names) if names is not None else default_names(len(src))
        if len(names) != len(src):
            raise LayoutError(f"index map: {len(names)} names for a rank-{len(src)} shape {src}")
        variables = tuple(Var(n, d) for n, d in zip(names, src, strict=True))
        exprs = tuple(fn(variables))
        return cls(src, dst, variables, simplify_all(exprs))

    @classmethod
    def identity(cls, shape: Sequence[int], names: Sequence[str] | None = None) -> IndexMap:
        return cls.build(shape, shape, lambda v: v, names)

    def then(self, other: IndexMap) -> IndexMap:
        """Apply ``self``, then ``other``: a map from ``self.src_shape`` to ``other.dst_shape``."""
        if other.src_shape != self.dst_shape:
            raise LayoutError(
                f"index map: cannot compose {self.src_shape}->{self.dst_shape} with "
                f"{other.src_shape}->{other.dst_shape}: shapes differ"
            )
        values = {v.name: e for v, e in zip(other.variables, self.exprs, strict=True)}
        exprs = simplify_all(substitute(e, values) for e in other.exprs)
        return IndexMap(self.src_shape, other.dst_shape, self.variables, exprs)

    def rename(self, names: Sequence[str]) -> IndexMap:
        """The same map with its source coordinates named ``names``."""
        names = tuple(names)
        if len(names) != len(self.variables):
            raise LayoutError(f"index map: {len(names)} names for {len(self.variables)} coordinates")
        new_vars = tuple(Var(n, v.extent) for n, v in zip(names, self.variables, strict=True))
        values = {v.name: nv for v, nv in zip(self.variables, new_vars, strict=True)}
        return IndexMap(self.src_shape, self.dst_shape, new_vars, simplify_all(substitute(e, values) for e in self.exprs))

    def evaluate(self, coords: Sequence[np.ndarray | int]) -> tuple[np.ndarray, ...]:
        """Destination coordinates for source coordinates given as broadcastable int arrays."""
        if len(coords) != len(self.variables):
            raise LayoutError(f"index map: {len(coords)} coordinate arrays for {len(self.variables)} dims")
        env = {v.name: np.asarray(c, dtype=np.int64) for v, c in zip(self.variables, coords, strict=True)}
        shape = np.broadcast_shapes(*(a.shape for a in env.values())) if env else ()
        return tuple(np.broadcast_to(evaluate(e, env), shape) for e in self.exprs)

    def evaluate_grid(self) -> tuple[np.ndarray, ...]:
        """Destination coordinates of every source element, each array of shape ``src_shape``."""
        return self.evaluate(tuple(np.indices(self.src_shape, dtype=np.int64)))  # rank 0: no arrays, 0-d results

    def __str__(self) -> str:
        lhs = ", ".join(v.name for v in self.variables)
        rhs = ", ".join(str(e) for e in self.exprs)
        return f"({lhs}) -> ({rhs})"


# ---------------------------------------------------------------- reshape as identity / split / merge


@dataclass(frozen=True)
class ReshapeStep:
    """One group of a Reshape: input dims ``src`` and output dims ``dst`` with equal products.

    ``kind``: ``identity`` (one dim to one dim), ``split`` (one to several: / and %), ``merge``
    (several to one: * and +), ``split-merge`` (several to several), ``ones`` (only size-1 dims
    appear or vanish)."""

    kind: str
    src: tuple[int, ...]
    dst: tuple[int, ...]


def reshape_steps(src_shape: Sequence[int], dst_shape: Sequence[int]) -> tuple[ReshapeStep, ...]:
    """Split a static Reshape into independent groups of dims with equal element counts."""
    src = check_shape(src_shape, "Reshape")
    dst = check_shape(dst_shape, "Reshape")
    if prod(src) != prod(dst):
        raise LayoutError(f"Reshape: {src} ({prod(src)} elements) cannot become {dst} ({prod(dst)} elements)")
    steps: list[ReshapeStep] = []
    i = j = 0
    while i < len(src) or j < len(dst):
        # size-1 dims on either side form their own group so they never hide a split or merge
        if i < len(src) and src[i] == 1 and (j >= len(dst) or dst[j] != 1):
            steps.append(ReshapeStep("ones", (i,), ()))
            i += 1
            continue
        if j < len(dst) and dst[j] == 1 and (i >= len(src) or src[i] != 1):
            steps.append(ReshapeStep("ones", (), (j,)))
            j += 1
            continue
        gi, gj = [i], [j]
        pi, pj = src[i], dst[j]
        i, j = i + 1, j + 1
        while pi != pj:
            if pi < pj:
                pi *= src[i]
                gi.append(i)
                i += 1
            else:
                pj *= dst[j]
                gj.append(j)
                j += 1
        if len(gi) == 1 and len(gj) == 1:
            kind = "identity"
        elif len(gi) == 1:
            kind = "split"
        elif len(gj) == 1:
            kind = "merge"
        else:
            kind = "split-merge"
        steps.append(ReshapeStep(kind, tuple(gi), tuple(gj)))
    return tuple(steps)


def linearize(coords: Sequence[Expr], dims: Sequence[int]) -> Expr:
    """Row-major offset of ``coords`` within ``dims`` (``sum(c_d * stride_d)``)."""
    total: Expr = Const(0)
    stride = 1
    for c, n in zip(reversed(tuple(coords)), reversed(tuple(dims)), strict=True):
        total = total + c * stride if stride != 1 else total + c
        stride *= n
    return total


def delinearize(flat: Expr, dims: Sequence[int]) -> list[Expr]:
    """Row-major coordinates in ``dims`` of an offset ``flat`` known to lie in ``[0, prod(dims))``."""
    out: list[Expr] = []
    stride = prod(dims)
    for k, n in enumerate(dims):
        stride //= n
        part = flat // stride if stride != 1 else flat
        out.append(part if k == 0 else part % n)
    return out


def reshape_exprs(coords: Sequence[Expr], src: Shape, dst: Shape) -> list[Expr]:
    """Coordinates in ``dst`` of the element at ``coords`` in ``src`` (same row-major order)."""
    out: list[Expr | None] = [None] * len(dst)
    for step in reshape_steps(src, dst):
        flat = linearize([coords[d] for d in step.src], [src[d] for d in step.src])
        for d, e in zip(step.dst, delinearize(flat, [dst[d] for d in step.dst]), strict=True):
            out[d] = e
    return [Const(0) if e is None else e for e in out]
