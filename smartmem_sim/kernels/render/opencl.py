"""Render an :class:`~smartmem_sim.kernels.ops.program.AccessProgram` as OpenCL C source text (no device needed).

Images are read with ``read_imagef`` through a CLK_ADDRESS_CLAMP_TO_EDGE sampler (so that even a wrong
coordinate cannot read outside the image; the trace test checks coordinates are in range separately)
and written with ``write_imagef``, in both storage types: an fp16 image is CL_HALF_FLOAT and converts on
access. Buffers are ``float*`` (fp32) or ``half*`` read with ``vload_half``/written with ``vstore_half``
(fp16 storage needs no cl_khr_fp16). Every access goes through the SM_* macros of
smartmem_sim/kernels/runtime/instrument.py, so an instrumented build logs exactly the accesses the kernel makes.
``texel_reuse`` (smartmem_sim/kernels/ops/program.py): True gives each read instruction its per-lane registers and
coordinate compares; False fetches on every execution that is on (same loop and lane order). A tiled
program (its ``tile`` is not 1x1) is rendered by :func:`_body_tiled`: one fetch per read group and loop
iteration, the slots taking their values from the group's texel (program.py's docstring).

Code shape, which changes no access: a loop whose variable picks the RGBA component of an image read (a
reduction dim in the lanes, ``k % 4``) runs as quads of four unrolled copies, so each copy names a constant
component (no select) and the compiler sees one texel per quad (:func:`lane_loops`). With texel registers, a
tiled phase's leading reads whose texel is the same for the quad's copies fetch once before them
(:func:`_quad_reads`; their compares would not fetch anyway). A tiled slot takes a read's value without a test
where its group's fetch cannot fail (:func:`_unguarded`). Measured on PoCL (full-size ViT, fp32, texel
registers on): smartmem 15.1 -> 8.8 s, fusion 20.4 -> 16.2 s of kernel time.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.program import (
    INDEX_C,
    LANES,
    AccessProgram,
    LaneCode,
    Phase,
    Read,
    Surface,
    check_texel_reuse,
    keyed_read_groups,
    per_lane_names,
    phase_classes,
    read_address,
    read_groups,
    shared_names,
    slot_expr,
    slot_valid,
    texel_coords,
    texel_valid,
)
from smartmem_sim.kernels.render.index_exprs import opencl_tables, to_opencl
from smartmem_sim.kernels.render.prelude import with_prelude
from smartmem_sim.layout.expr import Const, Expr, Var, bounds, free_vars, substitute
from smartmem_sim.layout.simplify import simplify_all

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
    except KernelError as exc:
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


class _LaneText:
    """The C text of one lane: its index expressions (``lane`` bound to the lane number, simplified) and
    its per-lane identifiers renamed to ``<name>_l<lane>`` (smartmem_sim/kernels/ops/program.py)."""

    def __init__(self, lane: int, names: Iterable[str], printed: list[Expr], shared: dict[str, int] | None = None):
        self.lane = lane
        self.suffix = f"_l{lane}"
        ordered = sorted(set(names), key=len, reverse=True)
        self._pattern = re.compile(r"\b(" + "|".join(map(re.escape, ordered)) + r")\b") if ordered else None
        self._printed = printed  # every expression printed, for the __constant tables
        self._shared = shared or {}  # names of shared phases -> the slot whose copy (program.py, shared phases)

    def name(self, ident: str) -> str:
        owner = self._shared.get(ident)
        return ident + (self.suffix if owner is None else f"_l{owner}")

    def code(self, text: str) -> str:
        return self._pattern.sub(lambda m: self.name(m.group(1)), text) if self._pattern else text

    def expr(self, e: Expr) -> Expr:
        return simplify_all([substitute(e, {"lane": Const(self.lane)})])[0]

    def idx(self, e: Expr) -> str:
        e = self.expr(e)
        self._printed.append(e)
        return _idx(e)


def _lane_valid(lc: LaneCode, lt: _LaneText) -> str | None:
    """C condition of the lane being real, or None when it always is."""
    conds = []
    for e, n in lc.valid:
        e = lt.expr(e)
        if bounds(e)[1] >= n:
            conds.append(f"{lt.idx(e)} < {n}")
    return " && ".join(conds) or None


def _register(r: Read, s: Surface, lanes: list[_LaneText], pad: str) -> list[str]:
    """The read instruction's registers, one per lane, with the coordinates each holds (none yet: -1)."""
    if s.on_image:
        return [f"{pad}float4 sm_reg_{r.value}{lt.suffix} = (float4)(0.0f); "
                f"int2 sm_at_{r.value}{lt.suffix} = (int2)(-1, -1);" for lt in lanes]
    return [f"{pad}float sm_reg_{r.value}{lt.suffix} = 0.0f; long sm_at_{r.value}{lt.suffix} = -1;" for lt in lanes]


