"""Front-end speed: export a full-size Swin-T-like model (224x224, dim 96, window 7) with torch's legacy
exporter, then time smartmem_sim.compiler.frontend.load_model (fold shape logic, infer shapes, build the IR).

Run: .venv/bin/python benchmarks/bench_frontend.py   (needs the [zoo] extra: torch)
"""
from __future__ import annotations

import io
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere; tests/ holds the model

import onnx  # noqa: E402
import torch  # noqa: E402

from smartmem_sim.compiler.analysis import summarize  # noqa: E402
from smartmem_sim.compiler.frontend import load_model  # noqa: E402
from tests.torch_models import SwinLike  # noqa: E402


def main() -> int:
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    model = SwinLike(img=224, patch=4, dim=96, window=7, heads=3, classes=1000).eval()
    x = torch.randn(1, 3, 224, 224)
    buf = io.BytesIO()
    t = time.perf_counter()
    torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
                      opset_version=17)
    print(f"export {time.perf_counter() - t:.1f} s")
    proto = onnx.load_from_string(buf.getvalue())
    t = time.perf_counter()
    graph = load_model(proto, {"batch": 1})
    print(f"load_model {time.perf_counter() - t:.2f} s: {len(proto.graph.node)} -> {len(graph)} nodes")
    s = summarize(graph)
    print("layout transforms", s["layout_transforms"]["total"], s["layout_transforms"]["by_op"],
          "params", s["parameters"], "MACs", s["macs"]["total"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
