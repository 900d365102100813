"""Write the example notebooks of this folder (without outputs) from the cells below.

    python examples/make_notebooks.py        # rewrites examples/*.ipynb

The notebooks are generated so that they are reviewed as code and stay reproducible: edit the cells here, run
this script and commit both. tests/test_examples.py executes every notebook with nbclient.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


CACHE_STUDY = [
    md("""
# A cache study on one image layout

memsim walks one 256 x 256 fp16 image (2D texture) on the Adreno 740 profile, row by row and column by column,
once under the device's own image layout (4 x 4 texel tiles) and once under a linear layout, and counts the
hits and misses of every cache level.
"""),
    code("""
%matplotlib inline
import smartmem_sim as sm

prof = sm.load_profile("adreno740")
prof.name
"""),
    md("""
`cache_study` runs every access pattern under every layout on the profile's caches; `to_dict()` holds one row
per layout, pattern and cache level.
"""),
    code("""
study = sm.cache_study("adreno740", 256, 256, patterns=["row", "column"], layouts=["device", "linear"])
rows = study.to_dict()["rows"]
levels = list(dict.fromkeys(r["level"] for r in rows))
misses = {}  # (layout, pattern) -> {level: misses}
for r in rows:
    misses.setdefault((r["layout"], r["pattern"]), {})[r["level"]] = r["misses"]

print(f"{'layout':22s} {'pattern':8s}" + "".join(f"{lv + ' misses':>12s}" for lv in levels))
for (layout, pattern), per_level in misses.items():
    print(f"{layout:22s} {pattern:8s}" + "".join(f"{per_level[lv]:12d}" for lv in levels))
"""),
    md("""
The L1 misses side by side: a linear layout's cache line holds texels of one row, so it is best for row walks
and worst for column walks; the device's 4 x 4 tiles narrow that gap.
"""),
    code("""
from matplotlib.figure import Figure

patterns = list(dict.fromkeys(p for _, p in misses))
layouts = list(dict.fromkeys(lay for lay, _ in misses))
fig = Figure(figsize=(5, 3), layout="constrained")
ax = fig.add_subplot()
width = 0.8 / len(layouts)
for i, layout in enumerate(layouts):
    xs = [j + i * width for j in range(len(patterns))]
    ax.bar(xs, [misses[(layout, p)]["L1"] for p in patterns], width, label=layout)
ax.set_xticks([j + width * (len(layouts) - 1) / 2 for j in range(len(patterns))], patterns)
ax.set_ylabel("L1 misses")
ax.set_title("256 x 256 fp16 image on adreno740")
ax.legend(frameon=False)
fig
"""),
]

COMPARE_POLICIES = [
    md("""
# Compare the policies on a model

The tiny twin of Swin is compiled under each policy (naive, fusion, smartmem, search) and every kernel is
simulated on the Adreno 740 profile with one shared cost model.
"""),
    code("""
%matplotlib inline
import smartmem_sim as sm

cmp = sm.compare("swin", tiny=True, device="adreno740")
cmp
"""),
    md("""
The same numbers as one flat record per policy (`cmp.to_dataframe()` gives a pandas DataFrame when pandas is
installed).
"""),
    code("""
cmp.to_records()
"""),
    md("""
Predicted latency per policy; the hatched part is the time spent in layout transformations, which SmartMem
removes.
"""),
    code("""
cmp.plot()
"""),
    md("""
One policy's result in detail: its ten most expensive kernels.
"""),
    code("""
cmp["smartmem"].plot(top=10)
"""),
    md("""
A single policy with `simulate`: the share of the naive policy's predicted latency that goes to layout
transformations.
"""),
    code("""
res = sm.simulate("swin", policy="naive", tiny=True)
print(res)
print(f"transform share: {res.transform_seconds / res.seconds:.1%}")
"""),
]

CALIBRATE_VALIDATE = [
    md("""
# Calibrate, then validate, on a CPU OpenCL device

The `smartmem` commands run in-process: list the OpenCL devices, calibrate a memsim profile on a CPU OpenCL
device (PoCL) with a small budget, then run the tiny ViT's kernels on that device and compare each measured time
with the calibrated profile's prediction. Every file is written into a fresh temporary directory.
"""),
    code("""
import os
import tempfile

from smartmem_sim.cli import main
from smartmem_sim.kernels.runtime.device import select_device

workdir = tempfile.mkdtemp(prefix="smartmem-calibrate-")
os.chdir(workdir)
workdir
"""),
    md("""
The OpenCL devices and whether each passes the image probe; the first that passes is used below.
"""),
    code("""
assert main(["devices"]) == 0
device = select_device()
assert "CPU" in device.info.device_type, f"this example is sized for a CPU OpenCL device, got {device.info}"
NAME = device.info.device_name.split()[0]
NAME
"""),
    md("""
Calibration measures cache capacities, stream bandwidth and the launch overhead within a 4 s budget and writes
a profile (`cpu.toml`, based on the shipped `pocl_cpu`) with the raw measurements beside it (`cpu.csv`).
"""),
    code("""
rc = main(["calibrate", "--device-name", NAME, "--base", "pocl_cpu", "--name", "cpu", "-o", ".", "--budget-s", "4",
           "--max-steps", "4096", "--stream-ms", "0.5"])
assert rc == 0, "calibrate failed (its error is printed above)"
"""),
    md("""
Validation runs every kernel of the tiny ViT (smartmem policy) on the device once, predicts each with the
calibrated profile and reports the share within +-10% and the rank correlation per operator type.
"""),
    code("""
rc = main(["validate", "--device-name", NAME, "--profile", "cpu.toml", "--models", "vit.tiny", "--policies",
           "smartmem", "--repeat", "1", "--csv", "rows.csv", "--plot", "v.png"])
assert rc == 0, "validate failed (its error is printed above)"
"""),
    md("""
Predicted against measured time, one point per kernel. A 4 s calibration and one repeat give a rough profile:
expect the ranking (Spearman's rho) to hold better than the absolute times.
"""),
    code("""
from IPython.display import Image

Image(filename="v.png")
"""),
]

NOTEBOOKS = {
    "cache_study.ipynb": CACHE_STUDY,
    "compare_policies.ipynb": COMPARE_POLICIES,
    "calibrate_validate.ipynb": CALIBRATE_VALIDATE,
}


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids: regenerating changes nothing unless the cells do
    nbformat.validate(nb)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
