"""naive: how MNN's OpenCL backend (image mode, the mode it uses on Adreno) executes what the plan copies.

Rules and sources (docs/BASELINES.md; MNN at commit 4d40bdbd):

* Raster (docs/BASELINES.md, naive rules 4 and 5; source/backend/opencl/execution/image/RasterExecution.cpp).
  A layout operator, or a conversion between layouts, is a Raster. Its *fast path* (l.40-143: every source and
  the output NC4HW4, nothing moved across the channel axis, OpCommonUtils::canBlitFast) is one image-to-image
  copy, one work-item per texel: our single COPY step. Otherwise, the *slow path* (l.145-401) goes through
  linear buffers in three launches: ``image_to_nchw_buffer`` (buffer_to_image.cl), ``raster_buffer`` (the
  element gather, raster.cl) and ``nchw_buffer_to_image``. Every Transpose/Reshape of a transformer's
  attention touches an NCHW-format tensor in MNN (AddTensorFormatConverter.cpp), so it takes the slow path.
* Batched MatMul (naive rule 9; source/geometry/GeometryBatchMatMul.cpp, execution/image/LoopExecution.cpp
  l.213-250 and l.443-521): each input image is first copied to a buffer (``tile``), ``batch_matmul`` runs
  over buffers computing a block of outputs per work-item, and ``pack`` copies the result back to an image.

Approximations, stated: our buffer kernels compute four consecutive elements per work-item (MNN's
``raster_buffer`` one element, its conversions one texel), so the bytes moved and the launches match MNN and
the work-item grain does not; ``batch_matmul``'s 4x4 output block becomes our buffer tile of 4 texels of one
row (16 outputs). Chains of layout operators are merged into one Raster in the elimination pass (rule 3).
"""
from __future__ import annotations

from dataclasses import replace

from smartmem_sim.compiler.passes.layouts import _copy_step
from smartmem_sim.layout.expr import Var
from smartmem_sim.layout.image import BufferLayout, ImageLayout
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.plan import COPY, Operand, Plan, Step, StoredTensor

SOURCE = "docs/BASELINES.md"
RASTER_SLOW = ("naive (MNN-like Raster, slow path: image -> NCHW buffer -> element gather -> image, 3 launches; "
               "MNN source/backend/opencl/execution/image/RasterExecution.cpp l.145-401, " + SOURCE + " naive rule 5)")
BATCHED_MATMUL = ("naive (MNN-like batched MatMul: inputs tiled into buffers, batch_matmul over buffers, result "
                  "packed into an image; MNN execution/image/LoopExecution.cpp l.213-250, 443-521, "
                  + SOURCE + " naive rule 9)")
BATCH_MATMUL_TILE = (4, 1)  # texels of one buffer row per work-item: 16 outputs, as MNN's 4x4 block


def _channel_kept(op: Operand, src: StoredTensor, out: StoredTensor) -> bool:
    """MNN's fast-path test: both NC4HW4 (channels in the lanes) and the copy does not move data across the
    channel axis (output channel c reads input channel c)."""
    for t in (src, out):
        if not isinstance(t.layout, ImageLayout) or len(t.shape) != 4 or t.layout.lane_dim != 1:
            return False
    if src.shape[1] != out.shape[1]:
        return False
    expr = op.index_map.exprs[1]
    return isinstance(expr, Var) and expr.name == op.index_map.variables[1].name


def _nchw(like: StoredTensor) -> BufferLayout:
    return BufferLayout(tuple(like.shape), None, "nchw_buffer")


def _buffer(plan: Plan, like: StoredTensor, name: str) -> str:
    plan.tensors[name] = StoredTensor(name, like.shape, _nchw(like), "intermediate", like.dtype, like.source or like.name)
    return name


def _to_image(plan: Plan, sid: str, buf: str, image: str, reason: str) -> Step:
    t = plan.tensors[image]
    return Step(sid, COPY, (), (Operand(buf, IndexMap.identity(t.shape)),), (image,), reason=reason)


def _to_buffer(plan: Plan, sid: str, image: str, reason: str) -> tuple[str, Step]:
    """MNN converts a Raster's source for that Raster alone, so each copy gets a buffer named by its step."""
    t = plan.tensors[image]
    return _copy_step(plan, t, _nchw(t), reason, name=f"{sid}:{image}@nchw", step_id=sid)


def raster_copies(plan: Plan) -> dict[tuple[str, str], str]:
    """Every COPY between images that MNN cannot blit takes the three-launch slow path; returns notes."""
    steps: list[Step] = []
    notes: dict[tuple[str, str], str] = {}
    for step in plan.steps:
        if step.op_type != COPY or len(step.inputs) != 1 or len(step.outputs) != 1:
            steps.append(step)
            continue
        op, out_name = step.inputs[0], step.outputs[0]
        src, out = plan.tensors[op.tensor], plan.tensors[out_name]
        if not (src.on_image and out.on_image) or _channel_kept(op, src, out):
            steps.append(step)
            continue
        reason = f"{step.reason}; {RASTER_SLOW}" if step.reason else RASTER_SLOW
        src_buf, first = _to_buffer(plan, f"{step.id}/image_to_nchw_buffer", op.tensor, reason)
        out_buf = _buffer(plan, out, f"{step.id}:{out_name}@nchw")
        gather = replace(step, id=f"{step.id}/raster_buffer", inputs=(replace(op, tensor=src_buf),),
                         outputs=(out_buf,), reason=reason)
        steps += [first, gather, _to_image(plan, f"{step.id}/nchw_buffer_to_image", out_buf, out_name, reason)]
        notes[(step.id, out_name)] = reason
    plan.steps = steps
    return notes


def batched_matmuls(plan: Plan) -> dict[tuple[str, str], str]:
    """MatMuls of two computed operands with batch dims run over buffers, tiled, between copies."""
    steps: list[Step] = []
    notes: dict[tuple[str, str], str] = {}
    for step in plan.steps:
        ins = [plan.tensors[o.tensor] for o in step.inputs if o is not None]
        out = plan.tensors[step.outputs[0]] if step.outputs else None
        batched = (step.op_type == "MatMul" and len(ins) == 2 and out is not None and len(out.shape) > 2
                   and all(t.kind != "weight" for t in ins))
        if not batched or not out.on_image:
            steps.append(step)
            continue
        inputs = list(step.inputs)
        for pos, op in enumerate(step.inputs):
            if op is not None and plan.tensors[op.tensor].on_image:
                buf, tile = _to_buffer(plan, f"{step.id}/tile{pos}", op.tensor, BATCHED_MATMUL)
                steps.append(tile)
                inputs[pos] = replace(op, tensor=buf)
        out_buf = _buffer(plan, out, f"{step.id}:{out.name}@nchw")
        steps.append(replace(step, inputs=tuple(inputs), outputs=(out_buf,), tile=BATCH_MATMUL_TILE,
                             reason=f"{step.reason}; {BATCHED_MATMUL}" if step.reason else BATCHED_MATMUL))
        steps.append(_to_image(plan, f"{step.id}/pack", out_buf, out.name, BATCHED_MATMUL))
        notes[(step.id, out.name)] = BATCHED_MATMUL
    plan.steps = steps
    return notes
