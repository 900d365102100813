"""Run kernels under oclgrind (an OpenCL device simulator that checks every access) and parse
what it reports.

The OpenCL ICD loader reads its vendor list once per process, so oclgrind runs in a subprocess
whose OCL_ICD_VENDORS names a temporary folder holding only an oclgrind .icd file. Its checks
are switched on through its own environment variables (the `oclgrind` wrapper sets the same ones
from --data-races, --uninitialized, --check-api), and its log goes to a file that we parse into
:class:`Diagnostic` records.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smartmem_sim.kernels.errors import KernelError

# Where distributions put oclgrind's ICD library (Debian/Ubuntu first).
ICD_CANDIDATES = (
    "/usr/lib/oclgrind/liboclgrind-rt-icd.so",
    "/usr/lib/x86_64-linux-gnu/oclgrind/liboclgrind-rt-icd.so",
    "/usr/local/lib/liboclgrind-rt-icd.so",
    "/usr/lib/liboclgrind-rt-icd.so",
    "/usr/lib64/liboclgrind-rt-icd.so",
)
INSTALL_HINT = "install oclgrind (`apt-get install oclgrind` on Debian/Ubuntu as root; `make opencl` does this)"
_REPO_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the kernels package


def find_oclgrind_icd() -> str | None:
    """Path of oclgrind's ICD library, or None when it is not installed."""
    for path in ICD_CANDIDATES:
        if os.path.exists(path):
            return path
    return None


@dataclass(frozen=True)
class Checks:
    """Which oclgrind checks run. Out-of-bounds accesses are always checked.

    ``check_api`` is off by default: pyopencl itself probes device queries that oclgrind's
    OpenCL 1.2 runtime rejects (clGetDeviceInfo CL_INVALID_VALUE on every build), and a failing
    API call already raises in Python.
    """

    data_races: bool = True
    uninitialized: bool = True
    check_api: bool = False
    max_errors: int = 100  # oclgrind stops logging after this many messages

    def env(self) -> dict[str, str]:
        out = {"OCLGRIND_MAX_ERRORS": str(int(self.max_errors))}
        if self.data_races:
            out["OCLGRIND_DATA_RACES"] = "1"
        if self.uninitialized:
            out["OCLGRIND_UNINITIALIZED"] = "1"
        if self.check_api:
            out["OCLGRIND_CHECK_API"] = "1"
        return out


@dataclass(frozen=True)
class Diagnostic:
    """One oclgrind message.

    ``kind`` is one of invalid_read, invalid_write, data_race, uninitialized, api_error,
    divergence, fatal, other. ``entities`` are the global ids (x, y, z) of the work-items named
    (two for a race). ``line`` is the source line oclgrind points at (1-based, in the source it
    compiled), or None.
    """

    kind: str
    message: str
    kernel: str | None
    entities: tuple[tuple[int, int, int], ...]
    line: int | None
    source_text: str | None
    address_space: str | None
    text: str


_HEADER_KINDS = (
    (re.compile(r"^Invalid read\b"), "invalid_read"),
    (re.compile(r"^Invalid write\b"), "invalid_write"),
    (re.compile(r"^Invalid (?:memory )?(?:load|store)\b"), "invalid_access"),
    (re.compile(r"data race at", re.I), "data_race"),
    (re.compile(r"uninitiali[sz]ed", re.I), "uninitialized"),
    (re.compile(r"OpenCL runtime error", re.I), "api_error"),
    (re.compile(r"divergence|executed barrier", re.I), "divergence"),
    (re.compile(r"FATAL ERROR", re.I), "fatal"),
)
_ENTITY = re.compile(r"Global\((\d+),(\d+),(\d+)\)")
_LINE = re.compile(r"^At line (\d+)")
_SPACE = re.compile(r"\b(global|local|private|constant) memory address")


def _classify(header: str) -> str:
    for pattern, kind in _HEADER_KINDS:
        if pattern.search(header):
            return kind
    return "other"


