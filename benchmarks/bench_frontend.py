"""Clean time and node counts of a full-size Swin-T-like stage (224x224, dim 96, window 7), legacy export."""
import io, sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, '.')
import torch, onnx
from tests.torch_models import SwinLike
from compiler.frontend import load_model
from compiler.analysis import summarize
torch.manual_seed(0)
m = SwinLike(img=224, patch=4, dim=96, window=7, heads=3, classes=1000).eval()
x = torch.randn(1, 3, 224, 224)
buf = io.BytesIO()
t = time.time(); torch.onnx.export(m, (x,), buf, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}}, opset_version=17)
print(f"export {time.time()-t:.1f}s")
proto = onnx.load_from_string(buf.getvalue())
t = time.time(); g = load_model(proto, {"batch": 1}); print(f"load_model {time.time()-t:.2f}s: {len(proto.graph.node)} -> {len(g)} nodes")
s = summarize(g); print("layout transforms", s["layout_transforms"]["total"], s["layout_transforms"]["by_op"], "params", s["parameters"], "MACs", s["macs"]["total"])
