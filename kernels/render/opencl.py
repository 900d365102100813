"""Render an :class:`~kernels.ops.program.AccessProgram` as OpenCL C source text (no device needed).

Images are read with ``read_imagef`` through a CLK_ADDRESS_CLAMP_TO_EDGE sampler (so that even a wrong
coordinate cannot read outside the image; the trace test checks coordinates are in range separately)
and written with ``write_imagef``, in both storage types: an fp16 image is CL_HALF_FLOAT and converts on
access. Buffers are ``float*`` (fp32) or ``half*`` read with ``vload_half``/written with ``vstore_half``
(fp16 storage needs no cl_khr_fp16). Every access goes through the SM_* macros of
kernels/runtime/instrument.py, so an instrumented build logs exactly the accesses the kernel makes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from compiler.errors import CompilerError
from compiler.layout.expr import Const, Expr, Var, substitute
from compiler.layout.opencl import opencl_tables, to_opencl
from compiler.layout.simplify import simplify_all
from kernels.errors import KernelError
from kernels.ops.program import INDEX_C, AccessProgram, LaneCode, Phase, Read, Surface
from kernels.runtime.instrument import with_prelude

STORAGES = ("fp32", "fp16")

HALF_MACROS = r"""
#ifdef SM_INSTRUMENT
#define SM_LOAD_HALF(buf, index) \
  vload_half(sm_log_buffer((index), 2, SM_SURFACE_##buf, 0, sm_log, sm_log_overflow), (buf))
#define SM_STORE_HALF(buf, index, value) \
  vstore_half((value), sm_log_buffer((index), 2, SM_SURFACE_##buf, 1, sm_log, sm_log_overflow), (buf))
#else
#define SM_LOAD_HALF(buf, index) vload_half((index), (buf))
#define SM_STORE_HALF(buf, index, value) vstore_half((value), (index), (buf))
#endif
"""

COMMON = r"""
__constant sampler_t sm_smp = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP_TO_EDGE | CLK_FILTER_NEAREST;
inline float sm_lane(float4 v, int l) { return l == 0 ? v.x : (l == 1 ? v.y : (l == 2 ? v.z : v.w)); }
"""

_COMPONENT = ("x", "y", "z", "w")


def _idx(e: Expr) -> str:
    try:
        return to_opencl(e, index_type="int")
    except CompilerError as exc:
        if "beyond 'int'" not in str(exc):
            raise
        return to_opencl(e, index_type="long")


def _check_storage(storage: str) -> None:
    if storage not in STORAGES:
        raise KernelError(f"storage must be one of {STORAGES}, got {storage!r}")


def _param(s: Surface, storage: str) -> str:
    if s.on_image:
        return f"{'__write_only' if s.write else '__read_only'} image2d_t {s.param}"
    elem = "half" if storage == "fp16" else "float"
    return f"__global {'' if s.write else 'const '}{elem}* {s.param}"


def _read_value(r: Read, s: Surface, storage: str) -> str:
    addr = s.layout.address_exprs(r.coords)
    if s.on_image:
        x, y, lane = addr
        texel = f"SM_READ_IMAGEF({s.param}, sm_smp, (int2)({_idx(x)}, {_idx(y)}))"
        if isinstance(lane, Const):
            return f"{texel}.{_COMPONENT[lane.value]}"
        return f"sm_lane({texel}, {_idx(lane)})"
    (off,) = addr
    return f"SM_LOAD_HALF({s.param}, {_idx(off)})" if storage == "fp16" else f"SM_LOAD({s.param}, {_idx(off)})"


def _read(r: Read, surfaces: tuple[Surface, ...], storage: str, pad: str) -> list[str]:
    value = _read_value(r, surfaces[r.surface], storage)
    lines = [f"{pad}const int {ix.var.name} = sm_index({ix.value}, {ix.var.extent});" for ix in r.indices]
    if not r.lets:
        return lines + [f"{pad}const float {r.value} = {value}; const int ok_{r.value} = 1;"]
    lines += [f"{pad}float {r.value} = {r.fill}; int ok_{r.value} = 0;", f"{pad}{{"]
    conds = []
    for let in r.lets:
        lines.append(f"{pad}  const int {let.var.name} = {_idx(let.expr)};")
        conds.append(f"{let.var.name} >= 0 && {let.var.name} < {let.var.extent}")
    lines.append(f"{pad}  if ({' && '.join(conds)}) {{ {r.value} = {value}; ok_{r.value} = 1; }}")
    lines.append(f"{pad}}}")
    return lines


def _code(text: str, pad: str) -> list[str]:
    return [pad + ln for ln in text.splitlines() if ln.strip()]


def _phase(p: Phase, surfaces, storage: str, pad: str) -> list[str]:
    lines = [f"{pad}const int {d.var.name} = {_idx(d.expr)};" for d in p.defs]
    lines += _code(p.before, pad)
    inner = pad
    for v in p.loops:
        lines.append(f"{inner}for (int {v.name} = 0; {v.name} < {v.extent}; ++{v.name}) {{")
        inner += "  "
    for r in p.reads:
        lines += _read(r, surfaces, storage, inner)
    lines += _code(p.body, inner)
    for _ in p.loops:
        inner = inner[:-2]
        lines.append(f"{inner}}}")
    lines += _code(p.after, pad)
    return lines


def _lanes(lc: LaneCode, prog: AccessProgram, storage: str) -> list[str]:
    out = prog.out_surface
    cond = " && ".join(f"{_idx(e)} < {n}" for e, n in lc.valid) or "1"
    lines = [f"  for (int lane = 0; lane < {lc.count}; ++lane) {{", f"    if (!({cond})) continue;"]
    for p in lc.phases:
        lines += _phase(p, prog.surfaces, storage, "    ")
    lines.append(f"    r[lane] = {lc.result};")
    if not out.on_image:
        (off,) = out.layout.address_exprs(buffer_out_coords(prog))
        store = "SM_STORE_HALF" if storage == "fp16" else "SM_STORE"
        lines.append(f"    {store}({out.param}, {_idx(off)}, r[lane]);")
    lines.append("  }")
    return lines


def buffer_out_coords(prog: AccessProgram) -> tuple[Expr, ...]:
    """Logical coordinates of the element a buffer-output work-item's ``lane`` stores."""
    (off,), inv = prog.out_surface.layout.inverse_exprs(("off",))
    return simplify_all(substitute(e, {off.name: prog.grid[0] * 4 + Var("lane", 4)}) for e in inv)


def _all_exprs(prog: AccessProgram) -> Iterable[Expr]:
    lc = prog.lanes
    for e, _ in lc.valid:
        yield e
    for p in lc.phases:
        yield from (d.expr for d in p.defs)
        for r in p.reads:
            yield from prog.surfaces[r.surface].layout.address_exprs(r.coords)
            yield from (let.expr for let in r.lets)


def render(prog: AccessProgram, storage: str = "fp32", entry: str | None = None) -> str:
    """The kernel's OpenCL C source, instrumentation prelude included; the kernel function is named
    ``entry`` (default: the program's name)."""
    _check_storage(storage)
    params = ", ".join(_param(s, storage) for s in prog.surfaces)
    tables = opencl_tables(list(_all_exprs(prog)))
    dynamic = any(r.indices for p in prog.lanes.phases for r in p.reads)
    lines = [HALF_MACROS, COMMON, INDEX_C if dynamic else "", tables, prog.helpers,
             f"__kernel void {entry or prog.name}({params} SM_LOG_PARAMS) {{",
             "  const int gx = (int)get_global_id(0);",
             "  const int gy = (int)get_global_id(1);",
             "  float r[4] = {0.0f, 0.0f, 0.0f, 0.0f};"]
    lines += _lanes(prog.lanes, prog, storage)
    out = prog.out_surface
    if out.on_image:
        lines.append(f"  SM_WRITE_IMAGEF({out.param}, (int2)(gx, gy), (float4)(r[0], r[1], r[2], r[3]));")
    lines.append("}")
    return with_prelude("\n".join(ln for ln in lines if ln is not None))


_PLACEHOLDER = "sm_entry_placeholder"


def render_shared(prog: AccessProgram, storage: str = "fp32") -> tuple[str, str]:
    """``(entry, source)`` with the kernel function named after a hash of its own text: two steps that
    need the same kernel (same shapes, layouts and code) get byte-identical sources, so a device's
    compiler and its caches (ours, pyopencl's, PoCL's) build it once."""
    text = render(prog, storage, entry=_PLACEHOLDER)
    entry = "sm_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return entry, text.replace(f"__kernel void {_PLACEHOLDER}(", f"__kernel void {entry}(", 1)
