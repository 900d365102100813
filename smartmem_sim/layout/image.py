"""Tensor layouts on 2.5D memory: logical coordinates -> (x, y, lane) of an image2d of RGBA texels,
or -> an element offset in a linear buffer.

An ``ImageLayout`` names which tensor dims form the texel column ``x`` (``width_dims``, outer to
inner, row-major) and which form the texel row ``y`` (``height_dims``); one dim (``lane_dim``) is
split by 4: its index % 4 picks the RGBA lane and its index // 4 (the "block", extent ceil(n/4))
takes that dim's place in ``width_dims`` or ``height_dims``. Lanes past the end of a lane dim
whose size is not a multiple of 4 are padding. Peers' layouts are presets:

- ``nc4hw4`` (MNN): NCHW, x = (c//4)*W + w, y = n*H + h, lane = c%4; width ceil(C/4)*W, height N*H.
- ``phwc4`` (TFLite GPU texture2d): NHWC, x = w*N + n, y = h*ceil(C/4) + c//4, lane = c%4;
  width W*N, height H*ceil(C/4) (the order inside each axis is as we read TFLite's tensor_desc).
- ``nchw4c`` (TVM Adreno textures): NCHW, x = w, y = (n*ceil(C/4) + c//4)*H + h, lane = c%4.

A ``BufferLayout`` is row-major over a permutation of the dims (offset in elements).
Both give symbolic addresses (``address_exprs``, to compose with an IndexMap and print as
OpenCL), numeric ones (``locate``) and the inverse for reading back (``inverse``, ``unpack``).
Without a lane dim a texel holds one value (lane 0); lanes 1-3 are padding.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import Const, Expr, Var, evaluate
from smartmem_sim.layout.maps import IndexMap, Shape, check_shape, default_names, delinearize, linearize
from smartmem_sim.layout.simplify import simplify_all

LANES = 4  # RGBA values per texel


def _coord_vars(shape: Shape, names: Sequence[str] | None) -> tuple[Var, ...]:
    names = tuple(names) if names is not None else default_names(len(shape))
    if len(names) != len(shape):
        raise LayoutError(f"layout: {len(names)} coordinate names for a rank-{len(shape)} tensor")
    return tuple(Var(n, d) for n, d in zip(names, shape, strict=True))


class TensorLayout:
    """Base of image and buffer layouts: a map from logical coordinates to a storage address."""

    shape: Shape
    name: str
    address_names: tuple[str, ...]

    def address_exprs(self, coords: Sequence[Expr]) -> tuple[Expr, ...]:
        raise NotImplementedError

    def address_extents(self) -> tuple[int, ...]:
        raise NotImplementedError

    def inverse_exprs(self, names: Sequence[str] | None = None) -> tuple[tuple[Var, ...], tuple[Expr, ...]]:
        raise NotImplementedError

    def valid_mask(self, coords: Sequence[np.ndarray]) -> np.ndarray:
        """Which decoded coordinates are real elements (not padding)."""
        ok = np.ones(np.broadcast_shapes(*(np.shape(c) for c in coords)), dtype=bool)
        for c, n in zip(coords, self.shape, strict=True):
            ok &= (c >= 0) & (c < n)
        return ok

    def _used(self, address: Sequence[np.ndarray]) -> np.ndarray | bool:
        """Addresses the layout can hold an element at (all, unless a subclass says otherwise)."""
        return True

    def address_of(self, index_map: IndexMap) -> tuple[Expr, ...]:
        """Addresses read at each point of ``index_map``'s source: the map followed by the layout."""
        if index_map.dst_shape != self.shape:
            raise LayoutError(
                f"layout {self.name}: an index map into {index_map.dst_shape} cannot address a tensor of shape {self.shape}"
            )
        return self.address_exprs(index_map.exprs)

    def locate(self, coords: Sequence[np.ndarray | int]) -> tuple[np.ndarray, ...]:
        """Numeric addresses of logical coordinates (broadcastable int arrays)."""
        variables = _coord_vars(self.shape, None)
        if len(coords) != len(variables):
            raise LayoutError(f"layout {self.name}: {len(coords)} coordinate arrays for a rank-{len(self.shape)} tensor")
        env = {v.name: np.asarray(c, dtype=np.int64) for v, c in zip(variables, coords, strict=True)}
        shape = np.broadcast_shapes(*(a.shape for a in env.values()))
        return tuple(np.broadcast_to(evaluate(e, env), shape) for e in self.address_exprs(variables))

    def inverse(self, *address: np.ndarray | int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Logical coordinates stored at numeric addresses, and a mask of those that are real
        elements (False for padding lanes/texels or addresses outside the extent)."""
        variables, exprs = self.inverse_exprs(self.address_names)
        if len(address) != len(variables):
            raise LayoutError(f"layout {self.name}: needs {len(variables)} address arrays ({', '.join(self.address_names)})")
        arrays = [np.asarray(a, dtype=np.int64) for a in address]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        inside = np.ones(shape, dtype=bool)
        for a, n in zip(arrays, self.address_extents(), strict=True):
            inside &= (a >= 0) & (a < n)
        inside &= self._used(arrays)
        env = {v.name: np.where(inside, a, 0) for v, a in zip(variables, arrays, strict=True)}
        coords = tuple(np.broadcast_to(evaluate(e, env), shape) for e in exprs)
        return coords, inside & self.valid_mask(coords)


@dataclass(frozen=True)
class ImageLayout(TensorLayout):
    """A tensor on an image2d of RGBA texels (see the module docstring)."""

    shape: Shape
    width_dims: tuple[int, ...]
    height_dims: tuple[int, ...]
    lane_dim: int | None
    name: str = "image"
    address_names = ("x", "y", "lane")

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", check_shape(self.shape, f"layout {self.name}"))
        rank = len(self.shape)
        listed = list(self.width_dims) + list(self.height_dims)
        if sorted(listed) != list(range(rank)):
            raise LayoutError(
                f"layout {self.name}: width_dims {tuple(self.width_dims)} and height_dims {tuple(self.height_dims)} "
                f"must list each of the {rank} dims of {self.shape} exactly once"
            )
        if self.lane_dim is not None and not 0 <= self.lane_dim < rank:
            raise LayoutError(f"layout {self.name}: lane_dim {self.lane_dim} is not a dim of {self.shape}")

    def _used(self, address):
        return True if self.lane_dim is not None else address[2] == 0  # without a lane dim only R is used

    def extent(self, dim: int) -> int:
        """Extent of ``dim`` along its image axis: ceil(n/4) blocks for the lane dim."""
        n = self.shape[dim]
        return -(-n // LANES) if dim == self.lane_dim else n

    @property
    def width(self) -> int:
        """Image width in texels."""
        return prod(self.extent(d) for d in self.width_dims)

    @property
    def height(self) -> int:
        """Image height in texels."""
        return prod(self.extent(d) for d in self.height_dims)

    def address_extents(self) -> tuple[int, ...]:
        return self.width, self.height, LANES

    @property
    def fill(self) -> float:
        """Share of the image's values that hold tensor elements (the rest is lane padding)."""
        return prod(self.shape) / (self.width * self.height * LANES)

    def check_fits(self, max_width: int, max_height: int) -> None:
        """Raise if the image exceeds a device's image2d limits (texels)."""
        if self.width > max_width or self.height > max_height:
            raise LayoutError(
                f"layout {self.name}: image {self.width}x{self.height} texels for {self.shape} exceeds the device "
                f"limit {max_width}x{max_height}; choose other width/height dims"
            )

    def _part(self, coords: Sequence[Expr], d: int) -> Expr:
        return coords[d] // LANES if d == self.lane_dim else coords[d]

    def address_exprs(self, coords):
        if len(coords) != len(self.shape):
            raise LayoutError(f"layout {self.name}: {len(coords)} coordinates for a rank-{len(self.shape)} tensor")
        x = linearize([self._part(coords, d) for d in self.width_dims], [self.extent(d) for d in self.width_dims])
        y = linearize([self._part(coords, d) for d in self.height_dims], [self.extent(d) for d in self.height_dims])
        lane = coords[self.lane_dim] % LANES if self.lane_dim is not None else Const(0)
        return simplify_all((x, y, lane))

    def inverse_exprs(self, names=None):
        """Address variables ``(x, y, lane)`` and the logical coordinates stored there; a result whose
        lane-dim coordinate is >= its size is padding (``valid_mask``)."""
        names = tuple(names) if names is not None else self.address_names
        x, y, lane = (Var(n, e) for n, e in zip(names, self.address_extents(), strict=True))
        parts: dict[int, Expr] = {}
        for axis, dims in ((x, self.width_dims), (y, self.height_dims)):
            for d, e in zip(dims, delinearize(axis, [self.extent(k) for k in dims]), strict=True):
                parts[d] = e
        coords = [parts[d] * LANES + lane if d == self.lane_dim else parts[d] for d in range(len(self.shape))]
        return (x, y, lane), simplify_all(coords)

    def pack(self, tensor: np.ndarray) -> np.ndarray:
        """The image contents, shape (height, width, 4), padding lanes zero."""
        tensor = np.asarray(tensor)
        if tensor.shape != self.shape:
            raise LayoutError(f"layout {self.name}: tensor of shape {tensor.shape} given, layout is for {self.shape}")
        x, y, lane = self.locate(tuple(np.indices(self.shape)))
        image = np.zeros((self.height, self.width, LANES), dtype=tensor.dtype)
        image[y, x, lane] = tensor
        return image

    def unpack(self, image: np.ndarray) -> np.ndarray:
        """The tensor read back from image contents of shape (height, width, 4)."""
        image = np.asarray(image)
        if image.shape != (self.height, self.width, LANES):
            raise LayoutError(
                f"layout {self.name}: image of shape {image.shape} given, expected {(self.height, self.width, LANES)}"
            )
        yy, xx, ll = np.indices(image.shape)
        coords, valid = self.inverse(xx, yy, ll)
        out = np.zeros(self.shape, dtype=image.dtype)
        out[tuple(c[valid] for c in coords)] = image[valid]
        return out


@dataclass(frozen=True)
class BufferLayout(TensorLayout):
    """Row-major over ``order`` (outermost first; default: the natural order); offsets in elements."""

    shape: Shape
    order: tuple[int, ...] | None = None
    name: str = "buffer"
    address_names = ("offset",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", check_shape(self.shape, f"layout {self.name}"))
        order = tuple(range(len(self.shape))) if self.order is None else tuple(self.order)
        if sorted(order) != list(range(len(self.shape))):
            raise LayoutError(f"layout {self.name}: order {order} is not a permutation of the dims of {self.shape}")
        object.__setattr__(self, "order", order)

    def address_extents(self):
        return (prod(self.shape),)

    def address_exprs(self, coords):
        if len(coords) != len(self.shape):
            raise LayoutError(f"layout {self.name}: {len(coords)} coordinates for a rank-{len(self.shape)} tensor")
        return simplify_all((linearize([coords[d] for d in self.order], [self.shape[d] for d in self.order]),))

    def inverse_exprs(self, names=None):
        names = tuple(names) if names is not None else self.address_names
        (offset,) = (Var(n, e) for n, e in zip(names, self.address_extents(), strict=True))
        parts = delinearize(offset, [self.shape[d] for d in self.order])
        coords: list[Expr] = [Const(0)] * len(self.shape)
        for d, e in zip(self.order, parts, strict=True):
            coords[d] = e
        return (offset,), simplify_all(coords)


def _rank4(shape: Sequence[int], preset: str, dims: str) -> Shape:
    shape = check_shape(shape, f"layout {preset}")
    if len(shape) != 4:
        raise LayoutError(f"layout {preset}: needs a rank-4 {dims} tensor, got {shape}; use image_layout() for other ranks")
    return shape


def nc4hw4(shape: Sequence[int]) -> ImageLayout:
    """MNN's image layout of an NCHW tensor: width ceil(C/4)*W, height N*H, lanes c%4."""
    return ImageLayout(_rank4(shape, "nc4hw4", "NCHW"), width_dims=(1, 3), height_dims=(0, 2), lane_dim=1, name="nc4hw4")


def phwc4(shape: Sequence[int]) -> ImageLayout:
    """TFLite GPU's texture2d layout of an NHWC tensor: width W*N, height H*ceil(C/4), lanes c%4."""
    return ImageLayout(_rank4(shape, "phwc4", "NHWC"), width_dims=(2, 0), height_dims=(1, 3), lane_dim=3, name="phwc4")


def nchw4c(shape: Sequence[int]) -> ImageLayout:
    """TVM's Adreno texture layout of an NCHW tensor: width W, height N*ceil(C/4)*H, lanes c%4."""
    return ImageLayout(_rank4(shape, "nchw4c", "NCHW"), width_dims=(3,), height_dims=(0, 1, 2), lane_dim=1, name="nchw4c")


def image_layout(shape: Sequence[int], *, width: Sequence[int], height: Sequence[int], lane: int | None,
                 name: str = "image") -> ImageLayout:
    """A generic image layout, e.g. the paper's 2.5D mapping of a matrix read along both dims:
    ``image_layout((M, K), width=(1,), height=(0,), lane=1)`` puts K/4 texels along x, 4 of K per texel."""
    return ImageLayout(tuple(shape), tuple(width), tuple(height), lane, name)


def buffer_layout(shape: Sequence[int], order: Sequence[int] | None = None, name: str = "buffer") -> BufferLayout:
    """A linear buffer, row-major over ``order``."""
    return BufferLayout(tuple(shape), None if order is None else tuple(order), name)
