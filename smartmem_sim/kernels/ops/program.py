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

Data-dependent reads (Gather/GatherElements on runtime indices): a read's :class:`IndexFrom` s bind
variables to the *values* of earlier reads of the same phase iteration and lane, converted to an index the
way :func:`index_value` says; the trace generator needs the index tensor's contents to replay them
(smartmem_sim/kernels/trace/generate.py takes them, or a documented seeded stand-in).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.layout.expr import Expr, Var
from smartmem_sim.layout.image import BufferLayout, ImageLayout, TensorLayout

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

    @property
    def global_size(self) -> tuple[int, int]:
        return (self.grid[0].extent, self.grid[1].extent)

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
