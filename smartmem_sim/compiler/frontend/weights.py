"""Fill stripped (structure-only) weights with deterministic random values so a model runs."""
from __future__ import annotations

import zlib

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.frontend.clean import WEIGHTS_KEY
from smartmem_sim.compiler.frontend.limits import check_initializers
from smartmem_sim.compiler.frontend.messages import check_text_fields, single_line_errors
from smartmem_sim.compiler.ir import is_stripped_initializer

# Standard deviation of generated float weights: small, as in BERT's init, so deep stacks stay finite.
WEIGHT_STD = 0.02


@single_line_errors
def materialize_weights(model: onnx.ModelProto, seed: int, name: str | None = None) -> onnx.ModelProto:
    """A copy of ``model`` whose stripped float initializers hold ``normal(0, WEIGHT_STD)`` values
    drawn from a generator seeded by (``seed``, the tensor's name), so the result does not depend on
    initializer order. BatchNormalization variances get ``1 + |normal|`` (a variance must be positive).
    A stripped integer or bool initializer is an error: those are indices or shapes, which must ship.
    The metadata key ``smartmem.weights`` becomes ``materialized``.

    Every initializer is first checked against the size limits (frontend/limits.py; ``name`` labels the
    errors, default the graph's name): filling runs before load_model's checks, and a weight declared with
    negative or huge dims must fail naming it, not in numpy.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise CompilerError(f"materialize_weights: seed must be an int, got {seed!r}")
    if not isinstance(model, onnx.ModelProto):
        raise CompilerError(f"materialize_weights needs an onnx.ModelProto, got {type(model).__name__}")
    label = name or "model"
    check_text_fields(model, label)
    check_initializers(model, label)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    variances = {n.input[4] for n in out.graph.node if n.op_type == "BatchNormalization" and len(n.input) > 4}
    for i, t in enumerate(out.graph.initializer):
        if not is_stripped_initializer(t):
            continue
        dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        if not np.issubdtype(dtype, np.floating):
            raise CompilerError(
                f"initializer '{t.name}' ({dtype}) is stripped, but integer and bool tensors are indices or "
                "shapes and must keep their data; re-export without stripping them"
            )
        rng = np.random.default_rng([int(seed), zlib.crc32(t.name.encode())])
        values = rng.standard_normal(tuple(t.dims)) * WEIGHT_STD
        if t.name in variances:
            values = 1.0 + np.abs(values)
        filled = numpy_helper.from_array(values.astype(dtype), t.name)
        out.graph.initializer[i].CopyFrom(filled)
    for p in out.metadata_props:
        if p.key == WEIGHTS_KEY:
            p.value = "materialized"
    return out
