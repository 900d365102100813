"""`smartmem compare MODEL --profile DEV [--json] [--per-op] [--timeline FILE] [--out DIR]`: compile a model
(a zoo name or an .onnx file) under the four policies, simulate every kernel on a device profile, and print
one row per policy: predicted latency (with its sampling error bound), DRAM bytes, misses per cache level,
layout transforms executed (count and time), kernels. Saves a bar plot (and the JSON) under --out.

--per-op lists, per policy, the kernels that cost most and every surviving layout transform with its
reason. --timeline writes the predicted kernels back to back as Chrome-trace JSON (one process per policy;
same event format as `smartmem run --timeline`, so both open side by side in Perfetto).

Numbers are predictions of an uncalibrated simulator (device profiles mark their guesses): compare
policies with each other, not with a phone's milliseconds.
"""
from __future__ import annotations

import sys
from pathlib import Path

from smartmem_sim import jsonout
from smartmem_sim.commands.inspect import parse_dims
from smartmem_sim.errors import UserError

POLICIES = ("naive", "fusion", "smartmem", "search")  # == smartmem_sim.compiler.pipeline.POLICIES (--help stays fast)
TOP = 10


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="predicted latency, DRAM bytes, misses and layout transforms of the "
                              "four policies on a device profile", description=__doc__)
    p.add_argument("model", help="zoo network name (see `smartmem zoo list`) or path of an .onnx file")
    p.add_argument("--profile", "--device", dest="device", metavar="PROFILE", default="adreno740", help="device profile (default adreno740)")
    p.add_argument("--tiny", action="store_true", help="use the zoo network's tiny twin")
    p.add_argument("--storage", choices=("fp16", "fp32"), default="fp16", help="image element type (default fp16)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON instead of a table")
    p.add_argument("--per-op", action="store_true", help="list the costliest kernels and every surviving transform")
    p.add_argument("--timeline", default=None, metavar="FILE", help="write the predicted timeline (Chrome trace)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder to save the JSON and the plot in (nothing is written without it)")
    p.add_argument("--no-plot", action="store_true", help="do not save the plot")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="bind a symbolic input dim of an .onnx model, e.g. --dim batch=1 (repeatable)")
    p.set_defaults(func=run)


def compare(model, device: str = "adreno740", tiny: bool = False, storage: str = "fp16",
            progress: bool = False, dims: dict | None = None) -> list:
    """SimulationResult of every policy, in POLICIES order (smartmem_sim.simulation.simulate_policies)."""
    from smartmem_sim.simulation import load_graph, simulate_policies

    return simulate_policies(load_graph(model, tiny, dims=dims), POLICIES, device, storage, progress)


def per_op(result, top: int = TOP) -> dict:
    """The costliest kernels and every executed transform (with its reason) of one policy."""
    steps = {s.id: s for s in result.plan.steps}
    ranked = sorted(result.kernels, key=lambda k: -k.seconds)
    total = result.seconds or 1.0

    def row(k):
        s = steps[k.step]
        return {"step": k.step, "op_type": k.op_type, "nodes": list(s.nodes), "ms": k.seconds * 1e3,
                "share": k.seconds / total, "dram_mb": k.dram_bytes / 1e6, "reason": s.reason}

    return {"policy": result.policy, "top_kernels": [row(k) for k in ranked[:top]],
            "transforms": [row(k) for k in sorted(result.transforms, key=lambda k: -k.seconds)]}


def timeline(results) -> dict:
    """Chrome-trace JSON: kernels back to back, one process per policy (ts/dur in microseconds)."""
    events = []
    for pid, r in enumerate(results, start=1):
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 1,
                       "args": {"name": f"{r.policy} (predicted, {r.device})"}})
        t = 0.0
        for k in r.kernels:
            dur = k.seconds * 1e6
            events.append({"name": k.step, "cat": "transform" if k.is_transform else "kernel", "ph": "X",
                           "pid": pid, "tid": 1, "ts": t, "dur": dur,
                           "args": {"op_type": k.op_type, "dram_bytes": k.dram_bytes, "sampled": k.sampled}})
            t += dur
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"model": results[0].model, "device": results[0].device, "source": "smartmem compare"}}


