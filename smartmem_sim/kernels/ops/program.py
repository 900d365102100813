"""The access program: one kernel described once, as data, for both the OpenCL renderer and the trace generator.

A kernel launches one work-item per output texel (image output: global size (width, height), work-item
``(gx, gy)`` writes texel ``(gx, gy)``) or per 4 consecutive elements (buffer output: global size
``(ceil(n/4), 1)``, work-item ``gx`` writes offsets ``4*gx .. 4*gx+3``). A work-item computes up to 4
*lanes* (``lane`` = 0..3, the RGBA components of its output texel; only lane 0 for an image layout without a
lane dim). The program's :class:`LaneCode` says, as expressions of ``gx``, ``gy`` and ``lane``, when a lane is
a real element (not padding) and which :class:`Phase` s compute its value. Lanes are independent
computations with one phase/loop structure (only expressions and C values differ per lane). A phase is a
nest of reduction loops whose innermost body performs :class:`Read` s (each at stored-tensor coordinates
given as index expressions of ``gx``, ``gy``, ``lane`` and the loop variables), then runs C code on the values.

Execution order inside a work-item (what the renderer emits and the trace generator replays), lanes
innermost as in a hand-written image kernel (MNN, TFLite GPU, clvk), so that the 4 lanes share each fetched
texel while it is in a register:

- phases in order; inside a phase, loop iterations in row-major order of ``loops`` (outer first);
- inside an iteration, lanes 0..count-1 (an invalid, i.e. padding, lane makes no access);
- inside a lane, ``reads`` in order (a guarded read that is off makes no access), then ``body``;
- at the end, a buffer output stores each valid lane's element (lane order); an image output writes its
  one texel.

**Texel reuse.** Each :class:`Read` *instruction* (one per phase) has one register per lane, holding
the texel (image) or element (buffer) of that lane's latest execution that was on, with its coordinates.
An execution that needs what one of the instruction's registers holds at that moment (another lane's, from
earlier in this iteration or before, or its own, from an earlier iteration) copies it into its own
register and makes **no memory access**; otherwise it fetches into its own register. An execution that is
off (padding lane, guard off) fetches nothing and leaves the registers as they are. The registers live for
one phase of one work-item. This is what a hand-written image kernel keeps in registers: for MatMul with
A's lanes along K, 4 values of K cost 1 texel of A plus 4 of B (5 reads per 16 multiply-adds) whether
B's lanes hold N (MNN: one B texel serves the 4 lanes) or K (SmartMem's reduction-dim layout: each lane
keeps its own B texel for 4 iterations). The generated C does exactly this with coordinate compares, so
an instrumented build logs the accesses the trace generator replays.

The registers are a choice, ``texel_reuse`` (default True), that the renderer and the trace generator
both take: False emits the same lanes-innermost kernel without them, so every execution that is on
fetches (the sequence above with every compare failing). A GPU with a large L1 (H100: 256 KB per SM)
serves those repeats from cache for less than the compare-and-select code costs; a mobile GPU's small L1
does not (the device profile's [execution] table says, per device, which is used).

C conventions for the code strings: each read defines ``float <value>`` (``fill`` when it is off) and
``int ok_<value>`` (1 when it read); phases may declare variables in ``before`` that later phases and
``result`` use. A phase's ``defs`` are integer values (``const int``) of index expressions that its C code
may use (e.g. an output coordinate; 0 in a padding lane, so a table indexed by one stays in bounds); read
coordinates never refer to them. The C code is written once, for one lane; the renderer emits one copy per
lane with every per-lane identifier renamed (``<name>_l<lane>``): read values and their ``ok_`` flags,
``defs`` variables and the names in :attr:`LaneCode.locals` (the builder lists every name that
LaneContext.fresh issued, loop variables excepted). Loop variables, ``gx``/``gy`` and helper names are
shared; the C code must not use ``lane`` (lane-dependent values come from index expressions or defs), and
a helper must not be named by a bare fresh name. A padding lane runs its C code on fill values; its result
is discarded (an image output stores 0.0f there).

**Output tiling** (:attr:`AccessProgram.tile` ``= (TX, TY)``, default ``(1, 1)``; MatMul, Gemm, Conv and the row reductions, chosen
per plan step by :attr:`smartmem_sim.layout.plan.Step.tile`, see :func:`smartmem_sim.kernels.library.tile_plan`).
The lane code stays written for one output texel: ``gx``/``gy`` in its expressions are the *texel*
coordinates. A tiled work-item ``(gx, gy)`` (global size ``(ceil(W/TX), ceil(H/TY))`` over the ``W x H``
output texels; a buffer output has ``H = 1`` and needs ``TY = 1``) computes the texels
``(gx*TX + tx, gy*TY + ty)``, ``tx < TX``, ``ty < TY``, each with its ``count`` lanes: the work-item runs
``TX*TY*count`` *slots*, slot ``s = (ty*TX + tx)*count + lane``, each slot one copy of the lane code with
``gx -> gx*TX + tx``, ``gy -> gy*TY + ty``, ``lane -> lane`` substituted (:func:`slot_expr`). A slot is real
when its texel is inside the output (the edge guard of a tile that does not divide the output: a texel
past the edge is neither computed nor written) and the lane is (``valid``).

Reads in a tiled program are shared *statically*: slots whose substituted texel (image: x, y; buffer:
element offset) and guard expressions are the same expressions form one **read group**
(:func:`read_groups`), and the group fetches its texel once per loop iteration, for all of them (MatMul:
A's texel once per tile row, B's once per tile column, per K step). No slot compares coordinates with
another. Order inside a loop iteration of a tiled phase: for each read in order, its groups in order
(each group fetches if one of its slots is real and the guards hold); then the slots in order, each
taking its value (component) from its group's texel and running ``body``. At the end the tile's texels
are written (texel order, real texels only) or, for a buffer, each real slot's element (slot order).
``texel_reuse`` in a tiled program: each group keeps its own register across iterations and fetches
only when its coordinates change (one compare per group, none across groups: what groups share within
an iteration is already shared); without it each group fetches every iteration. Tile ``(1, 1)`` is the
untiled kernel above, byte for byte. Data-dependent reads cannot be tiled.

**Shared phases** (:func:`phase_classes`). In a tiled row reduction (Softmax, LayerNorm, ... with the tile
along the normalized row) the slots of one row compute the same statistics from the same texels. A phase's
slots fall into *classes*: slots whose reads are, read by read, in the same group and take the same
component. A phase with fewer classes than slots is shared when it has no ``defs`` and its C code uses only
per-lane names it declares or that earlier phases declared with classes at least as coarse (each of its
classes inside one of theirs), none of which a later phase assigns. A shared phase runs once per class, as
the class's first slot (its reads take the group's value whenever the group fetched, whatever that slot's
validity: a real slot of the class would read the same value), and every slot's code names its class's copy
of what the phase declared. With the lanes on the row a class is the whole work-item; with the lanes across
rows it is one lane's texels. The fetches are the group fetches above, so the trace is the same with or
without sharing; only the arithmetic (and the program's compute count, smartmem_sim/kernels/trace/sample.py)
drops.

Data-dependent reads (Gather/GatherElements on runtime indices): a read's :class:`IndexFrom` s bind
variables to the *values* of earlier reads of the same phase iteration and lane, converted to an index the
way :func:`index_value` says; the trace generator needs the index tensor's contents to replay them
(smartmem_sim/kernels/trace/generate.py takes them, or a documented seeded stand-in).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.layout.expr import Const, Expr, Var, bounds, free_vars, substitute
from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout
from smartmem_sim.layout.simplify import simplify_all

LANES = 4


@dataclass(frozen=True)
class Surface:
    """One image/buffer parameter of the kernel."""

    param: str  # C parameter name, e.g. "s0"
    tensor: str  # stored tensor name in the plan
    layout: TensorLayout
    write: bool = False

    @property
    def on_image(self) -> bool:
        return isinstance(self.layout, ImageLayout)


@dataclass(frozen=True)
class Let:
    """``const int var = expr;`` guarded by ``0 <= expr < var.extent`` (e.g. a padded conv input row):
    inside the guard ``var`` has the range its extent says, which keeps index printing sign-safe."""

    var: Var
    expr: Expr


@dataclass(frozen=True)
class IndexFrom:
    """``const int var = index_value(<value of the earlier read named value>, var.extent);``"""

    var: Var
    value: str  # Read.value of an unguarded earlier read in the same phase (same loop iteration)


INDEX_C = """
inline int sm_index(float v, int n) { int i = (int)v; if (i < 0) i += n; return max(0, min(i, n - 1)); }
"""


def check_texel_reuse(texel_reuse) -> None:
    """``texel_reuse`` must be a bool (module docstring): a truthy string such as "off" would mean on."""
    if not isinstance(texel_reuse, bool | np.bool_):
        raise KernelError(f"texel_reuse must be True or False, got {texel_reuse!r}")


def index_value(values, extent: int):
    """What ``sm_index`` computes, with numpy: truncate to an integer, wrap a negative index once
    (ONNX's Gather semantics), clamp into [0, extent) so a bad index can never read out of bounds."""
    i = np.trunc(np.asarray(values, np.float64)).astype(np.int64)
    i = np.where(i < 0, i + extent, i)
    return np.clip(i, 0, extent - 1)


@dataclass(frozen=True)
class Read:
    """One load: ``value = stored tensor of surface ``surface`` at ``coords`` (logical stored coordinates)``."""

    value: str
    surface: int
    coords: tuple[Expr, ...]
    lets: tuple[Let, ...] = ()  # all guards must hold, else value = fill and ok_<value> = 0
    fill: str = "0.0f"
    indices: tuple[IndexFrom, ...] = ()  # data-dependent coordinate variables, bound before the guards


@dataclass(frozen=True)
class Phase:
    loops: tuple[Var, ...] = ()
    reads: tuple[Read, ...] = ()
    before: str = ""  # C before the loops
    body: str = ""  # C in the innermost loop, after the reads
    after: str = ""  # C after the loops
    defs: tuple[Let, ...] = ()  # ``const int var = expr;`` before ``before`` (for the C code; never guarded)


@dataclass(frozen=True)
class LaneCode:
    """The code of every lane: index expressions may read the lane variable ``lane`` (0..count-1)."""

    count: int  # lanes the work-item computes: 4, or 1 for an image layout without a lane dim
    valid: tuple[tuple[Expr, int], ...]  # (expr, n): the lane is real when expr < n for all (expr >= 0 always)
    phases: tuple[Phase, ...]
    result: str  # C float expression of the lane's value after the phases
    locals: tuple[str, ...] = ()  # per-lane C identifiers of the code strings (module docstring), renamed per lane


@dataclass(frozen=True)
class AccessProgram:
    """A kernel as data (see the module docstring)."""

    name: str  # kernel name (C identifier)
    surfaces: tuple[Surface, ...]
    output: int  # index of the written surface
    grid: tuple[Var, Var]  # gx, gy with the global size as extents
    local_size: tuple[int, int]
    lanes: LaneCode
    step: str = ""  # plan step id
    helpers: str = ""  # extra C functions the phases call
    notes: tuple[str, ...] = field(default_factory=tuple)
    tile: tuple[int, int] = (1, 1)  # output texels per work-item along x, y (module docstring)

    @property
    def global_size(self) -> tuple[int, int]:
        """The work-items that compute something: the grid's extents (``gx < width``, ``gy < height``)."""
        return (self.grid[0].extent, self.grid[1].extent)

    @property
    def launch_size(self) -> tuple[int, int]:
        """The global size to enqueue: :attr:`global_size` rounded up to whole work-groups. Where it is larger
        (:attr:`padded`), the kernel's first line returns from the work-items outside the grid, which make no
        access; the trace generator leaves them out, and the issue order deals the partial groups as whole."""
        (gw, gh), (lx, ly) = self.groups, self.local_size
        return (gw * lx, gh * ly)

    @property
    def padded(self) -> bool:
        return self.launch_size != self.global_size

    @property
    def groups(self) -> tuple[int, int]:
        """Work-groups along x and y (the last ones partial where :attr:`padded`)."""
        (w, h), (lx, ly) = self.global_size, self.local_size
        return (-(-w // lx), -(-h // ly))

    @property
    def tiled(self) -> bool:
        return tuple(self.tile) != (1, 1)

    @property
    def texels(self) -> tuple[int, int]:
        """The output's texel grid ``(W, H)`` (buffer: ``(ceil(n/4), 1)``): the range of ``gx``/``gy`` in
        the lane code's expressions (the global size when untiled)."""
        lay = self.out_surface.layout
        if isinstance(lay, ImageLayout):
            return (lay.width, lay.height)
        return (-(-elem_count(lay) // LANES), 1)

    @property
    def slots(self) -> int:
        """Lane-code copies one work-item runs: tile texels x lanes."""
        return self.tile[0] * self.tile[1] * self.lanes.count

    @property
    def out_surface(self) -> Surface:
        return self.surfaces[self.output]


def elem_count(layout: TensorLayout) -> int:
    n = 1
    for d in layout.shape:
        n *= d
    return n


def is_buffer(layout: TensorLayout) -> bool:
    return isinstance(layout, BufferLayout)


# ---------------------------------------------------------------- output tiling (module docstring)

def _memo(prog: AccessProgram) -> dict:
    """The program's memo of derived expressions. A program is immutable, so what is derived from it
    never changes; the trace generator asks for the same slot expressions once per window and per
    sampling pass, and rebuilding them symbolically cost more than tracing (issue 26)."""
    memo = prog.__dict__.get("_derived")
    if memo is None:
        memo = {}
        object.__setattr__(prog, "_derived", memo)
    return memo


def memoized(prog: AccessProgram, key: tuple, make):
    """``make()``, computed once per program and ``key`` (see _memo)."""
    memo = _memo(prog)
    if key not in memo:
        memo[key] = make()
    return memo[key]


def slot_subst(prog: AccessProgram, slot: int) -> dict[str, Expr]:
    """What slot ``slot`` of a tiled work-item substitutes into the lane code's expressions."""
    tx_n, ty_n = prog.tile
    t, lane = divmod(slot, prog.lanes.count)
    ty, tx = divmod(t, tx_n)
    gx, gy = prog.grid
    return {"gx": gx * tx_n + tx if tx_n > 1 else gx, "gy": gy * ty_n + ty if ty_n > 1 else gy, "lane": Const(lane)}


def slot_expr(prog: AccessProgram, slot: int, e: Expr) -> Expr:
    """``e`` (an expression of the lane code) for slot ``slot``, in the work-item's ``gx``/``gy``, simplified."""
    memo = _memo(prog)
    fv = memo.get(("free", id(e)))
    if fv is None or fv[0] is not e:
        fv = memo[("free", id(e))] = (e, frozenset(free_vars(e)))
    # slots that differ only in what ``e`` does not read (often the lane) share one result
    t, lane = divmod(slot, prog.lanes.count)
    ty, tx = divmod(t, prog.tile[0])
    names = fv[1]
    key = ("slot_expr", id(e), tx if "gx" in names else -1, ty if "gy" in names else -1,
           lane if "lane" in names else -1)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = (e, simplify_all([substitute(e, slot_subst(prog, slot))])[0])
    return hit[1]


def _conds(prog: AccessProgram, slot: int, conds) -> tuple[tuple[Expr, int], ...]:
    out = []
    for e, n in conds:
        e = slot_expr(prog, slot, e)
        if bounds(e)[1] >= n:
            out.append((e, n))
    return tuple(out)


def texel_valid(prog: AccessProgram, slot: int) -> tuple[tuple[Expr, int], ...]:
    """The tile's edge guard of slot ``slot``'s texel: conditions ``expr < n`` in the work-item's
    ``gx``/``gy``, those that can fail only (none when the tile divides the output)."""
    def make():
        w, h = prog.texels
        return _conds(prog, slot, ((Var("gx", w), w), (Var("gy", h), h)))
    return memoized(prog, ("texel_valid", slot), make)


def texel_coords(prog: AccessProgram, slot: int) -> tuple[Expr, Expr]:
    """The output texel (x, y) of slot ``slot``, in the work-item's ``gx``/``gy``."""
    def make():
        w, h = prog.texels
        return slot_expr(prog, slot, Var("gx", w)), slot_expr(prog, slot, Var("gy", h))
    return memoized(prog, ("texel_coords", slot), make)


def slot_valid(prog: AccessProgram, slot: int) -> tuple[tuple[Expr, int], ...]:
    """The conditions ``expr < n`` (in the work-item's ``gx``/``gy``) for slot ``slot`` to be real, those
    that can fail only; the tile's edge guard first (a lane condition may index a table that is only
    in range inside the output)."""
    return memoized(prog, ("slot_valid", slot), lambda: texel_valid(prog, slot) + _conds(prog, slot, prog.lanes.valid))


def read_address(prog: AccessProgram, r: Read) -> tuple[Expr, ...]:
    """The address expressions of ``r`` in its surface's layout (image: x, y, lane; buffer: offset)."""
    return memoized(prog, ("address", id(r)), lambda: (r, prog.surfaces[r.surface].layout.address_exprs(r.coords)))[1]


def read_key(prog: AccessProgram, slot: int, r: Read) -> tuple:
    """What a slot's execution of ``r`` fetches, as expressions: texel (image x, y) or element offset, and
    the guards. Slots with equal keys share one fetch (:func:`read_groups`)."""
    addr = read_address(prog, r)
    where = addr[:2] if prog.surfaces[r.surface].on_image else addr
    return (tuple(slot_expr(prog, slot, e) for e in where),
            tuple((let.var.name, let.var.extent, slot_expr(prog, slot, let.expr)) for let in r.lets))


def keyed_read_groups(prog: AccessProgram, r: Read) -> tuple[tuple[tuple[int, ...], tuple], ...]:
    """:func:`read_groups` with each group's :func:`read_key` (the expressions its fetch evaluates)."""
    if r.indices:
        raise KernelError(f"kernel {prog.name}: data-dependent reads cannot be tiled")

    def make():
        groups: dict[tuple, list[int]] = {}
        for s in range(prog.slots):
            groups.setdefault(read_key(prog, s, r), []).append(s)
        return r, tuple((tuple(g), key) for key, g in groups.items())
    return memoized(prog, ("groups", id(r)), make)[1]


def read_groups(prog: AccessProgram, r: Read) -> tuple[tuple[int, ...], ...]:
    """The read groups of ``r`` in a tiled program: slots with equal :func:`read_key`, each group in slot
    order, groups in the order of their first slot."""
    return tuple(g for g, _ in keyed_read_groups(prog, r))


# ---------------------------------------------------------------- shared phases (module docstring)

def per_lane_names(lc: LaneCode) -> set[str]:
    """The identifiers the renderer renames per lane (slot): ``locals``, ``defs`` variables, read values and
    their ``ok_`` flags; loop variables and ``gx``/``gy`` are shared."""
    names = set(lc.locals)
    for p in lc.phases:
        names.update(d.var.name for d in p.defs)
        for r in p.reads:
            names.update((r.value, f"ok_{r.value}"))
    names.difference_update(v.name for p in lc.phases for v in p.loops)
    names.difference_update(("gx", "gy"))
    return names


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _phase_names(p: Phase, names: set[str]) -> set[str]:
    used = set(_IDENT.findall(" ".join((p.before, p.body, p.after)))) & names
    used.update(d.var.name for d in p.defs)
    for r in p.reads:
        used.update((r.value, f"ok_{r.value}"))
    return used


def _assigned(p: Phase, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\s*([-+*/]?=)(?!=)", " ".join((p.before, p.body, p.after))) is not None


def _slot_classes(prog: AccessProgram, p: Phase) -> tuple[tuple[int, ...], ...] | None:
    """The classes of a phase's slots (module docstring), or None when every slot is its own (or ``defs``)."""
    if p.defs:
        return None
    keys: list[list] = [[] for _ in range(prog.slots)]
    for r in p.reads:
        group_of = {}
        for gi, (members, _) in enumerate(keyed_read_groups(prog, r)):
            group_of.update(dict.fromkeys(members, gi))
        comp = read_address(prog, r)[2] if prog.surfaces[r.surface].on_image else None
        for s in range(prog.slots):
            keys[s].append((group_of[s], None if comp is None else slot_expr(prog, s, comp)))
    classes: dict[tuple, list[int]] = {}
    for s in range(prog.slots):
        classes.setdefault(tuple(keys[s]), []).append(s)
    if len(classes) == prog.slots:
        return None
    return tuple(tuple(c) for c in classes.values())


def phase_classes(prog: AccessProgram) -> tuple[tuple[tuple[int, ...], ...] | None, ...]:
    """Per phase of the lane code: the classes of slots that run it once (module docstring), or None where
    every slot runs it; all None for an untiled program."""
    def make():
        phases = prog.lanes.phases
        if not prog.tiled:
            return (None,) * len(phases)
        names = per_lane_names(prog.lanes)
        seen: set[str] = set()
        owner: dict[str, int] = {}
        for i, p in enumerate(phases):
            mine = _phase_names(p, names)
            owner.update(dict.fromkeys(mine - seen, i))
            seen |= mine
        out: list = []
        rep: list[list[int]] = []  # per earlier phase, the first slot of each slot's class
        for i, p in enumerate(phases):
            classes = _slot_classes(prog, p)
            for n in _phase_names(p, names) if classes else ():
                j = owner[n]
                if j == i:
                    if any(_assigned(q, n) for q in phases[i + 1:]):
                        classes = None
                        break
                elif not all(len({rep[j][s] for s in c}) == 1 for c in classes):
                    classes = None  # it uses a value that differs inside one of its classes
                    break
            out.append(classes)
            first = list(range(prog.slots))
            for c in classes or ():
                for s in c:
                    first[s] = c[0]
            rep.append(first)
        return tuple(out)
    return memoized(prog, ("phase_classes",), make)


def shared_phases(prog: AccessProgram) -> tuple[bool, ...]:
    """Per phase: whether it is shared by the slots of a class (runs fewer times than there are slots)."""
    return tuple(c is not None for c in phase_classes(prog))


def shared_names(prog: AccessProgram, slot: int) -> dict[str, int]:
    """The per-lane names that shared phases declare, each with the slot whose copy ``slot``'s code names
    (the first slot of its class in the declaring phase)."""
    def make():
        names = per_lane_names(prog.lanes)
        seen: set[str] = set()
        out: list[dict[str, int]] = [{} for _ in range(prog.slots)]
        for p, classes in zip(prog.lanes.phases, phase_classes(prog), strict=True):
            mine = _phase_names(p, names) - seen
            seen |= mine
            for c in classes or ():
                for s in c:
                    out[s].update(dict.fromkeys(mine, c[0]))
        return out
    return memoized(prog, ("shared_names",), make)[slot]