def _fetch(r: Read, s: Surface, storage: str, lt: _LaneText, count: int, reuse: bool) -> list[str]:
    """Make the lane's register hold the texel/element: keep it, copy another lane's register that holds
    it, or fetch it (the only memory access); then take the lane's value. Without ``reuse`` the
    register is a local of this execution, always fetched."""
    reg, at = f"sm_reg_{r.value}", f"sm_at_{r.value}"
    addr = s.layout.address_exprs(r.coords)
    own = lt.suffix
    others = [f"_l{j}" for j in range(count) if j != lt.lane]
    if s.on_image:
        x, y, comp = addr
        comp = lt.expr(comp)
        point = f"const int2 sm_p = (int2)({lt.idx(x)}, {lt.idx(y)});"
        load = f"SM_READ_IMAGEF({s.param}, sm_smp, sm_p)"

        def same(suffix):
            return f"sm_p.x == {at}{suffix}.x && sm_p.y == {at}{suffix}.y"

        value = f"{reg}{own}.{_COMPONENT[comp.value]}" if isinstance(comp, Const) else \
            f"sm_lane({reg}{own}, {lt.idx(comp)})"
    else:
        (off,) = addr
        point = f"const long sm_p = {lt.idx(off)};"
        load = f"{'SM_LOAD_HALF' if storage == 'fp16' else 'SM_LOAD'}({s.param}, sm_p)"

        def same(suffix):
            return f"sm_p == {at}{suffix}"

        value = f"{reg}{own}"
    if not reuse:
        kind = "float4" if s.on_image else "float"
        return [point, f"const {kind} {reg}{own} = {load};", value]
    fill = " else ".join([*(f"if ({same(o)}) {reg}{own} = {reg}{o};" for o in others), f"{reg}{own} = {load};"])
    return [point, f"if (!({same(own)})) {{", f"  {fill}", f"  {at}{own} = sm_p;", "}", value]


def _read(r: Read, s: Surface, storage: str, lt: _LaneText, count: int, valid: str | None, pad: str,
          reuse: bool) -> list[str]:
    v = lt.name(r.value)
    lines = [f"{pad}float {v} = {r.fill}; int ok_{v} = 0;"]
    inner: list[str] = [f"const int {ix.var.name} = sm_index({lt.name(ix.value)}, {ix.var.extent});"
                        for ix in r.indices]
    conds = []
    for let in r.lets:
        e = lt.expr(let.expr)
        lo, hi = bounds(e)
        if hi < 0 or lo >= let.var.extent:  # off in this lane whatever the work-item
            return lines
        inner.append(f"const int {let.var.name} = {lt.idx(e)};")
        if lo < 0 or hi >= let.var.extent:  # a condition known to hold would be a constant operand
            conds.append(f"{let.var.name} >= 0 && {let.var.name} < {let.var.extent}")
    *fetch, value = _fetch(r, s, storage, lt, count, reuse)
    take = [*fetch, f"{v} = {value}; ok_{v} = 1;"]
    if conds:
        take = [f"if ({' && '.join(conds)}) {{", *("  " + t for t in take), "}"]
    inner += take
    if valid is not None:  # a padding lane must not even evaluate the coordinates (tables, data indices)
        inner = [f"if (sm_valid{lt.suffix}) {{", *("  " + t for t in inner), "}"]
    return lines + [f"{pad}{{", *(f"{pad}  {t}" for t in inner), f"{pad}}}"]


