"""Per model and policy: the kernel-time sums of two `smartmem run` logs (the first of the repeats) and the launch
shapes whose time changed most between them.

    python3 kernel_changes.py old_ad352db.log new_fa8173e.log
"""
import re
import sys
from collections import defaultdict

HEADER = re.compile(r"(\S+)\.onnx\s+policy (\S+)")
KERNEL = re.compile(r"(k_\S+)\s+(\d+x\d+)\s+([\d.]+)\s*$")


def parse(path: str) -> dict:
    """(model, policy) -> kernel name -> [(launch shape, us), ...] in log order."""
    out: dict = {}
    key = None
    for line in open(path):
        m = HEADER.match(line)
        if m:
            key = (m.group(1), m.group(2))
            out.setdefault(key, {})
            continue
        m = KERNEL.match(line)
        if m and key:
            out[key].setdefault(m.group(1), []).append((m.group(2), float(m.group(3))))
    return out


def main() -> None:
    old, new = parse(sys.argv[1]), parse(sys.argv[2])
    for key, kn in new.items():
        ko = old.get(key)
        if ko is None:
            continue
        total_old = sum(v[0][1] for v in ko.values())
        total_new = sum(v[0][1] for v in kn.values())
        print(key, f"first-run sums old {total_old / 1000:.2f} new {total_new / 1000:.2f} ms")
        by_shape = defaultdict(lambda: [0, 0.0, 0.0])  # (old shape, new shape) -> kernels, old us, new us
        for name, runs in kn.items():
            if name in ko:
                (shape_old, us_old), (shape_new, us_new) = ko[name][0], runs[0]
                row = by_shape[(shape_old, shape_new)]
                row[0] += 1
                row[1] += us_old
                row[2] += us_new
        for (so, sn), (k, uo, un) in sorted(by_shape.items(), key=lambda kv: -abs(kv[1][2] - kv[1][1]))[:6]:
            print(f"   {so:>10s} -> {sn:>10s} n={k:3d} old {uo:8.1f} new {un:8.1f} us")


if __name__ == "__main__":
    main()
