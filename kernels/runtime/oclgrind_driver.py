"""Subprocess side of kernels.runtime.oclgrind.run_under_oclgrind: build and launch one kernel on
the oclgrind device, then save every image/buffer argument.

Usage: python -m kernels.runtime.oclgrind_driver FOLDER (FOLDER holds kernel.cl, spec.json and
inputs.npz; outputs.npz, or error.txt for a KernelError, is written there). Not for direct use.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyopencl as cl

from kernels.errors import KernelError
from kernels.runtime.device import _list_devices, open_device
from kernels.runtime.launch import build_program, launch
from kernels.runtime.memory import buffer_from_array, create_buffer, create_image, image_from_array


def main(folder: str) -> int:
    tmp = Path(folder)
    spec = json.loads((tmp / "spec.json").read_text())
    source = (tmp / "kernel.cl").read_text()
    devices = [(p, d) for p, d in _list_devices() if "oclgrind" in p.name.lower()]
    if not devices:
        raise KernelError("oclgrind driver: no oclgrind platform is visible; check OCL_ICD_VENDORS")
    handle = open_device(*devices[0])
    with np.load(tmp / "inputs.npz") as inputs:
        arrays = {k: inputs[k] for k in inputs.files}
    args = []
    for i, a in enumerate(spec["args"]):
        kind = a["kind"]
        if kind == "image":
            if a["data"] is None:
                args.append(create_image(handle, a["width"], a["height"], a["storage"], name=f"argument {i}"))
            else:
                args.append(image_from_array(handle, arrays[a["data"]], a["storage"], name=f"argument {i}"))
        elif kind == "buffer":
            if a["data"] is None:
                args.append(create_buffer(handle, a["nbytes"], name=f"argument {i}"))
            else:
                args.append(buffer_from_array(handle, arrays[a["data"]], name=f"argument {i}"))
        elif kind == "local":
            args.append(cl.LocalMemory(a["nbytes"]))
        else:
            args.append(np.array(a["value"], dtype=a["dtype"])[()])
    program = build_program(handle, source, spec["options"])
    launch(handle, program, spec["kernel"], tuple(spec["global_size"]),
           None if spec["local_size"] is None else tuple(spec["local_size"]), args).event.wait()
    outputs = {}
    for i, (a, obj) in enumerate(zip(spec["args"], args, strict=True)):
        if a["kind"] == "image":
            outputs[f"arg{i}"] = obj.download()
        elif a["kind"] == "buffer":
            outputs[f"arg{i}"] = obj.download(np.dtype(a["dtype"]), tuple(a["shape"]))
    handle.queue.finish()
    np.savez(tmp / "outputs.npz", **outputs)
    return 0


BAD_INPUT = 3  # exit status for a KernelError; its message is in FOLDER/error.txt

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except KernelError as exc:
        (Path(sys.argv[1]) / "error.txt").write_text(str(exc))
        sys.exit(BAD_INPUT)