def parse_log(text: str) -> list[Diagnostic]:
    """Split oclgrind's log into messages: each starts at an unindented line and continues with
    the indented (tab) lines after it. Its closing summary lines ("Oclgrind: ...") are skipped."""
    blocks: list[list[str]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if raw[0] in "\t ":
            if blocks:
                blocks[-1].append(raw)
            continue
        if raw.startswith("Oclgrind:") and "error" in raw.lower() and not blocks:
            continue
        blocks.append([raw])
    out = []
    for block in blocks:
        header = block[0].strip()
        if header.startswith("Oclgrind:") and len(block) == 1:
            continue  # e.g. "Oclgrind: 100 errors generated - suppressing further errors"
        body = [ln.strip() for ln in block[1:]]
        kernel = next((ln.split(":", 1)[1].strip() for ln in body if ln.startswith("Kernel:")), None)
        entities = tuple((int(a), int(b), int(c)) for ln in body for a, b, c in _ENTITY.findall(ln)
                         if "entity" in ln.lower())
        line, source_text = None, None
        for i, ln in enumerate(body):
            m = _LINE.match(ln)
            if m:
                line = int(m.group(1))
                source_text = body[i + 1] if i + 1 < len(body) else None
                break
        space = _SPACE.search(header)
        out.append(Diagnostic(_classify(header), header, kernel, entities, line, source_text,
                              space.group(1) if space else None, "\n".join(block)))
    return out


@dataclass
class OclgrindReport:
    """What one oclgrind run produced."""

    diagnostics: list[Diagnostic]
    returncode: int
    stdout: str
    stderr: str
    log: str
    outputs: list[np.ndarray | None] = field(default_factory=list)  # per kernel argument (run_under_oclgrind)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.diagnostics

    def kinds(self) -> Counter:
        return Counter(d.kind for d in self.diagnostics)

    def summary(self) -> str:
        if not self.diagnostics:
            return "no diagnostics"
        first = self.diagnostics[0]
        where = f" (kernel '{first.kernel}', line {first.line})" if first.kernel else ""
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds().items()))
        return f"{counts}; first: {first.message}{where}"

    def check(self) -> None:
        """Raise KernelError if oclgrind reported anything or the run failed."""
        if self.returncode != 0:
            raise KernelError(f"oclgrind run failed with exit status {self.returncode}: {self.stderr.strip()[-2000:]}")
        if self.diagnostics:
            raise KernelError(f"oclgrind: {self.summary()}")


