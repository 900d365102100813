"""Per model and policy: the old and new kernel sums split into Conv kernels, the long reductions, and the
kernels launched alike in both trees (same name and global size: the drift control).
    python3 experiments/results/pocl_conv_tiles/kernel_changes.py"""
import gzip
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAD = re.compile(r"^(\S+)\.onnx\s+policy (\S+)")


def kernels(path):
    out, key = {}, None
    for line in gzip.open(path, "rt"):
        m = HEAD.match(line)
        if m:
            key = m.group(2)
            out[key] = {}
            continue
        parts = line.split()
        if key and len(parts) == 3 and parts[0].startswith("k_"):
            try:
                out[key][(parts[0], parts[1])] = float(parts[2])
            except ValueError:
                pass
    return out


print("| model | policy | conv old -> new (ms) | other kernels old -> new (ms) | same launch in both: new/old |")
print("|---|---|---|---|---|")
for model in ("resnext", "convnext", "regnet"):
    old, new = kernels(HERE / "old" / f"{model}.log.gz"), kernels(HERE / "new" / f"{model}.log.gz")
    for policy in ("naive", "fusion", "smartmem"):
        o, n = old[policy], new[policy]

        def split(d):
            conv = sum(v for (k, _), v in d.items() if "conv" in k.lower())
            return conv / 1e3, (sum(d.values()) / 1e3 - conv / 1e3)
        same = [k for k in o if k in n and "conv" not in k[0].lower()]
        ratio = sum(n[k] for k in same) / sum(o[k] for k in same) if same else float("nan")
        (oc, oo), (nc, no) = split(o), split(n)
        print(f"| {model} | {policy} | {oc:,.0f} -> {nc:,.0f} | {oo:,.0f} -> {no:,.0f} | {ratio:.2f} ({len(same)} kernels) |")
