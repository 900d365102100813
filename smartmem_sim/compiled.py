"""The folder `smartmem compile MODEL -o DIR` writes, and how to read its kernels back.

    DIR/model.onnx    the plan as ONNX: one ai.smartmem node per kernel, each a local function holding the
                      original operators (smartmem_sim.compiler.plan_onnx); onnxruntime runs it
    DIR/plan.json     the plan (layouts, index maps, edge decisions, predicted cost per kernel) and the
                      kernel list in launch order: file, entry point, work sizes, the stored tensor of each
                      argument
    DIR/kernels/*.cl  every kernel's OpenCL source, one file per launch, with a header comment (step,
                      operator, layouts, work size, tile)

Files are written atomically one by one and ``kernels/`` is swapped in whole, so a reader never sees half a
file or a mix of two compiles' kernels; ``plan.json`` goes last and names the digests of the others.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from smartmem_sim.errors import UserError

MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"  # external weights, only for a model past INLINE_LIMIT
PLAN_FILE = "plan.json"
KERNEL_DIR = "kernels"
OUTPUTS = (MODEL_FILE, WEIGHTS_FILE, PLAN_FILE, KERNEL_DIR)
# protobuf cannot serialize a message past 2 GiB; models near it (SD-UNet, Pythia-1B in fp32) keep their
# weights in WEIGHTS_FILE beside the model, which onnxruntime, onnx.checker and Netron all follow
INLINE_LIMIT = 1_800_000_000
HEADER_END = " * end of smartmem-sim header */\n"


def check_folder(out: str | os.PathLike, inputs: list[Path | None], force: bool) -> Path:
    """``out`` as a Path after the output checks (before any work): a folder (created if missing) whose
    compile outputs are replaced only with ``force``, and that does not hold the input model."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: is a file; give a folder (compile writes {', '.join(OUTPUTS)} into it)")
    if not out.exists() and not out.parent.is_dir():
        raise UserError(f"-o {out}: folder {out.parent} does not exist")
    parent = out if out.exists() else out.parent
    if not os.access(parent, os.W_OK):
        raise UserError(f"-o {out}: folder {parent} is not writable")
    for src in inputs:
        if src is None:
            continue
        for name in OUTPUTS:
            target = out / name
            try:
                inside = src.resolve() == target.resolve() or target.resolve() in src.resolve().parents
            except OSError:
                inside = False
            if inside:
                raise UserError(f"-o {out}: would replace the input {src}; choose another folder")
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if existing and not force:
        raise UserError(f"-o {out}: already holds {', '.join(existing)}; pass --force to replace them")
    return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80]


def kernel_header(index: int, step, kernel, plan) -> str:
    """The comment at the top of a kernel file: what it computes and how its data lie."""
    from smartmem_sim.compiler.plan_onnx import describe_layout

    lines = [f"/* smartmem-sim kernel {index} of plan {plan.model} ({plan.policy}, {plan.storage} storage)",
             f" * step {step.id}: {step.op_type}" + (f" + {', '.join(e.op_type for e in step.epilogue)}"
                                                    if step.epilogue else ""),
             f" * entry {kernel.entry}; global {'x'.join(map(str, kernel.global_size))}, "
             f"local {'x'.join(map(str, kernel.local_size))}; tile {step.tile[0]}x{step.tile[1]}"]
    for arg in kernel.args:
        t = plan.tensors[arg]
        role = "writes" if arg == kernel.output else "reads"
        lines.append(f" * {role} {arg} {list(t.shape)}: {describe_layout(t.layout)}")
    if step.reason:
        lines.append(f" * why: {step.reason}")
    return "\n".join(lines) + "\n" + HEADER_END


def _model_size(model) -> float:
    from google.protobuf.message import EncodeError

    try:
        return model.ByteSize()
    except EncodeError:
        return float("inf")


