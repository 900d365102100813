"""Resize (ONNX opsets 11-19): ``nearest`` (every nearest_mode) and ``linear`` (n-linear over the resized
axes), with the coordinate transformations half_pixel, half_pixel_symmetric, pytorch_half_pixel,
align_corners and asymmetric.

Per resized axis, the source coordinate of every output position is computed once here, in float32 with
onnxruntime's formulas and operation order (so the rounding matches), and becomes a ``__constant`` table:
integer tables (``Lookup``) for the positions read, float tables for the linear weights. The kernel reads
``x[table[o]]``; the trace generator evaluates the same tables. Not supported (KernelError): ``cubic``,
``tf_crop_and_resize`` (needs roi), and ``antialias`` when an axis is downscaled.
"""
from __future__ import annotations

from itertools import product

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, register
from smartmem_sim.kernels.ops.elementwise import flit
from smartmem_sim.kernels.ops.program import Let, Phase
from smartmem_sim.layout.expr import Lookup, Var

F32 = np.float32
TRANSFORMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def original_coords(transform: str, n_out: int, n_in: int, scale: float, resized_length: float | None = None
                    ) -> np.ndarray:
    """Source coordinate (float32) of each output position 0..n_out-1 along one axis (onnxruntime's
    GetOriginalCoordinateFromResizedCoordinate). ``resized_length``: the length align_corners divides by,
    ``n_in * scale`` when scales were given (the ONNX reference and onnxruntime do not round it), else n_out."""
    x, s = np.arange(n_out, dtype=F32), F32(scale)
    length = F32(n_out if resized_length is None else resized_length)
    half = F32(0.5)
    if transform == "half_pixel":
        return (x + half) / s - half
    if transform == "asymmetric":
        return x / s
    if transform == "pytorch_half_pixel":
        return (x + half) / s - half if n_out > 1 else np.zeros(n_out, F32)
    if transform == "align_corners":
        return np.zeros(n_out, F32) if n_out == 1 else x * F32(n_in - 1) / (length - F32(1))
    if transform == "half_pixel_symmetric":
        adjustment = F32(n_out) / (s * F32(n_in))
        offset = F32(n_in // 2) * (F32(1) - adjustment)
        return offset + (x + half) / s - half
    raise KernelError(f"Resize: coordinate_transformation_mode '{transform}' is not supported "
                      f"(supported: {', '.join(TRANSFORMS)})")


def nearest_index(coords: np.ndarray, mode: str, n_in: int) -> np.ndarray:
    """Input index of each source coordinate (onnxruntime's GetNearestPixelFromOriginal), clamped."""
    if mode == "round_prefer_floor":  # a half goes down, everything else rounds as C's round()
        idx = np.where(coords == np.trunc(coords) + F32(0.5), np.floor(coords), _round_half_away(coords))
    elif mode == "round_prefer_ceil":
        idx = _round_half_away(coords)
    elif mode == "floor":
        idx = np.floor(coords)
    elif mode == "ceil":
        idx = np.ceil(coords)
    else:
        raise KernelError(f"Resize: nearest_mode '{mode}' is not supported (supported: {', '.join(NEAREST_MODES)})")
    return np.clip(idx.astype(np.int64), 0, n_in - 1)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's round(): halves away from zero (numpy rounds them to even)."""
    return np.sign(v) * np.floor(np.abs(v) + F32(0.5))


def linear_taps(coords: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(low index, high index, low weight, high weight) per output position (onnxruntime's bilinear
    weights: the coordinate clamped into the input, equal weights 0.5 when both taps coincide)."""
    c = np.clip(coords, F32(0), F32(n_in - 1)).astype(F32)
    lo = np.minimum(c.astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    w_hi = np.abs(c - lo.astype(F32)).astype(F32)
    w_lo = np.abs(c - hi.astype(F32)).astype(F32)
    same = lo == hi
    w_lo[same], w_hi[same] = F32(0.5), F32(0.5)
    return lo, hi, w_lo, w_hi


def _scales(ctx: LaneContext, in_shape, out_shape) -> tuple[list[float], bool]:
    """Per-axis scales, and whether they were given as scales (not sizes)."""
    rank = len(in_shape)
    axes = ctx.attr("axes")
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    given, from_scales = None, False
    if ctx.has_input(2) and ctx.inputs[2].tensor and ctx.is_known(2) and ctx.constant(2).size:
        given = [float(v) for v in ctx.constant(2).astype(np.float32).ravel()]
        from_scales = True
    elif ctx.has_input(3) and ctx.inputs[3].tensor and ctx.is_known(3) and ctx.constant(3).size:
        sizes = [int(v) for v in ctx.constant(3).ravel()]
        given = [float(F32(s) / F32(in_shape[a])) for s, a in zip(sizes, axes, strict=True)]
        policy = _text(ctx.attr("keep_aspect_ratio_policy", "stretch"))
        if policy in ("not_larger", "not_smaller"):
            pick = min if policy == "not_larger" else max
            given = [pick(given)] * len(given)
    scales = [1.0] * rank
    if given is None:  # neither known: the shapes say it
        return [float(F32(o) / F32(i)) for o, i in zip(out_shape, in_shape, strict=True)], False
    if len(given) != len(axes):
        raise KernelError(f"step '{ctx.step.id}' (Resize): {len(given)} scales/sizes for {len(axes)} axes")
    for s, a in zip(given, axes, strict=True):
        scales[a] = s
    return scales, from_scales


@register("Resize")
def resize_body(ctx: LaneContext, out):
    in_shape, out_shape = ctx.shape(0), ctx.out_shape
    mode = _text(ctx.attr("mode", "nearest"))
    transform = _text(ctx.attr("coordinate_transformation_mode", "half_pixel"))
    where = f"step '{ctx.step.id}' (Resize)"
    if mode not in ("nearest", "linear"):
        raise KernelError(f"{where}: mode '{mode}' is not supported (nearest, linear)")
    scales, from_scales = _scales(ctx, in_shape, out_shape)
    if int(ctx.attr("antialias", 0)) and any(s < 1 for s in scales):
        raise KernelError(f"{where}: antialias on a downscaled axis is not supported")
    resized = [d for d in range(len(in_shape)) if scales[d] != 1.0 or in_shape[d] != out_shape[d]]
    tag = "".join(c if c.isalnum() else "_" for c in ctx.step.id)
    coords = {d: original_coords(transform, out_shape[d], in_shape[d], scales[d],
                                 float(F32(in_shape[d]) * F32(scales[d])) if from_scales else None) for d in resized}
    if mode == "nearest":
        nmode = _text(ctx.attr("nearest_mode", "round_prefer_floor"))
        at = list(out)
        for d in resized:
            at[d] = Lookup(nearest_index(coords[d], nmode, in_shape[d]).tolist(), out[d], f"rz_{tag}_{d}")
        r = ctx.read(0, tuple(at))
        return [Phase(reads=(r,))], r.value
    taps = {d: linear_taps(coords[d], in_shape[d]) for d in resized}
    defs, weight = [], {}
    for d in resized:
        lo, hi, w_lo, w_hi = taps[d]
        o = Var(ctx.fresh("o"), out_shape[d])
        defs.append(Let(o, out[d]))
        for side, w in (("lo", w_lo), ("hi", w_hi)):
            name = f"rzw_{tag}_{d}_{side}"
            ctx.add_helper(f"__constant float {name}[{w.size}] = {{{', '.join(flit(float(v)) for v in w)}}};")
            weight[d, side] = f"{name}[{o.name}]"
    reads, terms = [], []
    for corner in product(("lo", "hi"), repeat=len(resized)):
        at = list(out)
        for d, side in zip(resized, corner, strict=True):
            table = taps[d][0 if side == "lo" else 1]
            at[d] = Lookup(table.tolist(), out[d], f"rz_{tag}_{d}_{side}")
        r = ctx.read(0, tuple(at), prefix="x")
        reads.append(r)
        terms.append("*".join([*(weight[d, side] for d, side in zip(resized, corner, strict=True)), r.value]))
    return [Phase(reads=tuple(reads), defs=tuple(defs))], "(" + " + ".join(terms) + ")"
