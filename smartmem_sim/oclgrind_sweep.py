"""Every distinct generated kernel of the zoo's tiny twins under oclgrind: no out-of-bounds access, data race
or (where oclgrind can tell) uninitialized read.

    python -m smartmem_sim.oclgrind_sweep [--models vit,swin] [--policies naive,search] [--workers 2]

Each tiny twin (smartmem_sim/zoo/models/*.tiny.onnx) is compiled under every policy; its kernels are
deduplicated by source across models and policies (the entry name is a hash of the source text), and each
distinct kernel runs once, as generated (its full global and local size), on oclgrind with the values it
sees in the network: inputs from seed 0, weights from the plan, intermediates from onnxruntime (every stored
tensor holds an ONNX value, ``StoredTensor.source``, packed by its own layout), its output left uninitialised.
A stored tensor with no ONNX value (none today) makes that plan's values come from a run on the CPU
OpenCL device instead.

Checks (see tests/kernels/test_oclgrind_zoo.py for why): out-of-bounds buffer accesses and data races
always; uninitialized values only for kernels that read no image (oclgrind 21.10 marks every read_imagef
result uninitialized). Kernels checked for uninitialized values are built with -cl-opt-disable (the
checker aborts on LLVM's ``freeze``); the others are built optimized (2-3x faster under oclgrind).

Results are cached by launch (source, sizes, argument geometry and values, checks) in
``CACHE/results/<key>.json``, so a killed run resumes where it stopped and an unchanged kernel is not
checked again. The CSV report (one row per distinct kernel) is written atomically. Exit status: 0 clean,
1 if any kernel has a diagnostic or could not run, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.runtime.oclgrind import BufferArg, Checks, ImageArg, write_job
from smartmem_sim.kernels.runtime.oclgrind_batch import BatchRunner, Job, JobResult, batches

# With the uninitialized-value check on, build unoptimized: oclgrind 21.10's checker aborts on LLVM's
# `freeze`, which the optimizer emits for hoisted divisions. Without it, the optimized build runs the same
# loads and stores 2-3x faster under oclgrind (measured: a 128x16 image Conv, 9.0 -> 3.8 CPU s with the
# race checker on); only loads whose value is never used can disappear.
UNINITIALIZED_OPTIONS = ("-cl-opt-disable",)
OPTIONS = ()


def build_options(checks: Checks) -> tuple[str, ...]:
    return UNINITIALIZED_OPTIONS if checks.uninitialized else OPTIONS
MODELS_DIR = Path(__file__).resolve().parent / "zoo" / "models"
CSV_FIELDS = ("entry", "model", "policy", "kernel", "op", "global_size", "local_size", "checks", "status",
              "seconds", "cpu_s", "build_s", "run_s", "cached", "diagnostics")


@dataclass(frozen=True)
class KernelCase:
    """One distinct kernel, where it was first met."""

    key: str
    entry: str
    model: str
    policy: str
    kernel: str
    op: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    checks: Checks


def tiny_twins(models_dir: Path = MODELS_DIR) -> list[str]:
    return sorted(p.name.removesuffix(".tiny.onnx") for p in Path(models_dir).glob("*.tiny.onnx"))


def _load_twin(path: Path):
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.frontend.read import read_model
    from smartmem_sim.compiler.frontend.weights import materialize_weights
    from smartmem_sim.inputs import random_inputs

    proto = materialize_weights(read_model(path), 0)
    graph = load_model(proto, name=path.name.removesuffix(".tiny.onnx"))
    return proto, graph, random_inputs(graph, 0)


def _onnx_values(proto, feeds) -> dict[str, np.ndarray]:
    """Every value of the ONNX graph (inputs and every node output) from onnxruntime."""
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    have = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for out in node.output:
            if out and out not in have:
                model.graph.output.append(onnx.ValueInfoProto(name=out))
                have.add(out)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every value
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(names, feeds), strict=True))
    values.update(feeds)
    return values


def plan_values(plan, proto, feeds, device=None) -> dict[str, np.ndarray]:
    """The logical value of every stored tensor of ``plan`` (by stored name), float32."""
    from smartmem_sim.kernels.execute import _weight

    onnx_values = _onnx_values(proto, feeds)
    values: dict[str, np.ndarray] = {}
    missing = []
    for name, t in plan.tensors.items():
        if t.kind == "weight":
            values[name] = _weight(plan, name, {})
            continue
        v = onnx_values.get(t.source or name)
        if v is None or tuple(np.shape(v)) != tuple(t.shape):
            missing.append(name)
        else:
            values[name] = v
    if missing:  # a tensor onnxruntime does not name: run the plan on the CPU OpenCL device
        from smartmem_sim.kernels.execute import execute
        from smartmem_sim.kernels.runtime.device import select_device

        keep = tuple(n for n in missing if n not in plan.outputs and n not in plan.inputs)
        res = execute(plan, device or select_device(), {n: feeds[plan.tensors[n].source or n] for n in plan.inputs},
                      keep=keep)
        values.update({n: res.outputs[n] for n in missing if n in res.outputs})
    return {n: np.asarray(v, np.float32) for n, v in values.items()}


def launch_args(plan, k, values) -> list:
    """The kernel's arguments: inputs packed by their layouts, the output uninitialised."""
    image_storage = "float16" if plan.storage == "fp16" else "float32"
    host = np.float16 if plan.storage == "fp16" else np.float32
    args = []
    for tensor in k.args:
        t = plan.tensors[tensor]
        if tensor == k.output:
            args.append(ImageArg(width=t.layout.width, height=t.layout.height, storage=image_storage) if t.on_image
                        else BufferArg(nbytes=np.dtype(host).itemsize * int(np.prod(t.shape))))
            continue
        v = values[tensor]
        args.append(ImageArg(data=t.layout.pack(v), storage=image_storage) if t.on_image
                    else BufferArg(data=np.ascontiguousarray(np.transpose(v, t.layout.order)).astype(host).ravel()))
    return args