def _write_model(out: Path, model) -> str:
    """Check ``model`` (onnx.checker, full) and write it atomically; its sha256 (of model.onnx)."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    from smartmem_sim.atomic import write_bytes

    if _model_size(model) < INLINE_LIMIT:
        onnx.checker.check_model(model, full_check=True)  # a compiler bug must not leave an invalid file
        data = model.SerializeToString(deterministic=True)
        write_bytes(out / MODEL_FILE, data)
        (out / WEIGHTS_FILE).unlink(missing_ok=True)  # a stale one from an earlier, larger compile
        return hashlib.sha256(data).hexdigest()
    staging = Path(tempfile.mkdtemp(prefix=".model.", dir=out))
    try:
        big = onnx.ModelProto()
        big.CopyFrom(model)
        convert_model_to_external_data(big, all_tensors_to_one_file=True, location=WEIGHTS_FILE, size_threshold=1024)
        onnx.save_model(big, str(staging / MODEL_FILE))
        onnx.checker.check_model(str(staging / MODEL_FILE), full_check=True)
        os.replace(staging / WEIGHTS_FILE, out / WEIGHTS_FILE)
        os.replace(staging / MODEL_FILE, out / MODEL_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()


def write_folder(out: Path, model, plan_doc: dict, plan, kernels) -> dict:
    """Write model.onnx (checked first), kernels/ and plan.json; returns the document stored in plan.json."""
    from smartmem_sim.atomic import write_text
    from smartmem_sim.jsonout import dumps

    out.mkdir(parents=True, exist_ok=True)
    steps = {s.id: s for s in plan.steps}
    staging = Path(tempfile.mkdtemp(prefix=f".{KERNEL_DIR}.", dir=out))
    entries = []
    try:
        for i, k in enumerate(kernels):
            name = f"{i:04d}_{_safe(k.step)}.cl"
            text = kernel_header(i, steps[k.step], k, plan) + k.source
            (staging / name).write_text(text)
            entries.append({"file": f"{KERNEL_DIR}/{name}", "step": k.step, "name": k.name, "entry": k.entry,
                            "global_size": list(k.global_size), "local_size": list(k.local_size),
                            "args": list(k.args), "writes": k.output, "storage": k.storage,
                            "sha256": hashlib.sha256(text.encode()).hexdigest()})
        os.chmod(staging, 0o755)
        old = out / KERNEL_DIR
        if old.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{KERNEL_DIR}.old.", dir=out))
            os.replace(old, trash / KERNEL_DIR)
            os.replace(staging, old)
            shutil.rmtree(trash)
        else:
            os.replace(staging, old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    digest = _write_model(out, model)
    doc = dict(plan_doc)
    doc["files"] = {"model": MODEL_FILE, "model_sha256": digest,
                    "weights": WEIGHTS_FILE if (out / WEIGHTS_FILE).exists() else None}
    doc["kernels"] = entries
    write_text(out / PLAN_FILE, dumps(doc, indent=1))
    return doc


@dataclass(frozen=True)
class FileKernel:
    """A kernel read back from a compiled folder: what smartmem_sim.kernels.execute needs to launch it."""

    step: str
    name: str
    entry: str
    source: str
    global_size: tuple[int, int]
    local_size: tuple[int, int]
    args: tuple[str, ...]
    output: str
    storage: str
    program: None = None  # the access program is not stored; the sources are what runs


def read_kernels(folder: str | os.PathLike) -> list[FileKernel]:
    """The kernels of a compiled folder in launch order, their sources read from ``kernels/*.cl``; a file
    that changed since the compile (its sha256 differs from plan.json's) is an error naming it."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / PLAN_FILE).read_text())
    except FileNotFoundError:
        raise UserError(f"{folder}: no {PLAN_FILE}; is it a folder written by `smartmem compile -o`?") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{folder / PLAN_FILE}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    out = []
    for e in doc.get("kernels", []):
        path = folder / e["file"]
        text = path.read_text()
        if hashlib.sha256(text.encode()).hexdigest() != e["sha256"]:
            raise UserError(f"{path}: changed since it was compiled (sha256 differs from {PLAN_FILE}); "
                            "compile again or restore it")
        out.append(FileKernel(e["step"], e["name"], e["entry"], text, tuple(e["global_size"]),
                              tuple(e["local_size"]), tuple(e["args"]), e["writes"], e["storage"]))
    return out
