"""The trace generator without a device: counts against closed forms and against a plain-Python model of
the work-item (program order, lanes innermost, one register per lane and read instruction), ranges, and
the schedule."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.ops.program import index_value
from smartmem_sim.kernels.render.opencl import buffer_out_coords
from smartmem_sim.kernels.trace.generate import (
    ELEM_BYTES,
    TEXEL_BYTES,
    index_standin,
    item_accesses,
    scheduled_trace,
)
from smartmem_sim.layout.expr import evaluate
from tests.kernels.cases import Case, rand
from tests.kernels.ops.catalogue import cases

CASES = cases()


def _prog(case, ins, out, storage="fp32"):
    plan, _, weights = case.plan(ins, out, storage=storage, out_shapes=[r.shape for r in case.reference()])
    return step_kernels(plan, plan.steps[0], weights)[0].program


def _ceil4(n):
    return -(-n // 4)


def test_matmul_fetches_one_texel_per_register_fill():
    """Hand count. A's lanes hold K, so one A texel serves 4 values of K and all lanes of a work-item.
    B with lanes along K (SmartMem's reduction-dim layout): each output lane (a column n) keeps its own B
    texel for 4 values of K. B with lanes along N (MNN's layout): one B texel serves the 4 lanes, one per k."""
    M, K, N = 5, 7, 6
    a, b = rand(np.random.default_rng(0), M, K), rand(np.random.default_rng(1), K, N)
    blocks = [min(4, N - 4 * i) for i in range(_ceil4(N))]  # valid lanes per output texel of a row: 4, 2
    for b_layout, b_fetches in (("lane_rows", lambda lanes: lanes * _ceil4(K)), ("lane_last", lambda lanes: K)):
        prog = _prog(Case("MatMul", [a, b]), ("lane_last", b_layout), "lane_last")
        acc = item_accesses(prog)
        want = M * sum(_ceil4(K) + b_fetches(v) for v in blocks)
        assert int((~acc.write).sum()) == want, b_layout  # 80 and 90; without registers 2*M*N*K = 420
        assert int(acc.write.sum()) == prog.global_size[0] * prog.global_size[1]
        assert set(np.unique(acc.nbytes[~acc.write])) == {16}


def test_lanes_run_innermost_in_each_iteration():
    """Output lanes along M, A's lanes along K: each lane needs its own A texel (its row), B's texel is
    shared. Work-item 0 fetches, per block of 4 values of K: A for lane 0, B, then A for lanes 1..3; the
    next 3 values of K come from registers."""
    M, K, N = 5, 8, 8
    case = Case("MatMul", [rand(np.random.default_rng(0), M, K), rand(np.random.default_rng(1), K, N)])
    prog = _prog(case, ("lane_last", "lane_rows"), "lane_rows")
    a_s, b_s, out_s = 1, 2, 0
    want = [(a_s, 0, 0), (b_s, 0, 0), (a_s, 0, 1), (a_s, 0, 2), (a_s, 0, 3),
            (a_s, 1, 0), (b_s, 0, 1), (a_s, 1, 1), (a_s, 1, 2), (a_s, 1, 3)]
    got = item_accesses(prog).of_item(0)
    assert [tuple(r[:3]) for r in got[:-1]] == want
    assert tuple(got[-1]) == (out_s, 0, 0, 1)


def lane_reads(prog, phase, env, storage="fp32", values=None):
    """(read index, read, (x, y)) of every read of ``phase`` that is on for one lane in one iteration
    (``env``), in program order; index reads give their values to the reads that take them."""
    got = {}
    for k, r in enumerate(phase.reads):
        e = dict(env)
        for ix in r.indices:
            e[ix.var.name] = int(index_value(got[ix.value], ix.var.extent))
        on = True
        for let in r.lets:
            e[let.var.name] = int(evaluate(let.expr, e))
            on &= 0 <= e[let.var.name] < let.var.extent
        if not on:
            continue
        s = prog.surfaces[r.surface]
        if any(ix.value == r.value for q in phase.reads for ix in q.indices):
            data = (values or {}).get(s.tensor)
            ext = next(ix.var.extent for q in phase.reads for ix in q.indices if ix.value == r.value)
            data = index_standin(tuple(s.layout.shape), ext) if data is None else np.asarray(data)
            got[r.value] = data[tuple(int(evaluate(c, e)) for c in r.coords)]
        addr = [int(evaluate(c, e)) for c in s.layout.address_exprs(r.coords)]
        yield k, r, ((addr[0], addr[1]) if s.on_image else (addr[0] * ELEM_BYTES[storage], 0))


def _model(prog, storage="fp32", values=None, fetch=None):
    """Plain-Python replay of every work-item: the reference the vectorised generator must equal.
    ``fetch(phase, lanes)`` gives, per phase, a function ``(n, k, lane, surface, key) -> bool``: whether the
    k-th read of the ``n``-th loop iteration fetches; default: one register per read instruction and lane
    (a read fetches unless one of its lanes' registers holds the texel)."""
    width, height = prog.global_size
    lc = prog.lanes
    rows = []
    for gid in range(width * height):
        env0 = {"gx": gid % width, "gy": gid // width}
        lanes = [ln for ln in range(lc.count)
                 if all(int(evaluate(e, {**env0, "lane": ln})) < n for e, n in lc.valid)]
        for phase in lc.phases:
            fetches = (fetch or _registers)(phase, lanes)
            for n, it in enumerate(itertools.product(*(range(v.extent) for v in phase.loops))):
                for ln in lanes:
                    env = {**env0, "lane": ln, **{v.name: i for v, i in zip(phase.loops, it, strict=True)}}
                    for k, r, key in lane_reads(prog, phase, env, storage, values):
                        if fetches(n, k, ln, r.surface, key):
                            rows.append((gid, r.surface, *key, 0))
        out = prog.out_surface
        if out.on_image:
            rows.append((gid, prog.output, env0["gx"], env0["gy"], 1))
        else:
            (off,) = out.layout.address_exprs(buffer_out_coords(prog))
            for ln in lanes:
                rows.append((gid, prog.output, int(evaluate(off, {**env0, "lane": ln})) * ELEM_BYTES[storage], 0, 1))
    return rows


def _registers(phase, lanes):
    regs = {}  # (read index, lane) -> (x, y) it holds

    def fetches(n, k, ln, surface, key):
        hit = key in [regs.get((k, j)) for j in lanes]
        regs[k, ln] = key
        return not hit
    return fetches


@pytest.mark.parametrize("name,ins,out", [
    ("MatMul_batched_bcast", ("nc4hw4", "buffer"), "lane_last"),
    ("Conv_depthwise", ("nchw4c", "buffer"), "nc4hw4"),  # guarded (padded) reads
    ("Softmax_axis1", ("lane_rows",), "buffer"),
    ("Gather_runtime", ("lane_last", "lane_rows"), "nc4hw4"),  # data-dependent reads (the stand-in)
    ("Resize_linear_half_pixel", ("phwc4",), "nc4hw4"),
    ("Add_bcast", ("phwc4", "no_lane"), "no_lane"),  # one lane
])
def test_item_accesses_equal_a_plain_python_model(name, ins, out):
    prog = _prog(CASES[name], ins, out)
    acc = item_accesses(prog)
    got = list(zip(acc.item.tolist(), acc.surface.tolist(), acc.x.tolist(), acc.y.tolist(),
                   acc.write.astype(int).tolist(), strict=True))
    assert got == _model(prog)
    nb = [TEXEL_BYTES["fp32"] if prog.surfaces[s].on_image else ELEM_BYTES["fp32"] for s in acc.surface.tolist()]
    assert acc.nbytes.tolist() == nb
    # program points: strictly increasing inside a work-item
    for gid in np.unique(acc.item)[:8]:
        assert np.all(np.diff(acc.point[acc.item == gid]) > 0)


RECT_CASES = [
    ("MatMul_batched_bcast", ("nc4hw4", "buffer"), "lane_last"),
    ("Conv_depthwise", ("nchw4c", "buffer"), "nc4hw4"),
    ("Softmax_axis1", ("lane_rows",), "buffer"),
    ("Gather_runtime", ("lane_last", "lane_rows"), "nc4hw4"),
    ("Sub", ("lane_last",), "buffer_rev"),
]


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(RECT_CASES), corner=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       size=st.tuples(st.floats(0, 1), st.floats(0, 1)), reuse=st.booleans())
def test_a_rectangle_of_work_items_makes_the_accesses_it_makes_in_the_whole_grid(case, corner, size, reuse):
    """item_accesses(rect=...) (what the sampler traces) = the whole grid's rows of those work-items,
    renumbered within the rectangle, in the same order."""
    name, ins, out = case
    prog = _prog(CASES[name], ins, out, storage="fp16")
    width, height = prog.global_size
    x0, y0 = int(corner[0] * (width - 1)), int(corner[1] * (height - 1))
    w, h = 1 + int(size[0] * (width - x0 - 1)), 1 + int(size[1] * (height - y0 - 1))
    whole = item_accesses(prog, "fp16", texel_reuse=reuse)
    gx, gy = whole.item % width, whole.item // width
    inside = (gx >= x0) & (gx < x0 + w) & (gy >= y0) & (gy < y0 + h)
    part = item_accesses(prog, "fp16", texel_reuse=reuse, rect=(x0, y0, w, h))
    assert np.array_equal(part.item, (gy[inside] - y0) * w + gx[inside] - x0)
    for col in ("point", "surface", "x", "y", "write", "nbytes"):
        assert np.array_equal(getattr(part, col), getattr(whole, col)[inside]), col


def test_a_rectangle_outside_the_grid_is_refused():
    prog = _prog(CASES["Sub"], ("lane_last",), "buffer_rev")
    width, height = prog.global_size
    with pytest.raises(KernelError, match="not a rectangle of work-items"):
        item_accesses(prog, rect=(0, 0, width + 1, height))


def test_buffer_output_writes_every_element_once_at_its_byte_offset():
    prog = _prog(CASES["Sub"], ("lane_last",), "buffer_rev", storage="fp16")
    acc = item_accesses(prog, "fp16")
    w = acc.write
    assert sorted(acc.x[w].tolist()) == list(range(0, 2 * 30, 2))  # 2*3*5 halves
    assert set(acc.nbytes[w].tolist()) == {2}


def test_padded_conv_reads_only_inside_the_input():
    case = CASES["Conv"]
    prog = _prog(case, ("nc4hw4", "buffer"), "nc4hw4")
    acc = item_accesses(prog)
    x_surface = next(i for i, s in enumerate(prog.surfaces) if s.tensor == "in0")
    lay = prog.surfaces[x_surface].layout
    rows = acc.surface == x_surface
    assert acc.x[rows].max() < lay.width and acc.y[rows].max() < lay.height
    # a 3x3 window with pad 1 over 6x7: inside reads = sum over output positions of valid taps
    taps_h = sum(min(h + 1, 5) - max(h - 1, 0) + 1 for h in range(6))
    taps_w = sum(min(w + 1, 6) - max(w - 1, 0) + 1 for w in range(7))
    # output lanes hold M (6 -> 2 texels): the lanes of a work-item share each x texel (x does not depend
    # on M); consecutive iterations move the window, so nothing else is reused; C=5 channels
    assert int(rows.sum()) == 2 * 5 * taps_h * taps_w


@settings(max_examples=25, deadline=None)
@given(cores=st.integers(1, 5), wave=st.integers(1, 40))
def test_schedule_keeps_each_work_items_order_and_every_row(cores, wave):
    prog = _prog(CASES["Softmax_axis1"], ("lane_rows",), "lane_last")
    acc = item_accesses(prog)
    trace = scheduled_trace(acc, prog, cores, wave)
    assert len(trace) == len(acc)
    # rows of one work-item keep their program order: recover by matching (x, y, surface, write) sequences
    lx, ly = prog.local_size
    width = prog.global_size[0]
    gx, gy = acc.item % width, acc.item // width
    group = (gy // ly) * (width // lx) + gx // lx
    assert np.array_equal(np.sort(trace.core), np.sort((group % cores).astype(np.int32)))
    order = np.lexsort(((gy % ly) * lx + gx % lx, acc.point, group % cores,
                        (group // cores) * -(-(lx * ly) // wave) + ((gy % ly) * lx + gx % lx) // wave))
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    for item in np.unique(acc.item)[:20]:
        p = pos[acc.item == item]
        assert np.all(np.diff(p) > 0)
