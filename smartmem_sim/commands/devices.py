"""`smartmem devices [--json]`: every OpenCL platform and device, and whether it can run our kernels.

Each device builds and runs the image probe kernel (smartmem_sim.kernels.runtime.device); the table shows the
result, image support, the largest image2d, and fp16: half *images* (CL_HALF_FLOAT storage, what
fp16 models use) and cl_khr_fp16 (half arithmetic, which no device we have offers).
Exit status 0 when at least one device works, 1 when none does (the table says why).
"""
from __future__ import annotations

import argparse
import sys

from smartmem_sim import jsonout


def register(subparsers) -> None:
    p = subparsers.add_parser("devices", help="list OpenCL devices and probe each one",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def _rows(results) -> list[list[str]]:
    rows = [["platform", "device", "type", "probe", "max image2d (texels)", "half images", "cl_khr_fp16"]]
    for r in results:
        info = r.info
        size = f"{info.image2d_max_width} x {info.image2d_max_height}" if info and info.image_support else "no images"
        rows.append([
            r.platform_name, r.device_name, info.device_type if info else "?",
            "ok" if r.ok else "FAILED", size,
            "yes" if r.half_images_ok else ("listed" if info and info.half_image_format else "no"),
            "yes" if info and info.fp16_arithmetic else "no",
        ])
    return rows


def run(args: argparse.Namespace) -> int:
    from smartmem_sim.kernels.runtime.device import INSTALL_HINT, probe_all
    from smartmem_sim.kernels.runtime.oclgrind import find_oclgrind_icd

    results = probe_all()
    icd = find_oclgrind_icd()
    if args.json:
        doc = {"devices": [r.to_dict() for r in results], "oclgrind_icd": icd}
        print(jsonout.dumps(jsonout.report("devices", doc), indent=1))
    else:
        from smartmem_sim.tables import print_table

        if results:
            head, *rows = _rows(results)
            print_table(head, rows, left=5)
        for r in results:
            if not r.ok:
                print(f"  {r.platform_name} / {r.device_name}: {r.reason}")
        if not results:
            print(f"no OpenCL platform found. {INSTALL_HINT}")
        listed = any("oclgrind" in r.platform_name.lower() for r in results)
        print(f"oclgrind ICD: {icd or 'not installed (apt-get install oclgrind)'}"
              + (" (smartmem_sim.kernels.runtime.oclgrind runs it in a subprocess)" if icd and not listed else ""))
    if not any(r.ok for r in results):
        print(f"smartmem devices: no OpenCL device passed the probe. {INSTALL_HINT}", file=sys.stderr)
        return 1
    return 0