def _table(results, storage: str):
    """The comparison as a rich Table (one row per policy) and the speedup line under it."""
    from rich.table import Table

    levels = list(results[0].misses())
    t = Table(title=f"{results[0].model} on {results[0].device} ({storage}), predicted by the simulator",
              title_justify="left")
    for name in ["policy", "latency ms", "+-%", "DRAM MB", *(f"{lv} miss" for lv in levels), "transforms",
                 "transf. ms", "kernels"]:
        t.add_column(name, justify="left" if name == "policy" else "right")
    for r in results:
        m = r.misses()
        t.add_row(r.policy, f"{r.seconds * 1e3:.3f}", f"{100 * r.rel_error:.1f}", f"{r.dram_bytes / 1e6:.2f}",
                  *(f"{m[lv]:,.0f}" for lv in levels), str(len(r.transforms)), f"{r.transform_seconds * 1e3:.3f}",
                  str(len(r.kernels)))
    base = results[0].seconds
    speedups = "speedup over naive: " + ", ".join(f"{r.policy} {base / r.seconds:.2f}x" for r in results[1:])
    return t, speedups


def _plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from smartmem_sim.atomic import atomic_path

    names = [r.policy for r in results]
    transform = [r.transform_seconds * 1e3 for r in results]
    other = [(r.seconds - r.transform_seconds) * 1e3 for r in results]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, other, label="operator kernels", color="#4c72b0")
    ax.bar(names, transform, bottom=other, label="layout transforms", color="#dd8452")
    ax.errorbar(names, [r.seconds * 1e3 for r in results], yerr=[r.rel_error * r.seconds * 1e3 for r in results],
                fmt="none", ecolor="black", capsize=3)
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(f"{results[0].model} on {results[0].device} (simulated)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:])
    plt.close(fig)


def run(args) -> int:
    from smartmem_sim.atomic import atomic_path

    if args.timeline is not None and not Path(args.timeline).parent.exists():
        raise UserError(f"--timeline {args.timeline}: folder {Path(args.timeline).parent} does not exist")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder; give a folder for the JSON and plot")
    results = compare(args.model, args.device, args.tiny, args.storage, progress=True, dims=parse_dims(args.dim))
    doc = {"schema": jsonout.SCHEMA, "command": "compare", "model": results[0].model, "device": results[0].device,
           "storage": args.storage, "policies": [r.summary() for r in results]}
    for r in results:
        if getattr(r.plan, "search", None):
            doc["search"] = r.plan.search
    if args.per_op:
        doc["per_op"] = [per_op(r) for r in results]
    written = []
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{results[0].model}_{results[0].device}"
        with atomic_path(out / f"{stem}.json") as tmp:
            tmp.write_text(jsonout.dumps(doc, indent=1))
        written.append(out / f"{stem}.json")
        if not args.no_plot:
            _plot(results, out / f"{stem}.png")
            written.append(out / f"{stem}.png")
    if args.timeline:
        with atomic_path(Path(args.timeline)) as tmp:
            tmp.write_text(jsonout.dumps(timeline(results)))
    if args.json:
        sys.stdout.write(jsonout.dumps(doc, indent=1))
        sys.stdout.write("\n")
        return 0
    from rich.console import Console

    table, speedups = _table(results, args.storage)
    Console(width=max(120, Console().width)).print(table)
    print(speedups)
    if args.per_op:
        for block in doc["per_op"]:
            print(f"\n[{block['policy']}] costliest kernels:")
            for k in block["top_kernels"]:
                print(f"  {k['ms']:9.3f} ms {100 * k['share']:5.1f}%  {k['op_type']:<20} {k['step']}")
            print(f"[{block['policy']}] layout transforms executed ({len(block['transforms'])}):")
            for k in block["transforms"]:
                print(f"  {k['ms']:9.3f} ms  {k['step']}: {k['reason']}")
            if not block["transforms"]:
                print("  none")
    if args.timeline:
        written.append(Path(args.timeline))
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))
    return 0
