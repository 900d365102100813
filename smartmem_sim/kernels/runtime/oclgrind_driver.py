"""Subprocess side of smartmem_sim.kernels.runtime.oclgrind: build and launch kernels on the oclgrind device.

Usage (not for direct use):
  python -m smartmem_sim.kernels.runtime.oclgrind_driver FOLDER
      one job: FOLDER holds kernel.cl, spec.json and inputs.npz; outputs.npz (every image/buffer
      argument after the launch), or error.txt for a KernelError, is written there.
  python -m smartmem_sim.kernels.runtime.oclgrind_driver --batch LIST
      many jobs in one process (smartmem_sim.kernels.runtime.oclgrind_batch): LIST is a text file naming one job
      folder a line. Each job gets result.json (build and run seconds, the byte range of the oclgrind
      log its launch wrote, or its KernelError); a job that already has result.json is skipped, so a
      batch that oclgrind aborted can be started again and goes on after the job that killed it.

Python start-up and the import of numpy/pyopencl cost about a second; a batch pays it once.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyopencl as cl

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.device import DeviceHandle, _list_devices, open_device
from smartmem_sim.kernels.runtime.launch import compile_source, launch
from smartmem_sim.kernels.runtime.memory import (
    buffer_from_array,
    create_buffer,
    create_image,
    image_from_array,
)

BAD_INPUT = 3  # exit status of a single job that raised KernelError; its message is in FOLDER/error.txt


def _oclgrind_handle() -> DeviceHandle:
    devices = [(p, d) for p, d in _list_devices() if "oclgrind" in p.name.lower()]
    if not devices:
        raise KernelError("oclgrind driver: no oclgrind platform is visible; check OCL_ICD_VENDORS")
    return open_device(*devices[0])


def _make_args(handle: DeviceHandle, spec: dict, arrays: dict[str, np.ndarray]) -> list:
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
    return args


def _load(folder: Path) -> tuple[dict, str, dict[str, np.ndarray]]:
    spec = json.loads((folder / "spec.json").read_text())
    source = (folder / "kernel.cl").read_text()
    with np.load(folder / "inputs.npz") as inputs:
        arrays = {k: inputs[k] for k in inputs.files}
    return spec, source, arrays


def _run_job(handle: DeviceHandle, folder: Path) -> tuple[list, dict, float, float]:
    """Build and launch one job; (its argument objects, its spec, build seconds, run seconds)."""
    spec, source, arrays = _load(folder)
    args = _make_args(handle, spec, arrays)
    t0 = time.perf_counter()
    program = compile_source(handle, source, spec["options"])
    t1 = time.perf_counter()
    launch(handle, program, spec["kernel"], tuple(spec["global_size"]),
           None if spec["local_size"] is None else tuple(spec["local_size"]), args).event.wait()
    handle.queue.finish()
    return args, spec, t1 - t0, time.perf_counter() - t1


def main(folder: str) -> int:
    tmp = Path(folder)
    handle = _oclgrind_handle()
    args, spec, _, _ = _run_job(handle, tmp)
    outputs = {}
    for i, (a, obj) in enumerate(zip(spec["args"], args, strict=True)):
        if a["kind"] == "image":
            outputs[f"arg{i}"] = obj.download()
        elif a["kind"] == "buffer":
            outputs[f"arg{i}"] = obj.download(np.dtype(a["dtype"]), tuple(a["shape"]))
    handle.queue.finish()
    np.savez(tmp / "outputs.npz", **outputs)
    return 0


def _log_size() -> int:
    log = os.environ.get("OCLGRIND_LOG")
    return os.path.getsize(log) if log and os.path.exists(log) else 0


def _write_result(folder: Path, result: dict) -> None:
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(result))
    os.replace(tmp, folder / "result.json")  # the parent never sees half a result


def batch(list_file: str) -> int:
    folders = [Path(line) for line in Path(list_file).read_text().splitlines() if line.strip()]
    handle = _oclgrind_handle()
    # Every argument stays allocated until the batch ends: oclgrind's uninitialized-value checker can
    # miss reads of fresh memory at an address an earlier, freed allocation had (open_device's docstring).
    alive = []
    for folder in folders:
        if (folder / "result.json").exists():
            continue
        start = _log_size()
        (folder / "started").write_text(str(start))  # the parent blames an abort on the job started last
        cpu0 = time.process_time()  # all threads of this process, oclgrind's included
        try:
            args, _, build_s, run_s = _run_job(handle, folder)
            alive.append(args)
            result = {"build_s": build_s, "run_s": run_s, "cpu_s": time.process_time() - cpu0}
        except KernelError as exc:
            result = {"error": str(exc)}
        sys.stderr.flush()
        result.update(log_start=start, log_end=_log_size())
        _write_result(folder, result)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        sys.exit(batch(sys.argv[2]))
    try:
        sys.exit(main(sys.argv[1]))
    except KernelError as exc:
        (Path(sys.argv[1]) / "error.txt").write_text(str(exc))
        sys.exit(BAD_INPUT)
