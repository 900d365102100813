"""Static shapes for every tensor: onnx.shape_inference first, our own rule where it stops.

Our rule is evaluation: a node whose input shapes are known but whose output shapes onnx could not
infer is run once by onnx's reference evaluator on zero-filled inputs (real values for constants),
and the shapes it produces are recorded. That is exact for every op whose output shape depends only on
input shapes and constant inputs, which is all of them once shape logic has been folded; an op whose
shape depends on activation values (NonZero, data-dependent Reshape) is reported as an error.
"""
from __future__ import annotations

import os
import select
import signal
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend.messages import one_line
from smartmem_sim.compiler.frontend.opset import default_opset
from smartmem_sim.compiler.frontend.skeleton import numel, skeleton
from smartmem_sim.layout.plan import is_stripped_initializer

# Inputs larger than this (elements, summed) are not evaluated by the fallback rule (it would be slow).
_EVAL_MAX_ELEMENTS = 1 << 24

Shape = tuple[int, ...]


def infer(model: onnx.ModelProto) -> dict[str, tuple[Shape | None, int]]:
    """Tensor name -> (static shape or None, ONNX elem type) from onnx's shape inference."""
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton(model), check_type=False, strict_mode=False,
                                                     data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise CompilerError(f"model '{model.graph.name}': onnx shape inference failed: {one_line(exc)}") from None
    out: dict[str, tuple[Shape | None, int]] = {}
    g = inferred.graph
    for t in g.initializer:
        out[t.name] = (tuple(int(d) for d in t.dims), t.data_type)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shape, elem = _static(vi)
        if vi.name not in out or out[vi.name][0] is None:
            out[vi.name] = (shape, elem)
    return out


def check_consistency(model: onnx.ModelProto, name: str) -> None:
    """onnx's strict shape and type inference: an operator whose inputs cannot go together (MatMul inner dims,
    broadcasting, Gemm, Split sizes, attribute values, input types) is a CompilerError naming the node and op.
    Run on the model before folding, with declared output shapes and value_info already dropped (they may be
    stale, which is not an inconsistency of the operators).

    onnx's inference can abort the whole process (a failed C++ assertion: Slice on a negative size, which an
    Expand to a negative shape produces). Shape constants are checked first for a message naming the node;
    as a last guard the inference runs in a forked child where the OS has fork, so a crash becomes a
    CompilerError. Later inference (folding) runs on this graph or a folded copy of it."""
    _check_shape_constants(model, name)
    light = skeleton(model)
    if not hasattr(os, "fork"):
        _strict_inference(light, name)
        return
    _in_child(lambda: _strict_inference(light, name), name)


def _strict_inference(model: onnx.ModelProto, name: str) -> None:
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        text = one_line(exc).replace("[ShapeInferenceError] Inference error(s): ", "")
        raise CompilerError(f"{name}: inconsistent model: {text}; fix that node (its inputs' shapes or types, or "
                            "its attributes) and re-export") from None


# How long the forked inference may take before the guard is given up (inference of the zoo's largest graph
# takes well under a second).
_CHILD_TIMEOUT_S = 120.0


def _in_child(fn, name: str) -> None:
    """Run ``fn`` in a forked child: its CompilerError's message comes back and is raised here; a child killed by
    a signal (onnx's abort) becomes a CompilerError too."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.close(read_end)
            fn()
        except CompilerError as exc:
            os.write(write_end, str(exc).encode("utf-8", "replace")[:65536])
            code = 3
        except BaseException:  # anything else: the parent reruns fn to raise it with its own traceback
            code = 4
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + _CHILD_TIMEOUT_S
    try:
        while (left := deadline - time.monotonic()) > 0 and select.select([read_end], [], [], left)[0]:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        else:  # the child hangs (a lock another thread held at the fork): give up the guard, run it here
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            fn()
            return
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise CompilerError(f"{name}: onnx's shape inference crashed on this model (signal "
                            f"{os.WTERMSIG(status)}: a failed assertion inside onnx, often a negative size computed "
                            "from a shape constant); check the model's shape constants (Expand, Tile, "
                            "ConstantOfShape, Reshape inputs) and re-export")
    code = os.WEXITSTATUS(status)
    if code == 3:
        raise CompilerError(b"".join(chunks).decode("utf-8", "replace"))
    if code != 0:
        fn()  # an unexpected failure: raise it here, where it can be reported


# Ops whose input (by index) is a shape or repeat counts, and the smallest value each element may take
# (Reshape: -1 infers a dim, 0 copies one).
_SHAPE_OPERANDS = {"Expand": (1, 0), "ConstantOfShape": (0, 0), "Tile": (1, 0), "Reshape": (1, -1)}


def _check_shape_constants(model: onnx.ModelProto, name: str) -> None:
    """A constant shape operand below its minimum (a negative size for Expand, ConstantOfShape or Tile, below -1
    for Reshape) is a CompilerError naming the node: onnx's inference would compute a negative dim from it."""
    consts = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = node.attribute[0].t
    for node in model.graph.node:
        spec = _SHAPE_OPERANDS.get(node.op_type)
        if spec is None or len(node.input) <= spec[0] or node.input[spec[0]] not in consts:
            continue
        t = consts[node.input[spec[0]]]
        if t.data_type not in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) or len(t.dims) > 1 \
                or (t.dims and t.dims[0] > 64):
            continue
        try:
            values = numpy_helper.to_array(t).ravel().tolist()
        except Exception:  # data that does not match its dims: limits.check_initializers names it
            continue
        bad = [v for v in values if v < spec[1]]
        if bad:
            raise CompilerError(f"{name}: node '{node.name}' (op {node.op_type}): its shape input "
                                f"'{node.input[spec[0]]}' = {values} holds {bad[0]}; sizes must be >= {spec[1]}; fix "
                                "the constant and re-export")