def checks_for(plan, k) -> Checks:
    """oclgrind 21.10 reports every read_imagef result as uninitialized, so that check is off where a kernel
    reads an image (tests/kernels/test_oclgrind_zoo.py::test_oclgrind_marks_image_reads_uninitialized)."""
    reads_image = any(plan.tensors[a].on_image for a in k.args if a != k.output)
    return Checks(data_races=True, uninitialized=not reads_image)


def launch_key(k, args, checks: Checks) -> str:
    """Content hash of one launch: source, sizes, options, checks and every argument's geometry and bytes."""
    h = hashlib.sha256(k.source.encode())
    h.update(json.dumps([list(k.global_size), list(k.local_size or ()), build_options(checks), repr(checks)]).encode())
    for a in args:
        data = getattr(a, "data", None)
        h.update(repr((type(a).__name__, getattr(a, "width", None), getattr(a, "height", None),
                       getattr(a, "nbytes", None), getattr(a, "storage", None),
                       None if data is None else (data.shape, str(data.dtype)))).encode())
        if data is not None:
            h.update(np.ascontiguousarray(data).tobytes())
    return h.hexdigest()[:32]


def _diag_text(d: dict) -> str:
    line = f" (line {d['line']}: {d['source_text']})" if d.get("line") else ""
    return f"{d['kind']}: {d['message']}{line}"


