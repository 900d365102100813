"""One-step plans for kernel tests, the layouts they are tried in, and onnxruntime references."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from smartmem_sim.layout.image import BufferLayout, TensorLayout, buffer_layout, image_layout, nc4hw4, nchw4c
from smartmem_sim.layout.maps import IndexMap
from smartmem_sim.layout.plan import Epilogue, Operand, Plan, Step, StoredTensor, identity_operand


def layouts(shape: Sequence[int]) -> dict[str, TensorLayout]:
    """Named layouts of a tensor: peers' presets for rank 4, generic image layouts with the lane on
    different dims (or none), and buffers in natural and reversed order."""
    shape = tuple(shape)
    r = len(shape)
    out: dict[str, TensorLayout] = {}
    if r == 4:
        out["nc4hw4"] = nc4hw4(shape)
        out["phwc4"] = image_layout(shape, width=(3, 0), height=(2, 1), lane=1, name="phwc4")  # NCHW tensor, TFLite's mapping
        out["nchw4c"] = nchw4c(shape)
    if r >= 2:
        out["lane_last"] = image_layout(shape, width=(r - 1,), height=tuple(range(r - 1)), lane=r - 1, name="lane_last")
        out["lane_rows"] = image_layout(shape, width=(r - 1,), height=tuple(range(r - 1)), lane=r - 2, name="lane_rows")
        out["no_lane"] = image_layout(shape, width=(r - 1,), height=tuple(range(r - 1)), lane=None, name="no_lane")
    else:
        out["lane_last"] = image_layout(shape, width=(0,), height=(), lane=0, name="lane_last")
    out["buffer"] = buffer_layout(shape)
    if r >= 2:
        out["buffer_rev"] = buffer_layout(shape, tuple(reversed(range(r))), name="buffer_rev")
    return out


def pick_layout(shape, name: str) -> TensorLayout:
    table = layouts(shape)
    if name in table:
        return table[name]
    return table["lane_last"] if name not in ("buffer", "buffer_rev") else table["buffer"]


@dataclass
class Case:
    """One operator on given inputs, with layouts for every tensor."""

    op_type: str
    inputs: list[np.ndarray]
    attrs: dict = field(default_factory=dict)
    weights: tuple[int, ...] = ()  # input indices passed as (constant) weights
    opset: int = 18
    n_outputs: int = 1
    bools: tuple[int, ...] = ()  # inputs that are bool in ONNX (kernels see them as 0.0/1.0 floats)
    runtime: tuple[int, ...] = ()  # integer inputs fed at run time (graph inputs, not initializers)
    int_outputs: tuple[int, ...] = ()  # outputs that are int64 in ONNX (kernels write them as floats)
    # inputs given as None are omitted optional inputs (ONNX name "")

    def reference(self) -> list[np.ndarray]:
        names = ["" if a is None else f"in{i}" for i, a in enumerate(self.inputs)]
        graph_inputs, inits = [], []
        for i, (n, a) in enumerate(zip(names, self.inputs, strict=True)):
            if a is None:
                continue
            if i in self.runtime:
                graph_inputs.append(helper.make_tensor_value_info(n, onnx.TensorProto.INT64, a.shape))
            elif a.dtype.kind == "i":
                inits.append(onnx.numpy_helper.from_array(a, n))
            else:
                elem = onnx.TensorProto.BOOL if i in self.bools else onnx.TensorProto.FLOAT
                graph_inputs.append(helper.make_tensor_value_info(n, elem, a.shape))
        outs = [helper.make_tensor_value_info(f"y{k}", onnx.TensorProto.INT64 if k in self.int_outputs
                                              else onnx.TensorProto.FLOAT, None) for k in range(self.n_outputs)]
        node = helper.make_node(self.op_type, names, [o.name for o in outs], **self.attrs)
        model = helper.make_model(helper.make_graph([node], "case", graph_inputs, outs, inits),
                                  opset_imports=[helper.make_opsetid("", self.opset)])
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {n: (a != 0 if i in self.bools else a)
                 for i, (n, a) in enumerate(zip(names, self.inputs, strict=True))
                 if a is not None and (a.dtype.kind != "i" or i in self.runtime) and n not in {t.name for t in inits}}
        return [np.asarray(v, np.float32) for v in sess.run(None, feeds)]

    def plan(self, in_layouts: Sequence[str], out_layout: str, storage: str = "fp32",
             out_shapes: Sequence[Sequence[int]] | None = None, maps: Mapping[int, IndexMap] | None = None,
             epilogue: Sequence[Epilogue] = (), extra: Mapping[str, tuple[np.ndarray, TensorLayout]] | None = None
             ) -> tuple[Plan, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """A one-step plan; returns (plan, inputs, weights). ``maps[i]`` reads input i through an index
        map into a stored tensor of the map's dst shape (its value: the input permuted accordingly)."""
        if out_shapes is None:
            out_shapes = [r.shape for r in self.reference()]
        tensors, inputs, weights, operands = {}, {}, {}, []
        for i, a in enumerate(self.inputs):
            if a is None:
                operands.append(None)
                continue
            name = f"in{i}"
            kind = "weight" if (i in self.weights or a.dtype.kind == "i") and i not in self.runtime else "input"
            value = a
            if maps and i in maps:
                m = maps[i]
                value = np.zeros(m.dst_shape, a.dtype)
                value[tuple(m.evaluate_grid())] = a
                operands.append(Operand(name, m))
            else:
                operands.append(identity_operand(name, a.shape))
            lay = buffer_layout(value.shape) if kind == "weight" and a.dtype.kind == "i" else pick_layout(value.shape, in_layouts[i % len(in_layouts)])
            tensors[name] = StoredTensor(name, tuple(value.shape), lay, kind)
            (weights if kind == "weight" else inputs)[name] = value
        for name, (value, lay) in (extra or {}).items():
            tensors[name] = StoredTensor(name, tuple(value.shape), lay, "weight")
            weights[name] = value
        outs = []
        for k, s in enumerate(out_shapes):
            tensors[f"y{k}"] = StoredTensor(f"y{k}", tuple(s), pick_layout(s, out_layout), "output")
            outs.append(f"y{k}")
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self.attrs.items()}
        step = Step("s0", self.op_type, ("n0",), tuple(operands), tuple(outs), attrs, epilogue=tuple(epilogue))
        plan = Plan("case", "test", storage, tensors, [step], [n for n in tensors if tensors[n].kind == "input"], outs)
        return plan, inputs, weights


def rand(rng, *shape, lo=-1.0, hi=1.0) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def is_buffer(lay: TensorLayout) -> bool:
    return isinstance(lay, BufferLayout)