def oclgrind_environment(tmp: Path, checks: Checks, icd: str) -> dict[str, str]:
    """Environment for a subprocess whose only OpenCL platform is oclgrind, logging to tmp/oclgrind.log."""
    vendors = tmp / "vendors"
    vendors.mkdir()
    (vendors / "oclgrind.icd").write_text(icd + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCLGRIND_")}
    env.pop("OCL_ICD_FILENAMES", None)  # would add other drivers beside oclgrind
    env["OCL_ICD_VENDORS"] = str(vendors)
    env["OCLGRIND_LOG"] = str(tmp / "oclgrind.log")
    env["PYOPENCL_NO_CACHE"] = "1"  # a program built from a cached binary has no source lines to quote
    env.update(checks.env())
    env["PYTHONPATH"] = str(_REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def require_icd(icd: str | None = None) -> str:
    """``icd`` if it exists, else the installed oclgrind ICD; KernelError with the install hint if none."""
    icd = icd or find_oclgrind_icd()
    if icd is None or not os.path.exists(icd):
        raise KernelError(f"oclgrind's ICD library was not found (looked in {', '.join(ICD_CANDIDATES)}); "
                          f"{INSTALL_HINT}")
    return icd


def _run(cmd: list[str], tmp: Path, checks: Checks, timeout_s: float, icd: str | None) -> OclgrindReport:
    icd = require_icd(icd)
    env = oclgrind_environment(tmp, checks, icd)
    try:
        proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise KernelError(f"oclgrind run exceeded {timeout_s} s ({' '.join(cmd)}); oclgrind simulates every "
                          "work-item: use a tiny launch") from None
    log_path = tmp / "oclgrind.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    # Fatal errors and API errors can bypass the log file and go to stderr.
    diagnostics = parse_log(log) + [d for d in parse_log(proc.stderr) if d.kind in ("fatal", "api_error")]
    return OclgrindReport(diagnostics, proc.returncode, proc.stdout, proc.stderr, log)


def run_script_under_oclgrind(script: str | os.PathLike, argv: Sequence[str] = (), *, checks: Checks = Checks(),
                              timeout_s: float = 300, icd: str | None = None) -> OclgrindReport:
    """Run a Python script (with this interpreter) whose only OpenCL platform is oclgrind.

    The script can use ``select_device()`` as usual; where uninitialised reads must be caught,
    take the device with ``open_device`` instead (see its docstring). A non-zero exit status is returned in the
    report, not raised; ``report.check()`` raises for it and for any diagnostic.
    """
    script = Path(script).resolve()
    if not script.is_file():
        raise KernelError(f"oclgrind: script {script} does not exist")
    with tempfile.TemporaryDirectory(prefix="sm-oclgrind-") as tmp:
        return _run([sys.executable, str(script), *map(str, argv)], Path(tmp), checks, timeout_s, icd)


@dataclass(frozen=True)
class ImageArg:
    """An RGBA image argument: ``data`` (height, width, 4) float32, or only ``width``/``height``
    for an image the kernel writes (left uninitialised, so reading it is reported)."""

    data: np.ndarray | None = None
    width: int | None = None
    height: int | None = None
    storage: str = "float32"


@dataclass(frozen=True)
class BufferArg:
    """A buffer argument: ``data`` copied in, or ``nbytes`` left uninitialised."""

    data: np.ndarray | None = None
    nbytes: int | None = None


@dataclass(frozen=True)
class LocalArg:
    """A __local pointer argument of ``nbytes`` bytes."""

    nbytes: int


def _arg_spec(i: int, arg, arrays: dict[str, np.ndarray]) -> dict:
    if isinstance(arg, ImageArg):
        if arg.data is not None:
            data = np.asarray(arg.data)
            if data.ndim != 3 or data.shape[2] != 4:
                raise KernelError(f"oclgrind argument {i}: image data must be (height, width, 4), got {data.shape}")
            arrays[f"arg{i}"] = data
            return {"kind": "image", "storage": arg.storage, "width": data.shape[1], "height": data.shape[0],
                    "data": f"arg{i}"}
        if not arg.width or not arg.height:
            raise KernelError(f"oclgrind argument {i}: an ImageArg needs data or width and height")
        return {"kind": "image", "storage": arg.storage, "width": int(arg.width), "height": int(arg.height),
                "data": None}
    if isinstance(arg, BufferArg):
        if arg.data is not None:
            arrays[f"arg{i}"] = np.ascontiguousarray(arg.data)
            return {"kind": "buffer", "nbytes": int(arrays[f"arg{i}"].nbytes), "data": f"arg{i}",
                    "dtype": str(arrays[f"arg{i}"].dtype), "shape": list(arrays[f"arg{i}"].shape)}
        if not arg.nbytes:
            raise KernelError(f"oclgrind argument {i}: a BufferArg needs data or nbytes")
        return {"kind": "buffer", "nbytes": int(arg.nbytes), "data": None, "dtype": "uint8",
                "shape": [int(arg.nbytes)]}
    if isinstance(arg, LocalArg):
        return {"kind": "local", "nbytes": int(arg.nbytes)}
    if isinstance(arg, np.generic):
        return {"kind": "scalar", "dtype": str(arg.dtype), "value": arg.item()}
    raise KernelError(f"oclgrind argument {i}: expected ImageArg, BufferArg, LocalArg or a numpy scalar, "
                      f"got {type(arg).__name__}")


def write_job(folder: str | os.PathLike, source: str, kernel_name: str, global_size, local_size=None,
              args: Sequence = (), *, options: Sequence[str] = ()) -> None:
    """Write one launch into ``folder`` (kernel.cl, spec.json, inputs.npz) for oclgrind_driver."""
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {}
    spec = {
        "kernel": kernel_name,
        "global_size": list(global_size) if not isinstance(global_size, int) else [global_size],
        "local_size": None if local_size is None else (list(local_size) if not isinstance(local_size, int)
                                                       else [local_size]),
        "options": list(options),
        "args": [_arg_spec(i, a, arrays) for i, a in enumerate(args)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.cl").write_text(source)
    (folder / "spec.json").write_text(json.dumps(spec))
    np.savez(folder / "inputs.npz", **arrays)


def run_under_oclgrind(source: str, kernel_name: str, global_size, local_size=None, args: Sequence = (), *,
                       options: Sequence[str] = (), checks: Checks = Checks(), timeout_s: float = 120,
                       icd: str | None = None) -> OclgrindReport:
    """Build and launch one kernel on oclgrind in a subprocess; return its diagnostics.

    ``report.outputs[i]`` holds argument i after the launch (images as float32 (H, W, 4), buffers
    in their dtype and shape), None for scalars and local memory. A build or launch error in the
    subprocess raises KernelError (oclgrind's findings do not: they are in ``report.diagnostics``).
    Many kernels: smartmem_sim.kernels.runtime.oclgrind_batch runs them in one process each batch.
    """
    with tempfile.TemporaryDirectory(prefix="sm-oclgrind-") as tmpname:
        tmp = Path(tmpname)
        write_job(tmp, source, kernel_name, global_size, local_size, args, options=options)
        cmd = [sys.executable, "-m", "smartmem_sim.kernels.runtime.oclgrind_driver", str(tmp)]
        report = _run(cmd, tmp, checks, timeout_s, icd)
        if report.returncode == 3 and (tmp / "error.txt").exists():  # oclgrind_driver.BAD_INPUT
            raise KernelError(f"oclgrind: kernel '{kernel_name}': {(tmp / 'error.txt').read_text()}")
        if report.returncode != 0:
            tail = report.stderr.strip().splitlines()[-15:]
            raise KernelError(f"oclgrind: kernel '{kernel_name}' could not run under oclgrind (exit status "
                              f"{report.returncode}):\n" + "\n".join(tail))
        with np.load(tmp / "outputs.npz") as out:
            report.outputs = [out[f"arg{i}"] if f"arg{i}" in out.files else None for i in range(len(args))]
    return report