class Sweep:
    """Collects launches, runs the uncached ones in batches, keeps one record per distinct kernel."""

    def __init__(self, cache_dir: Path, *, workers: int, batch_size: int, job_timeout_s: float, progress: bool):
        self.cache_dir = Path(cache_dir).resolve()  # oclgrind's driver runs elsewhere and reads job paths
        self.results_dir = self.cache_dir / "results"
        self.jobs_dir = self.cache_dir / "jobs"
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.records: dict[str, dict] = {}  # by entry, in discovery order
        self.launches: dict[str, KernelCase] = {}  # by key, waiting for a result
        self.pending: list[Job] = []
        self.runner = BatchRunner(self._on_result, workers=workers, job_timeout_s=job_timeout_s)
        from tqdm import tqdm

        # in a CI log (no terminal) one line every 30 s instead of a redrawn bar
        self.bar = tqdm(total=0, desc="oclgrind", unit="kernel", file=sys.stderr, disable=not progress,
                        mininterval=0.5 if sys.stderr.isatty() else 30)

    def _record(self, launch: KernelCase, result: dict, cached: bool) -> None:
        diags = result["diagnostics"]
        status = "error" if result.get("error") else ("diagnostics" if diags else "ok")
        text = " | ".join(_diag_text(d) for d in diags[:5]) + (f" | ... {len(diags) - 5} more" if len(diags) > 5 else "")
        if result.get("error"):
            text = (result["error"].replace("\n", " / ") + (" | " + text if text else ""))[:2000]
        self.records[launch.entry] = {
            "entry": launch.entry, "model": launch.model, "policy": launch.policy, "kernel": launch.kernel,
            "op": launch.op, "global_size": "x".join(map(str, launch.global_size)),
            "local_size": "x".join(map(str, launch.local_size)) if launch.local_size else "",
            "checks": "races" + ("+uninitialized" if launch.checks.uninitialized else ""), "status": status,
            "seconds": round(result["seconds"], 3), "build_s": round(result["build_s"], 3),
            "run_s": round(result["run_s"], 3), "cpu_s": round(result.get("cpu_s", 0.0), 3), "cached": cached, "diagnostics": text}
        self.bar.update(1)
        if status != "ok":
            self.bar.write(f"oclgrind: {launch.model}/{launch.policy} {launch.kernel} ({launch.entry}): {text[:300]}")

    def _on_result(self, r: JobResult) -> None:
        launch = self.launches.pop(r.key)
        result = {"seconds": r.seconds, "cpu_s": r.cpu_s, "build_s": r.build_s, "run_s": r.run_s, "error": r.error,
                  "diagnostics": [{"kind": d.kind, "message": d.message, "line": d.line,
                                   "source_text": d.source_text} for d in r.diagnostics]}
        if r.error is None:  # a launch that could not run (timeout, abort) is tried again next time
            path = self.results_dir / f"{r.key}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**result, "entry": launch.entry}))
            os.replace(tmp, path)
        shutil.rmtree(self.jobs_dir / r.key, ignore_errors=True)
        self._record(launch, result, cached=False)

    def add_plan(self, model: str, policy: str, plan, proto, feeds) -> None:
        from smartmem_sim.kernels.execute import _weight
        from smartmem_sim.kernels.library import plan_kernels

        constants = {n: _weight(plan, n, {}) for n, t in plan.tensors.items() if t.kind == "weight"}
        kernels = [k for k in plan_kernels(plan, constants) if k.entry not in self.records]
        fresh = {}
        for k in kernels:
            fresh.setdefault(k.entry, k)
        if not fresh:
            return
        self.bar.total += len(fresh)
        self.bar.refresh()
        values = plan_values(plan, proto, feeds)
        ops = {s.id: s.op_type for s in plan.steps}
        for entry, k in fresh.items():
            args, checks = launch_args(plan, k, values), checks_for(plan, k)
            key = launch_key(k, args, checks)
            launch = KernelCase(key, entry, model, policy, k.name, ops.get(k.step, "?"), tuple(k.global_size),
                            None if k.local_size is None else tuple(k.local_size), checks)
            self.records[entry] = {}  # claimed; filled by _record
            cached = self.results_dir / f"{key}.json"
            if cached.exists():
                self._record(launch, json.loads(cached.read_text()), cached=True)
                continue
            folder = self.jobs_dir / key
            shutil.rmtree(folder, ignore_errors=True)
            write_job(folder, k.source, entry, k.global_size, k.local_size, args, options=build_options(checks))
            self.launches[key] = launch
            self.pending.append(Job(key, folder, checks))
        self._submit(final=False)

    def _submit(self, final: bool) -> None:
        groups: dict[Checks, list[Job]] = {}
        for job in self.pending:
            groups.setdefault(job.checks, []).append(job)
        self.pending = []
        for jobs in groups.values():
            for batch in batches(jobs, self.batch_size):
                if len(batch) < self.batch_size and not final:
                    self.pending.extend(batch)  # wait for more of its kind
                else:
                    self.runner.submit(batch)
        self.runner.poll()

    def finish(self) -> list[dict]:
        self._submit(final=True)
        self.runner.drain()
        self.runner.close()
        self.bar.close()
        return [r for r in self.records.values() if r]  # a claimed kernel without a result: its batch failed