def check_nodes(model: onnx.ModelProto, known: dict[str, tuple[Shape | None, int]], name: str) -> None:
    """Our checks where onnx's inference is silent (onnx 1.17-1.23; onnxruntime refuses all of these): Conv and
    ConvTranspose ranks, channels and bias, InstanceNormalization's rank and parameters, LayerNormalization's
    parameters, Transpose's perm length, Reshape's element count; and BatchNormalization's rank >= 2, which ONNX
    allows but the kernels do not take."""
    def shape(i: int, node) -> Shape | None:
        return known.get(node.input[i], (None, 0))[0] if len(node.input) > i and node.input[i] else None

    for node in model.graph.node:
        label = f"{name}: node '{node.name}' (op {node.op_type})"
        op = node.op_type
        if op in ("Conv", "ConvTranspose"):
            x, w, b = shape(0, node), shape(1, node), shape(2, node)
            group = _int_attr(node, "group", 1)
            if x is not None and len(x) < 3:
                raise CompilerError(f"{label}: input '{node.input[0]}' {list(x)} has rank {len(x)}; a convolution "
                                    "takes N x C x D1 x ... (rank >= 3); re-export the model")
            if x is None or w is None or len(w) < 2:
                continue
            if len(w) != len(x):
                raise CompilerError(f"{label}: weight '{node.input[1]}' {list(w)} has rank {len(w)} but input "
                                    f"'{node.input[0]}' {list(x)} has rank {len(x)}; re-export the model")
            if group < 1 or (w[0] % group if op == "Conv" else x[1] % group):
                raise CompilerError(f"{label}: group = {group} does not divide the channels; fix the attribute")
            c_in = w[1] * group if op == "Conv" else w[0]
            if x[1] != c_in:
                what = (f"weight {list(w)} takes {w[1]} x group {group} = {c_in}" if op == "Conv"
                        else f"weight {list(w)} takes {w[0]}")
                raise CompilerError(f"{label}: input '{node.input[0]}' {list(x)} has {x[1]} channels but the {what}; "
                                    "the weight does not belong to this input; re-export the model")
            c_out = w[0] if op == "Conv" else w[1] * group
            if b is not None and tuple(b) != (c_out,):
                raise CompilerError(f"{label}: bias '{node.input[2]}' {list(b)} must have shape [{c_out}] (the "
                                    "output channels); re-export the model")
        elif op == "BatchNormalization":
            x = shape(0, node)
            if x is not None and len(x) < 2:
                # legal ONNX (onnxruntime takes it as C = 1), but the kernels index the channel axis (axis 1)
                raise CompilerError(f"{label}: input '{node.input[0]}' {list(x)} has rank {len(x)}; the kernels take "
                                    "batch normalization of N x C x ... (rank >= 2) only; reshape the input to "
                                    "[N, 1] before it and re-export")
        elif op == "InstanceNormalization":
            x = shape(0, node)
            if x is not None and len(x) < 3:
                raise CompilerError(f"{label}: input '{node.input[0]}' {list(x)} has rank {len(x)}; instance "
                                    "normalization takes N x C x D1 x ... (rank >= 3); re-export the model")
            for i in (1, 2):
                p = shape(i, node)
                if x is not None and len(x) >= 2 and p is not None and tuple(p) != (x[1],):
                    raise CompilerError(f"{label}: '{node.input[i]}' {list(p)} must have shape [{x[1]}] (the "
                                        f"channels of '{node.input[0]}' {list(x)}); re-export the model")
        elif op == "LayerNormalization":
            x = shape(0, node)
            if x is None:
                continue
            axis = _int_attr(node, "axis", -1)
            norm = x[axis % len(x):] if x and -len(x) <= axis < len(x) else None
            for i in (1, 2):
                p = shape(i, node)
                if norm is not None and p is not None and not _broadcasts_to(p, norm):
                    raise CompilerError(f"{label}: '{node.input[i]}' {list(p)} does not broadcast to the normalized "
                                        f"shape {list(norm)} of '{node.input[0]}' {list(x)}; re-export the model")
        elif op == "Transpose":
            x = shape(0, node)
            perm = _ints_attr(node, "perm")
            if x is not None and perm is not None and sorted(perm) != list(range(len(x))):
                raise CompilerError(f"{label}: perm {perm} is not a permutation of the {len(x)} axes of "
                                    f"'{node.input[0]}' {list(x)}; fix the attribute and re-export")
        elif op == "Reshape":
            x, out = shape(0, node), known.get(node.output[0], (None, 0))[0]
            if x is not None and out is not None and numel(x) != numel(out):
                raise CompilerError(f"{label}: reshapes '{node.input[0]}' {list(x)} ({numel(x)} elements) to "
                                    f"{list(out)} ({numel(out)} elements); the target shape is wrong; re-export")


