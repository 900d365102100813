"""The renderer without a device: what the source text must contain."""
from __future__ import annotations

import re

import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.library import step_kernels
from smartmem_sim.kernels.render.opencl import render
from tests.kernels.ops.catalogue import cases

CASES = cases()


def _kernel(name, ins, out, storage="fp32"):
    case = CASES[name]
    plan, _, weights = case.plan(ins, out, storage=storage, out_shapes=[r.shape for r in case.reference()])
    return step_kernels(plan, plan.steps[0], weights)[0]


def test_every_access_goes_through_the_instrumentation_macros():
    src = _kernel("Conv", ("nc4hw4", "buffer"), "phwc4").source
    body = src[src.index("__kernel void"):]
    assert "CLK_ADDRESS_CLAMP_TO_EDGE" in src
    # layouts cycle over the inputs: x and bias on images, w in a buffer; each read once per lane (4)
    assert body.count("SM_READ_IMAGEF(") == 2 * 4 and body.count("SM_LOAD(") == 4
    assert body.count("SM_WRITE_IMAGEF(") == 1
    assert not re.search(r"(?<!SM_)read_imagef\(|(?<!SM_)write_imagef\(", body)
    assert "SM_LOG_PARAMS" in body


def test_padded_reads_are_guarded():
    src = _kernel("Conv", ("nc4hw4", "buffer"), "nc4hw4").source
    assert re.search(r"if \(q\d+ >= 0 && q\d+ < 6 && q\d+ >= 0 && q\d+ < 7\)", src)


def test_fp16_buffers_use_vload_half_and_images_stay_float4():
    k = _kernel("Add_bcast", ("nc4hw4", "buffer"), "buffer", storage="fp16")
    assert "__global const half*" in k.source and "SM_LOAD_HALF(" in k.source and "SM_STORE_HALF(" in k.source
    assert "read_imageh" not in k.source and "SM_READ_IMAGEF(" in k.source


def test_lanes_are_unrolled_inside_the_loop_and_padding_lanes_guarded():
    k = _kernel("Add_bcast", ("nc4hw4", "buffer"), "nc4hw4")  # 6 channels: lanes 2, 3 of the 2nd texel are padding
    assert "for (int lane" not in k.source
    for lane in (2, 3):
        assert re.search(rf"const int sm_valid_l{lane} = .*< 6;", k.source)
        assert f"if (sm_valid_l{lane}) {{" in k.source  # its reads
        assert re.search(rf"const float sm_r_l{lane} = sm_valid_l{lane} \? .* : 0.0f;", k.source)
    assert "sm_valid_l0" not in k.source  # lane 0 is always real


def test_reduction_loop_holds_every_lane_and_one_register_per_lane():
    src = _kernel("MatMul", ("lane_last", "lane_rows"), "lane_last").source
    body = src[src.index("__kernel void"):]
    loop = body[body.index("for (int k"):]
    for lane in range(4):
        assert f"acc4_l{lane} += a2_l{lane}*b3_l{lane};" in loop  # per-lane copies of the C code
        assert f"float4 sm_reg_b3_l{lane} = (float4)(0.0f); int2 sm_at_b3_l{lane} = (int2)(-1, -1);" in body
    # a fetch happens only when no register of the instruction holds the texel
    assert re.search(r"if \(!\(sm_p.x == sm_at_a2_l0.x && sm_p.y == sm_at_a2_l0.y\)\) \{", loop)


def test_helpers_named_by_a_per_lane_variable_are_refused():
    from smartmem_sim.kernels.ops.context import BODIES, register
    from smartmem_sim.kernels.ops.program import Phase

    case = CASES["Relu"]
    plan, _, weights = case.plan(("lane_last",), "lane_last", out_shapes=[r.shape for r in case.reference()])
    original = BODIES["Relu"]

    def clashing(ctx, out):
        r = ctx.read(0, out)
        tab = ctx.fresh("tab")
        ctx.add_helper(f"__constant float {tab}[1] = {{1.0f}};")
        return [Phase(reads=(r,))], f"{r.value}*{tab}[0]"

    try:
        register("Relu")(clashing)
        with pytest.raises(KernelError, match="per-lane"):
            step_kernels(plan, plan.steps[0], weights)
    finally:
        BODIES["Relu"] = original


def test_render_is_deterministic_and_checks_storage():
    k = _kernel("Softmax", ("lane_last",), "lane_last")
    assert render(k.program, "fp32") == render(k.program, "fp32")
    with pytest.raises(KernelError, match="storage"):
        render(k.program, "fp64")


def _lanes_k_matmul(tile, reuse):
    """The source of MatMul [7,12] x [12,18] with A's K in the RGBA lanes (test_tiled_matmul's mm_lanesN) at
    ``tile``."""
    from tests.kernels.test_tiled_matmul import _plan

    _, plan, _, weights = _plan("mm_lanesN", tile)
    return step_kernels(plan, plan.steps[0], weights, texel_reuse=reuse)[0].source


@pytest.mark.parametrize("tile", [(1, 1), (2, 2)])
def test_a_loop_that_picks_the_component_runs_as_unrolled_quads(tile):
    # K = 12 in lanes: k's loop runs as 3 quads of 4 unrolled copies, each copy taking a constant component
    for reuse in (True, False):
        src = _lanes_k_matmul(tile, reuse)
        quad = re.search(r"for \(int (\w+)_q = 0; \1_q < 3; \+\+\1_q\)", src)
        assert quad, src
        k = quad.group(1)
        assert "#pragma unroll\n" in src and f"for (int {k}_r = 0; {k}_r < 4; ++{k}_r)" in src
        assert f"const int {k} = {k}_q*4 + {k}_r;" in src


def test_texel_registers_fetch_a_quads_texel_once_before_its_copies():
    # tiled with registers: A's texel (K/4, row) is the same for the quad's 4 copies, so its group fetches sit
    # between the quad loop and the unrolled loop; without registers every copy fetches (as the trace counts)
    with_regs = _lanes_k_matmul((2, 2), True)
    k = re.search(r"for \(int (\w+)_q = 0;", with_regs).group(1)
    before_copies = with_regs[with_regs.index(f"{k}_q = 0;"):with_regs.index("#pragma unroll")]
    assert f"const int {k} = {k}_q*4;" in before_copies and "SM_READ_IMAGEF(" in before_copies
    without = _lanes_k_matmul((2, 2), False)
    before = without[without.index(f"{k}_q = 0;"):without.index("#pragma unroll")]
    assert "SM_READ_IMAGEF(" not in before


def test_a_loop_whose_trip_count_is_not_a_multiple_of_four_stays_whole():
    from tests.kernels.test_tiled_matmul import _plan

    _, plan, _, weights = _plan("mm_lanesK", (2, 2))  # K = 13
    src = step_kernels(plan, plan.steps[0], weights)[0].source
    assert "#pragma unroll" not in src


def test_a_tiled_slot_takes_an_unguarded_value_without_a_test():
    # MatMul's reads have no padded coordinate: each slot's operand is its group's texel component, no if;
    # the trace and onnxruntime tests of test_tiled_matmul run these kernels (edge slots included: 7 rows, 2x2)
    for reuse in (True, False):
        src = _lanes_k_matmul((2, 2), reuse)
        assert re.search(r"float (\w+) = sm_reg_\w+_g\d+\.[xyzw]; int ok_\1 = 1;", src), src
        assert not re.search(r"if \(sm_valid_l\d+ && sm_ok_", src)