def write_csv(path: Path, records: Sequence[dict]) -> None:
    """Write the report atomically (kernels may not import smartmem_sim.atomic: same rename, local)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(buf.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_sweep(models: Sequence[str], policies: Sequence[str], *, storage: str = "fp32",
              cache_dir: Path = Path(".cache/oclgrind"), models_dir: Path = MODELS_DIR, workers: int = 2,
              batch_size: int = 12, job_timeout_s: float = 1800, progress: bool = True) -> list[dict]:
    """Check every distinct kernel of ``models`` x ``policies``; one record per kernel (CSV_FIELDS)."""
    from smartmem_sim.compiler.pipeline import compile_model

    paths = []
    for m in models:
        path = Path(models_dir) / f"{m}.tiny.onnx"
        if not path.is_file():
            raise KernelError(f"tiny twin '{m}' not found: {path} does not exist (have: {', '.join(tiny_twins(models_dir))})")
        paths.append(path)
    sweep = Sweep(cache_dir, workers=workers, batch_size=batch_size, job_timeout_s=job_timeout_s, progress=progress)
    try:
        for model, path in zip(models, paths, strict=True):
            proto, graph, feeds = _load_twin(path)
            for policy in policies:
                sweep.add_plan(model, policy, compile_model(graph, policy, storage), proto, feeds)
        return sweep.finish()
    finally:
        sweep.runner.close()


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise KernelError(f"--{what}: unknown {what} {unknown or text!r}; choose from {', '.join(allowed)}")
    return names


def summary(records: Sequence[dict], wall_s: float) -> str:
    bad = [r for r in records if r["status"] != "ok"]
    cached = sum(1 for r in records if r["cached"])
    head = (f"{len(records)} distinct kernels ({cached} from the cache) in {wall_s:.0f} s: "
            + ("all clean" if not bad else f"{len(bad)} with findings"))
    lines = [head] + [f"  {r['status']}: {r['model']}/{r['policy']} {r['kernel']} ({r['entry']}, {r['op']}): "
                      f"{r['diagnostics'][:300]}" for r in bad[:20]]
    if len(bad) > 20:
        lines.append(f"  ... {len(bad) - 20} more in the CSV")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from smartmem_sim.compiler.pipeline import POLICIES

    parser = argparse.ArgumentParser(prog="python -m smartmem_sim.oclgrind_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma-separated tiny twins (default: all)")
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated policies (default: all)")
    parser.add_argument("--storage", default="fp32", choices=("fp32", "fp16"))
    parser.add_argument("--workers", type=int, default=2, help="oclgrind processes at once (default 2)")
    parser.add_argument("--batch-size", type=int, default=12, help="kernels per oclgrind process (default 12)")
    parser.add_argument("--job-timeout", type=float, default=1800, help="seconds one launch may take (default 1800)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/oclgrind"))
    parser.add_argument("--csv", type=Path, default=None, help="report path (default CACHE_DIR/report.csv)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        models = _names(args.models, tiny_twins(), "models") if args.models else tiny_twins()
        policies = _names(args.policies, POLICIES, "policies")
        t0 = time.perf_counter()
        records = run_sweep(models, policies, storage=args.storage, cache_dir=args.cache_dir,
                            workers=args.workers, batch_size=args.batch_size, job_timeout_s=args.job_timeout,
                            progress=not args.no_progress)
        wall = time.perf_counter() - t0
    except KernelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.csv or args.cache_dir / "report.csv"
    write_csv(out, records)
    print(summary(records, wall) + f"\nreport: {out}")
    return 1 if any(r["status"] != "ok" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