def _code(text: str, pad: str) -> list[str]:
    return [pad + ln for ln in text.splitlines() if ln.strip()]


def lane_loops(p: Phase, prog: AccessProgram) -> frozenset[str]:
    """The phase's loops that pick a texel's component: a loop variable in an image read's lane index
    (e.g. ``k1 % 4`` where the reduction dim fills the RGBA lanes), with a trip count divisible by 4."""
    names = set()
    for r in p.reads:
        if prog.surfaces[r.surface].on_image:
            names.update(free_vars(read_address(prog, r)[2]))
    return frozenset(v.name for v in p.loops if v.name in names and v.extent % LANES == 0 and v.extent > LANES)


def _quad_reads(p: Phase, prog: AccessProgram, split: frozenset[str]) -> int:
    """How many of the phase's first reads fetch one texel per quad of its innermost loop (split by
    :func:`lane_loops`): for every read group, what its fetch evaluates (the texel and the guards,
    program.py's read_key) does not change within a quad. With texel registers such a read fetches only at
    a quad's first copy, so fetching it once before the copies makes the same accesses in the same order
    (only a prefix of the reads, so the order holds)."""
    if not p.loops or p.loops[-1].name not in split:
        return 0
    v = p.loops[-1]
    r_var = Var(f"{v.name}_r", LANES)
    quad = {v.name: Var(f"{v.name}_q", v.extent // LANES) * LANES + r_var}
    for count, r in enumerate(p.reads):
        for _, (where, guards) in keyed_read_groups(prog, r):
            done = simplify_all([substitute(e, quad) for e in (*where, *(g[2] for g in guards))])
            if any(r_var.name in free_vars(e) for e in done):
                return count
    return len(p.reads)


def _open_loops(loops, pad: str, lines: list[str], split: frozenset[str] = frozenset()) -> str:
    """Append the headers of a phase's loop nest (outer first); returns the indent of its body. A loop in
    ``split`` runs as quads of iterations with the quad unrolled, so that after unrolling the component a
    read takes (``v % 4``) and its texel (``v / 4``) are constants per copy and the same in all four: the
    compiler can then pick the component without a select and keep one texel for the quad. Same
    iterations in the same order, so the same accesses."""
    inner = pad
    for v in loops:
        if v.name in split:
            lines += [_quad_loop(v, inner), *_copies_loop(v, inner + "  ")]
            inner += "    "
        else:
            lines.append(f"{inner}for (int {v.name} = 0; {v.name} < {v.extent}; ++{v.name}) {{")
            inner += "  "
    return inner


def _quad_loop(v: Var, pad: str) -> str:
    """The header of the loop over ``v``'s quads (``v_q``)."""
    return f"{pad}for (int {v.name}_q = 0; {v.name}_q < {v.extent // LANES}; ++{v.name}_q) {{"


def _copies_loop(v: Var, pad: str) -> list[str]:
    """The unrolled loop over a quad's four copies, defining ``v`` for its body."""
    return [f"{pad}#pragma unroll", f"{pad}for (int {v.name}_r = 0; {v.name}_r < {LANES}; ++{v.name}_r) {{",
            f"{pad}  const int {v.name} = {v.name}_q*{LANES} + {v.name}_r;"]


def _close_loops(loops, inner: str, lines: list[str], split: frozenset[str] = frozenset()) -> None:
    """Append the closing braces of the loop nest :func:`_open_loops` opened at body indent ``inner``."""
    for v in reversed(loops):
        for _ in range(2 if v.name in split else 1):
            inner = inner[:-2]
            lines.append(f"{inner}}}")


def _phase(p: Phase, prog: AccessProgram, storage: str, lanes: list[_LaneText], valid: list[str | None],
           pad: str, reuse: bool) -> list[str]:
    lines = []
    for lt, ok in zip(lanes, valid, strict=True):
        for d in p.defs:
            e = lt.idx(d.expr)
            lines.append(f"{pad}const int {lt.name(d.var.name)} = {e if ok is None else f'sm_valid{lt.suffix} ? {e} : 0'};")
    for lt in lanes:
        lines += _code(lt.code(p.before), pad)
    for r in p.reads if reuse else ():
        lines += _register(r, prog.surfaces[r.surface], lanes, pad)
    split = lane_loops(p, prog)
    inner = _open_loops(p.loops, pad, lines, split)
    for lt, ok in zip(lanes, valid, strict=True):
        for r in p.reads:
            lines += _read(r, prog.surfaces[r.surface], storage, lt, len(lanes), ok, inner, reuse)
        lines += _code(lt.code(p.body), inner)
    _close_loops(p.loops, inner, lines, split)
    for lt in lanes:
        lines += _code(lt.code(p.after), pad)
    return lines


def _body(prog: AccessProgram, storage: str, printed: list[Expr], reuse: bool) -> list[str]:
    """The kernel body after ``gx``/``gy``: phases with lanes innermost, then the output."""
    lc = prog.lanes
    names = per_lane_names(lc)
    lanes = [_LaneText(lane, names, printed) for lane in range(lc.count)]
    valid = [_lane_valid(lc, lt) for lt in lanes]
    lines = [f"  const int sm_valid{lt.suffix} = {ok};" for lt, ok in zip(lanes, valid, strict=True) if ok is not None]
    for p in lc.phases:
        lines += _phase(p, prog, storage, lanes, valid, "  ", reuse)
    results = []
    for lt, ok in zip(lanes, valid, strict=True):
        res = lt.code(lc.result)
        results.append(f"sm_r{lt.suffix}")
        lines.append(f"  const float sm_r{lt.suffix} = {res if ok is None else f'sm_valid{lt.suffix} ? {res} : 0.0f'};")
    out = prog.out_surface
    if out.on_image:
        texel = ", ".join(results + ["0.0f"] * (LANES - len(results)))
        lines.append(f"  SM_WRITE_IMAGEF({out.param}, (int2)(gx, gy), (float4)({texel}));")
        return lines
    (off,) = out.layout.address_exprs(buffer_out_coords(prog))
    store = "SM_STORE_HALF" if storage == "fp16" else "SM_STORE"
    for lt, ok in zip(lanes, valid, strict=True):
        text = f"{store}({out.param}, {lt.idx(off)}, sm_r{lt.suffix});"
        lines.append(f"  {text}" if ok is None else f"  if (sm_valid{lt.suffix}) {text}")
    return lines


def buffer_out_coords(prog: AccessProgram) -> tuple[Expr, ...]:
    """Logical coordinates of the element a buffer-output texel ``gx``'s ``lane`` stores (untiled: the
    work-item ``gx``; tiled: substitute the slot, program.py's slot_expr)."""
    (off,), inv = prog.out_surface.layout.inverse_exprs(("off",))
    return simplify_all(substitute(e, {off.name: Var("gx", prog.texels[0]) * 4 + Var("lane", 4)}) for e in inv)


# ---------------------------------------------------------------- tiled programs (program.py's docstring)

class _SlotText(_LaneText):
    """_LaneText of one slot of a tiled work-item: expressions get the slot's substitution; the names that
    shared phases declare are its class's copies."""

    def __init__(self, prog: AccessProgram, slot: int, names: Iterable[str], printed: list[Expr]):
        super().__init__(slot, names, printed, shared_names(prog, slot))
        self._prog = prog

    def expr(self, e: Expr) -> Expr:
        return slot_expr(self._prog, self.lane, e)

    def idx_done(self, e: Expr) -> str:
        """Print an expression already in the work-item's variables."""
        self._printed.append(e)
        return _idx(e)


def _group_fetch(r: Read, gi: int, group: tuple[int, ...], s: Surface, storage: str, lead: _SlotText,
                 valid: list[str | None], pad: str, reuse: bool) -> list[str]:
    """The group's one fetch of this iteration into ``sm_reg_<value>_g<gi>`` (own register with reuse),
    ``sm_ok_<value>_g<gi>`` = 1 when it holds this iteration's texel/element."""
    reg, at, ok = f"sm_reg_{r.value}_g{gi}", f"sm_at_{r.value}_g{gi}", f"sm_ok_{r.value}_g{gi}"
    lines = [f"{pad}int {ok} = 0;"]
    if not reuse:
        lines.append(f"{pad}float4 {reg} = (float4)(0.0f);" if s.on_image else f"{pad}float {reg} = 0.0f;")
    inner, conds = [], []
    for let in r.lets:
        e = lead.expr(let.expr)
        lo, hi = bounds(e)
        if hi < 0 or lo >= let.var.extent:  # off whatever the work-item
            return lines
        inner.append(f"const int {let.var.name} = {lead.idx_done(e)};")
        if lo < 0 or hi >= let.var.extent:
            conds.append(f"{let.var.name} >= 0 && {let.var.name} < {let.var.extent}")
    addr = s.layout.address_exprs(r.coords)
    if s.on_image:
        point = f"const int2 sm_p = (int2)({lead.idx(addr[0])}, {lead.idx(addr[1])});"
        load = f"SM_READ_IMAGEF({s.param}, sm_smp, sm_p)"
        same = f"sm_p.x == {at}.x && sm_p.y == {at}.y"
    else:
        point = f"const long sm_p = {lead.idx(addr[0])};"
        load = f"{'SM_LOAD_HALF' if storage == 'fp16' else 'SM_LOAD'}({s.param}, sm_p)"
        same = f"sm_p == {at}"
    fetch = [point, f"if (!({same})) {{ {reg} = {load}; {at} = sm_p; }}" if reuse else f"{reg} = {load};"]
    take = [*fetch, f"{ok} = 1;"]
    if conds:
        take = [f"if ({' && '.join(conds)}) {{", *("  " + t for t in take), "}"]
    inner += take
    members = [m for m in group if valid[m] != NEVER]
    if not members:  # none of its slots is ever real
        return lines
    if all(valid[m] is not None for m in members):  # on when one of its slots is real
        inner = [f"if ({' || '.join(f'sm_valid_l{m}' for m in members)}) {{", *("  " + t for t in inner), "}"]
    return lines + [f"{pad}{{", *(f"{pad}  {t}" for t in inner), f"{pad}}}"]


def _unguarded(guards) -> bool:
    """Whether a read group fetches whenever one of its slots is real: none of its guards (read_key's
    (name, extent, expression) triples) can fail (a padded coordinate) or always fails."""
    for _, extent, e in guards:
        lo, hi = bounds(e)
        if lo < 0 or hi >= extent:
            return False
    return True


def _slot_value(r: Read, gi: int, s: Surface, st: _SlotText, ok: str | None, pad: str,
                unguarded: bool = False) -> list[str]:
    """The slot's value of read ``r``: its component (image) of its group's texel, or the element. Where the
    group's fetch cannot fail (``unguarded``) a real slot always finds its texel, and a slot past the
    output's edge computes a value nobody stores, so the value is taken without a test (a bare multiply-add
    per slot in a MatMul's loop)."""
    v = st.name(r.value)
    reg, got = f"sm_reg_{r.value}_g{gi}", f"sm_ok_{r.value}_g{gi}"
    if s.on_image:
        # the slot's lets are declared inside its group's fetch, so the component reads their expressions
        comp = substitute(s.layout.address_exprs(r.coords)[2], {let.var.name: let.expr for let in r.lets})
        comp = st.expr(comp)
        value = f"{reg}.{_COMPONENT[comp.value]}" if isinstance(comp, Const) else f"sm_lane({reg}, {st.idx_done(comp)})"
    else:
        value = reg
    if ok == NEVER:
        return [f"{pad}float {v} = {r.fill}; int ok_{v} = 0;"]
    if unguarded:
        return [f"{pad}float {v} = {value}; int ok_{v} = 1;"]
    cond = got if ok is None else f"sm_valid{st.suffix} && {got}"
    return [f"{pad}float {v} = {r.fill}; int ok_{v} = 0;", f"{pad}if ({cond}) {{ {v} = {value}; ok_{v} = 1; }}"]


def _phase_tiled(p: Phase, prog: AccessProgram, storage: str, slots: list[_SlotText], valid: list[str | None],
                 pad: str, reuse: bool, classes=None) -> list[str]:
    """One phase of a tiled work-item; a shared phase (program.py) runs its code once per class of slots, as
    the class's first slot, taking each read's value whenever its group fetched."""
    lines = []
    runs = [(slots[c[0]], None) for c in classes] if classes else list(zip(slots, valid, strict=True))
    for st, ok in runs:
        for d in p.defs:
            e = "0" if ok == NEVER else st.idx(d.expr)
            lines.append(f"{pad}const int {st.name(d.var.name)} = {e if ok in (None, NEVER) else f'sm_valid{st.suffix} ? {e} : 0'};")
    for st, _ in runs:
        lines += _code(st.code(p.before), pad)
    groups = [read_groups(prog, r) for r in p.reads]
    for r, gs in zip(p.reads, groups, strict=True) if reuse else ():
        s = prog.surfaces[r.surface]
        for gi in range(len(gs)):
            lines.append(f"{pad}float4 sm_reg_{r.value}_g{gi} = (float4)(0.0f); int2 sm_at_{r.value}_g{gi} = (int2)(-1, -1);"
                         if s.on_image else
                         f"{pad}float sm_reg_{r.value}_g{gi} = 0.0f; long sm_at_{r.value}_g{gi} = -1;")
    split = lane_loops(p, prog)
    hoist = _quad_reads(p, prog, split) if reuse else 0
    if hoist:  # the quad's texel fetched once before its unrolled copies (the copies' compares never fetch)
        v = p.loops[-1]
        qpad = _open_loops(p.loops[:-1], pad, lines)
        lines.append(_quad_loop(v, qpad))
        decls, body = [], []
        for r, gs in zip(p.reads[:hoist], groups, strict=False):
            for gi, g in enumerate(gs):
                first, *rest = _group_fetch(r, gi, g, prog.surfaces[r.surface], storage, slots[g[0]], valid,
                                            qpad + "    ", reuse)
                decls.append(f"{qpad}  {first.strip()}")
                body += rest
        lines += [*decls, f"{qpad}  {{", f"{qpad}    const int {v.name} = {v.name}_q*{LANES};", *body, f"{qpad}  }}"]
        lines += _copies_loop(v, qpad + "  ")
        inner = qpad + "    "
    else:
        inner = _open_loops(p.loops, pad, lines, split)
    group_of = []
    for i, (r, gs) in enumerate(zip(p.reads, groups, strict=True)):
        s = prog.surfaces[r.surface]
        of = {}
        for gi, g in enumerate(gs):
            if i >= hoist:
                lines += _group_fetch(r, gi, g, s, storage, slots[g[0]], valid, inner, reuse)
            of.update(dict.fromkeys(g, gi))
        group_of.append(of)
    unguarded = [[_unguarded(guards) for _, (_, guards) in keyed_read_groups(prog, r)] for r in p.reads]
    for st, ok in runs:
        for r, of, free in zip(p.reads, group_of, unguarded, strict=True):
            gi = of[st.lane]
            lines += _slot_value(r, gi, prog.surfaces[r.surface], st, ok, inner, free[gi])
        lines += _code(st.code(p.body), inner)
    _close_loops(p.loops, inner, lines, split)
    for st, _ in runs:
        lines += _code(st.code(p.after), pad)
    return lines


def _body_tiled(prog: AccessProgram, storage: str, printed: list[Expr], reuse: bool) -> list[str]:
    """The body of a tiled work-item: its slots' phases with shared reads, then the tile's texels."""
    lc = prog.lanes
    names = per_lane_names(lc)
    slots = [_SlotText(prog, s, names, printed) for s in range(prog.slots)]
    valid = [_cond(st, slot_valid(prog, st.lane)) for st in slots]
    lines = [f"  const int sm_valid{st.suffix} = {ok};" for st, ok in zip(slots, valid, strict=True)
             if ok not in (None, NEVER)]
    for p, classes in zip(lc.phases, phase_classes(prog), strict=True):
        lines += _phase_tiled(p, prog, storage, slots, valid, "  ", reuse, classes)
    results = []
    for st, ok in zip(slots, valid, strict=True):
        res = st.code(lc.result)
        results.append(f"sm_r{st.suffix}")
        res = "0.0f" if ok == NEVER else res if ok is None else f"sm_valid{st.suffix} ? {res} : 0.0f"
        lines.append(f"  const float sm_r{st.suffix} = {res};")
    out = prog.out_surface
    if out.on_image:
        for t in range(prog.tile[0] * prog.tile[1]):
            first = t * lc.count
            texel = ", ".join(results[first:first + lc.count] + ["0.0f"] * (LANES - lc.count))
            x, y = texel_coords(prog, first)
            edge = _cond(slots[first], texel_valid(prog, first))
            if edge == NEVER:  # past the edge of the output in every work-item
                continue
            text = (f"SM_WRITE_IMAGEF({out.param}, (int2)({slots[first].idx_done(x)}, {slots[first].idx_done(y)}), "
                    f"(float4)({texel}));")
            lines.append(f"  if ({edge}) {text}" if edge else f"  {text}")
        return lines
    (off,) = out.layout.address_exprs(buffer_out_coords(prog))
    store = "SM_STORE_HALF" if storage == "fp16" else "SM_STORE"
    for st, ok in zip(slots, valid, strict=True):
        if ok == NEVER:
            continue
        text = f"{store}({out.param}, {st.idx(off)}, sm_r{st.suffix});"
        lines.append(f"  {text}" if ok is None else f"  if (sm_valid{st.suffix}) {text}")
    return lines


NEVER = "0"  # a tiled slot's condition that no work-item meets (a tile texel past the output's edge)


def _cond(st: _SlotText, conds) -> str | None:
    """C text of ``expr < n`` for every condition (in the work-item's variables): None when there is none,
    NEVER when one cannot hold."""
    if any(isinstance(e, Const) for e, _ in conds):  # program.py keeps only conditions that can fail
        return NEVER
    return " && ".join(f"{st.idx_done(e)} < {n}" for e, n in conds) or None


def _grid_guard(prog: AccessProgram) -> list[str]:
    """The return of the work-items a padded launch adds past the grid (AccessProgram.launch_size)."""
    (w, h), (lw, lh) = prog.global_size, prog.launch_size
    outside = [f"{v} >= {n}" for v, n, launched in (("gx", w, lw), ("gy", h, lh)) if launched > n]
    return [f"  if ({' || '.join(outside)}) return;"] if outside else []


def render(prog: AccessProgram, storage: str = "fp32", entry: str | None = None, *,
           texel_reuse: bool = True) -> str:
    """The kernel's OpenCL C source, instrumentation prelude included; the kernel function is named
    ``entry`` (default: the program's name); ``texel_reuse``: with or without the per-lane texel
    registers (module docstring)."""
    _check_storage(storage)
    check_texel_reuse(texel_reuse)
    params = ", ".join(_param(s, storage) for s in prog.surfaces)
    printed: list[Expr] = []
    body = (_body_tiled if prog.tiled else _body)(prog, storage, printed, texel_reuse)
    dynamic = any(r.indices for p in prog.lanes.phases for r in p.reads)
    lines = [HALF_MACROS, COMMON, INDEX_C if dynamic else "", opencl_tables(printed), prog.helpers,
             f"__kernel void {entry or prog.name}({params} SM_LOG_PARAMS) {{",
             "  const int gx = (int)get_global_id(0);",
             "  const int gy = (int)get_global_id(1);",
             *_grid_guard(prog), *body, "}"]
    return with_prelude("\n".join(lines))


_PLACEHOLDER = "sm_entry_placeholder"


def render_shared(prog: AccessProgram, storage: str = "fp32", *, texel_reuse: bool = True) -> tuple[str, str]:
    """``(entry, source)`` with the kernel function named after a hash of its own text: two steps that
    need the same kernel (same shapes, layouts and code) get byte-identical sources, so a device's
    compiler and its caches (ours, pyopencl's, PoCL's) build it once."""
    text = render(prog, storage, entry=_PLACEHOLDER, texel_reuse=texel_reuse)
    entry = "sm_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return entry, text.replace(f"__kernel void {_PLACEHOLDER}(", f"__kernel void {entry}(", 1)