def _int_attr(node, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name and a.type == onnx.AttributeProto.INT:
            return int(a.i)
    return default


def _ints_attr(node, name: str) -> list[int] | None:
    for a in node.attribute:
        if a.name == name and a.type == onnx.AttributeProto.INTS:
            return [int(v) for v in a.ints]
    return None


def _broadcasts_to(small: Shape, big: Shape) -> bool:
    """``small`` broadcasts one way onto ``big`` (numpy rules, ``big`` unchanged)."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big), strict=False))


def _static(vi: onnx.ValueInfoProto) -> tuple[Shape | None, int]:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        return None, 0
    if not tt.HasField("shape"):
        return None, tt.elem_type
    dims = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None, tt.elem_type
        dims.append(int(d.dim_value))
    return tuple(dims), tt.elem_type


def complete(model: onnx.ModelProto, known: dict[str, tuple[Shape | None, int]], name: str) -> None:
    """Fill the gaps in ``known`` by evaluating nodes (module docstring); raise naming the first tensor
    whose shape stays unknown."""
    from onnx.reference import ReferenceEvaluator


    inits = {t.name: t for t in model.graph.initializer}
    opset = default_opset(model)
    for node in model.graph.node:
        missing = [o for o in node.output if o and (known.get(o, (None, 0))[0] is None)]
        if not missing:
            continue
        feeds = {}
        ok = True
        # Sizes first, in Python ints: zero-filling an input of 2^40 elements would exhaust memory (or,
        # lazily allocated, pass) before the size test below could skip the node.
        sizes = [numel(known[i][0]) for i in node.input if i and known.get(i, (None, 0))[0] is not None]
        if sum(sizes) > _EVAL_MAX_ELEMENTS:
            continue
        for i in node.input:
            if not i:
                continue
            shape, elem = known.get(i, (None, 0))
            if shape is None:
                ok = False
                break
            init = inits.get(i)

            if init is not None and not is_stripped_initializer(init):
                feeds[i] = numpy_helper.to_array(init)
            else:
                feeds[i] = np.zeros(shape, dtype=helper.tensor_dtype_to_np_dtype(elem))
        if not ok or sum(a.size for a in feeds.values()) > _EVAL_MAX_ELEMENTS:
            continue
        try:
            results = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
        except Exception:  # an op the reference cannot run: leave it to the error below
            continue
        for out_name, value in zip(node.output, results, strict=False):
            if out_name and value is not None:
                arr = np.asarray(value)
                known[out_name] = (tuple(int(d) for d in arr.shape), helper.np_dtype_to_tensor_dtype(arr.dtype))
    producers = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        for o in node.output:
            if o and known.get(o, (None, 0))[0] is None:
                raise CompilerError(
                    f"{name}: cannot infer a static shape for tensor '{o}' written by node "
                    f"'{producers[o].name}' (op {producers[o].op_type}); its shape depends on data or on an "
                    "unsupported op; re-export with static shapes"
                )


def annotate(model: onnx.ModelProto, known: dict[str, tuple[Shape | None, int]]) -> None:
    """Write static shapes into graph outputs and value_info (replacing whatever was there)."""
    g = model.graph
    inputs = {vi.name for vi in g.input}
    inits = {t.name for t in g.initializer}
    outputs = {vi.name for vi in g.output}
    for vi in g.output:
        shape, elem = known[vi.name]
        vi.type.CopyFrom(helper.make_tensor_type_proto(elem or vi.type.tensor_type.elem_type, list(shape)))
    del g.value_info[:]
    for node in g.node:
        for o in node.output:
            if o and o not in outputs and o not in inputs and o not in inits:
                shape, elem = known[o]
                g.value_info.append(helper.make_tensor_value_info(o, elem, list(shape)))
