"""Hypothesis strategies for malformed (and well-formed) ONNX models: byte mutations of a valid model, and
small graphs built op by op with shapes, weights and attributes that are sometimes consistent and sometimes
not (wrong channels, inner dims, broadcasts, zero, negative and huge dims, bad attribute types and values,
unknown ops and domains, dangling inputs)."""
from __future__ import annotations

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
F = TensorProto.FLOAT


def base_model() -> onnx.ModelProto:
    """A valid model touching the op families the compiler knows: Conv, Reshape, Transpose, MatMul, Add, Softmax."""
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", F, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", F, [1, 64, 8])
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w", (4, 3, 3, 3)), ("w2", (4, 8)), ("b", (8,)))]
    inits.append(numpy_helper.from_array(np.array([1, 4, 64], np.int64), "shape"))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["rs"], name="reshape"),
             helper.make_node("Transpose", ["rs"], ["t"], name="transpose", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["t", "w2"], ["m"], name="matmul"),
             helper.make_node("Add", ["m", "b"], ["a"], name="add"),
             helper.make_node("Softmax", ["a"], ["y"], name="softmax", axis=-1)]
    g = helper.make_graph(nodes, "base", [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    return m


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    """``data`` after 1-4 edits: flip, set, delete or duplicate a range, insert random bytes, truncate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        kind = draw(st.sampled_from(["flip", "set", "delete", "dup", "insert", "truncate"]))
        i = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            out[i] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x08, 0x10, 0x12, 0x1A, 0x22, 0x3A]))
        elif kind == "delete":
            del out[i:i + draw(st.integers(1, 16))]
        elif kind == "dup":
            n = draw(st.integers(1, 32))
            out[i:i] = out[i:i + n]
        elif kind == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[i:]
    return bytes(out)


# Dims: mostly small, sometimes the special sizes the contract is about
SMALL = st.sampled_from([1, 2, 3, 4, 8])
SPECIAL = st.sampled_from([0, -1, -7, 2**31, 2**40, 2**62])
DIM = st.one_of(SMALL, SMALL, SMALL, SMALL, SMALL, SPECIAL)

UNARY = ["Relu", "Sigmoid", "Softmax", "Transpose", "Reshape", "Slice", "Expand", "Flatten", "ReduceMean"]
BINARY = ["Add", "Mul", "MatMul", "Gemm", "Conv", "Concat", "LayerNormalization", "InstanceNormalization",
          "BatchNormalization"]
WEIRD = ["FooBar", "com.microsoft:FusedConv", "Identity", "Dropout", "If", ""]

BAD_ATTR = st.one_of(st.integers(-5, 5), st.sampled_from([2**40, -(2**40)]), st.floats(allow_nan=True),
                     st.text(max_size=4), st.lists(st.integers(-3, 5), max_size=5))


def _current_shape(model: onnx.ModelProto, name: str):
    for vi in model.graph.input:  # onnx's Slice inference aborts the process on a negative dim
        if any(d.HasField("dim_value") and d.dim_value < 0 for d in vi.type.tensor_type.shape.dim):
            return None
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        return None
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            return None if None in dims else dims
    return None


def _weight_shape(draw, shape, role, clean=False):
    """A weight's shape: consistent with ``shape`` most of the time (always when ``clean``), otherwise drawn freely."""
    if shape is None or (not clean and draw(st.integers(0, 4)) == 0):
        return draw(st.lists(DIM, min_size=1, max_size=4))
    rank = len(shape)
    if role == "broadcast":
        return draw(st.sampled_from([[1], [shape[-1]] if rank else [1], list(shape)]))
    if role == "matmul":
        return [shape[-1] if rank else 1, draw(SMALL)]
    if role == "gemm":
        return [shape[-1] if rank else 1, draw(SMALL)]
    if role == "conv":
        c = shape[1] if rank >= 2 else 1
        k = draw(st.sampled_from([1, 3]))
        return [draw(SMALL), c] + [k] * max(rank - 2, 1)
    if role == "channels":
        return [shape[1] if rank >= 2 else 1]
    if role == "last":
        return [shape[-1] if rank else 1]
    return list(shape)


def _init(name, dims, dtype=np.float32):
    dims = [int(d) for d in dims]
    if all(0 <= d <= 64 for d in dims) and int(np.prod(dims)) <= 4096:
        return numpy_helper.from_array(np.full(dims, 0.5, dtype), name)
    t = onnx.TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
    t.dims.extend(dims)  # no data: a stripped weight (the model is marked structure-only below)
    return t


@st.composite
def graphs(draw):
    """(model, symbolic dim names): a chain of 1-4 nodes on one input, with weights and attributes. Half the
    cases are 'clean' (small dims, weights shaped to fit, no corrupted attributes, no odd ops), so that many
    are valid and the accepted ones meet the onnxruntime referee; the rest mix in every kind of damage."""
    clean = draw(st.booleans())
    rank = draw(st.integers(1, 4))
    dims = draw(st.lists(SMALL if clean else DIM, min_size=rank, max_size=rank))
    symbolic = []
    if draw(st.booleans()) and draw(st.booleans()):
        dims[0] = "n"
        symbolic.append("n")
    x = helper.make_tensor_value_info("x", F, dims)
    nodes, inits = [], []
    current = "x"
    n_ops = draw(st.integers(1, 4))
    model = None
    for i in range(n_ops):
        partial = helper.make_model(helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(current, F, None)],
                                                      inits), opset_imports=[helper.make_opsetid("", OPSET)])
        shape = _current_shape(partial, current) if nodes else ([d for d in dims] if "n" not in dims else None)
        if shape is not None and any(not isinstance(d, int) or d < 0 or d > 4096 for d in shape):
            shape = None
        op = draw(st.sampled_from(UNARY + BINARY + (WEIRD if not clean and draw(st.integers(0, 5)) == 0 else [])))
        out = f"t{i}"
        name = f"n{i}_{op.split(':')[-1] or 'empty'}"
        domain = ""
        if ":" in op:
            domain, op = op.split(":")
        ins, attrs = [current], {}
        if op in ("Add", "Mul"):
            w = f"w{i}"
            inits.append(_init(w, _weight_shape(draw, shape, "broadcast", clean)))
            ins.append(w)
        elif op == "MatMul":
            inits.append(_init(f"w{i}", _weight_shape(draw, shape, "matmul", clean)))
            ins.append(f"w{i}")
        elif op == "Gemm":
            inits.append(_init(f"w{i}", _weight_shape(draw, shape, "gemm", clean)))
            ins.append(f"w{i}")
        elif op == "Conv":
            inits.append(_init(f"w{i}", _weight_shape(draw, shape, "conv", clean)))
            ins.append(f"w{i}")
            if draw(st.booleans()):
                attrs["pads"] = [1] * (2 * max((len(shape) if shape else 4) - 2, 1))
        elif op == "Concat":
            inits.append(_init(f"w{i}", _weight_shape(draw, shape, "same", clean)))
            ins.append(f"w{i}")
            attrs["axis"] = draw(st.integers(-2, 3))
        elif op in ("LayerNormalization",):
            for j in range(2):
                inits.append(_init(f"w{i}_{j}", _weight_shape(draw, shape, "last", clean)))
                ins.append(f"w{i}_{j}")
        elif op in ("InstanceNormalization", "BatchNormalization"):
            for j in range(2 if op == "InstanceNormalization" else 4):
                inits.append(_init(f"w{i}_{j}", _weight_shape(draw, shape, "channels", clean)))
                ins.append(f"w{i}_{j}")
        elif op == "Transpose":
            r = len(shape) if shape else rank
            attrs["perm"] = draw(st.one_of(st.permutations(list(range(r))), st.lists(st.integers(-1, r), max_size=r + 1)))
        elif op == "Reshape":
            target = draw(st.one_of(st.just([-1]), st.lists(st.sampled_from([-1, 0, 1, 2, 4, 8, 2**40]), min_size=1,
                                                             max_size=4)))
            inits.append(numpy_helper.from_array(np.array(target, np.int64), f"s{i}"))
            ins.append(f"s{i}")
        elif op == "Expand":
            target = draw(st.lists(st.sampled_from([1, 2, 4, 0, -1, 2**20, 2**40]), min_size=1, max_size=4))
            inits.append(numpy_helper.from_array(np.array(target, np.int64), f"s{i}"))
            ins.append(f"s{i}")
        elif op == "Slice":
            for j, v in enumerate((draw(st.integers(-3, 3)), draw(st.integers(-3, 8)))):
                inits.append(numpy_helper.from_array(np.array([v], np.int64), f"s{i}_{j}"))
                ins.append(f"s{i}_{j}")
        elif op in ("Softmax", "Flatten"):
            attrs["axis"] = draw(st.integers(-2, 3))
        elif op == "ReduceMean":
            attrs["axes"] = draw(st.lists(st.integers(-3, 3), max_size=2))
        elif op == "Dropout":
            pass
        if not clean and draw(st.integers(0, 5)) == 0:  # a corrupted or unknown attribute
            key = draw(st.sampled_from(["axis", "perm", "pads", "group", "kernel_shape", "epsilon", "nonsense"]))
            attrs[key] = draw(BAD_ATTR)
        if not clean and draw(st.integers(0, 12)) == 0:  # an input nothing produces
            ins.append("dangling")
        try:
            node = helper.make_node(op, ins, [out], name=name, domain=domain or None, **attrs)
        except Exception:
            node = helper.make_node(op, ins, [out], name=name, domain=domain or None)
        nodes.append(node)
        current = out
    y = helper.make_tensor_value_info(current, F, None)
    g = helper.make_graph(nodes, "fuzz", [x], [y], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    helper.set_model_props(model, {"smartmem.weights": "stripped"})
    return model, symbolic
