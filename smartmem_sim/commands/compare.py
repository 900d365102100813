"""`smartmem compare MODEL --profile DEV [--json] [--per-op] [--timeline FILE] [--out DIR] [--heatmap KERNEL]`:
compile a model (a zoo name or an .onnx file) under the four policies, simulate every kernel on a device
profile, and print one row per policy: predicted latency (with its sampling error bound), DRAM bytes, misses
per cache level, predicted energy of the memory traffic, layout transforms executed (count and time),
kernels. Saves a bar plot (PNG, SVG, PDF) and the JSON under --out.

Energy is memsim's estimate: bytes through each cache level and DRAM times the profile's pJ per byte (the
JSON's ``energy_pj_per_byte`` gives each number with the profile's source for it; most are guesses).

--heatmap KERNEL (a step id or an ONNX node name of the plan, as `smartmem compile` and --per-op list them)
simulates that kernel's whole trace under every policy that has it and draws, per image (or buffer) the
kernel reads or writes, where the misses fall: per texel (buffer element), the misses at each cache level and
the mean reuse distance, one row per (policy, surface), one colour scale per level
(heatmap_<KERNEL>.png/.svg/.pdf under --out).

--per-op lists, per policy, the kernels that cost most and every surviving layout transform with its
reason. --timeline writes the predicted kernels back to back as Chrome-trace JSON (one process per policy;
same event format as `smartmem run --timeline`, so both open side by side in Perfetto).

Numbers are predictions of an uncalibrated simulator (device profiles mark their guesses): compare
policies with each other, not with a phone's milliseconds.
"""
from __future__ import annotations

import math
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
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="folder to save the JSON and the plot in (nothing is written without it)")
    p.add_argument("--no-plot", action="store_true", help="do not save the plot")
    p.add_argument("--heatmap", default=None, metavar="KERNEL",
                   help="draw per-texel miss maps of one kernel (step id or node name) under every policy; needs --out")
    p.add_argument("--heatmap-policies", default=None, metavar="P1,P2",
                   help="the policies --heatmap draws, comma-separated (default: all four)")
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
    energy = {k.step: result.kernel_energy_joules(i) for i, k in enumerate(result.kernels)}
    ranked = sorted(result.kernels, key=lambda k: -k.seconds)
    total = result.seconds or 1.0

    def row(k):
        s = steps[k.step]
        return {"step": k.step, "op_type": k.op_type, "nodes": list(s.nodes), "ms": k.seconds * 1e3,
                "share": k.seconds / total, "dram_mb": k.dram_bytes / 1e6, "energy_joules": energy[k.step],
                "reason": s.reason}

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
    for name in ["policy", "latency ms", "+-%", "DRAM MB", *(f"{lv} miss" for lv in levels), "energy uJ",
                 "transforms", "transf. ms", "kernels"]:
        t.add_column(name, justify="left" if name == "policy" else "right", no_wrap=True)
    for r in results:
        m = r.misses()
        e = r.energy_joules
        t.add_row(r.policy, f"{r.seconds * 1e3:.3f}", "n/a" if math.isnan(r.rel_error) else f"{100 * r.rel_error:.1f}", f"{r.dram_bytes / 1e6:.2f}",
                  *(f"{m[lv]:,.0f}" for lv in levels), "-" if e is None else f"{e * 1e6:,.2f}",
                  str(len(r.transforms)), f"{r.transform_seconds * 1e3:.3f}", str(len(r.kernels)))
    base = results[0].seconds
    speedups = "speedup over naive: " + ", ".join(f"{r.policy} {base / r.seconds:.2f}x" for r in results[1:])
    return t, speedups


def energy_lines(results) -> list[str]:
    """The per-byte energies behind the energy column, with their sources (one line per level and DRAM)."""
    table = results[0].energy_sources
    if not table:
        return ["energy: the cost model gives no energy estimate"]
    return ["energy = bytes through each level and DRAM x pJ/B of the profile:"] + [
        f"  {name}: {v['pj_per_byte']:g} pJ/B ({v['source']})" for name, v in table.items()]


def _plot(results, path: Path, description: str = "") -> list[Path]:
    from smartmem_sim.figure_style import save
    from smartmem_sim.simulation import plot_policies

    return save(plot_policies(results), path, description=description)


def find_step(plan, kernel: str):
    """The step of ``plan`` whose id is ``kernel``, else the one implementing the node ``kernel``; None."""
    for s in plan.steps:
        if s.id == kernel:
            return s
    for s in plan.steps:
        if kernel in s.nodes:
            return s
    return None


def kernel_texels(result, step, device: str) -> list[tuple[str, object]]:
    """(label, memsim.heatmap.SurfaceMap) of every image and buffer the step's kernels read or write, from
    their whole traces (not the sampled windows the cost model prices) on ``device`` (a profile name or
    path). A buffer of a plan tensor is laid out in rows of the tensor's innermost dimension (its elements
    as x), so a tensor kept as an image (4 elements a texel) and as a buffer look alike."""
    from smartmem_sim import memsim
    from smartmem_sim.kernels.trace.sample import ProgramSampler
    from smartmem_sim.memsim.heatmap import heatmap
    from smartmem_sim.simulation import cost_model

    dev = cost_model(device).dev
    whole = 1 << 40  # a row budget no kernel reaches: the sampler traces every work-item
    samples = ProgramSampler(dev.execution.texel_reuse).sample(result.plan, step, dev.cores,
                                                              dev.execution.wave_size, whole, 2)
    out = []
    for s in samples:
        (trace, _), = s.windows
        table = memsim.SurfaceTable(s.surfaces, dev.image_layout)
        _, maps = heatmap(dev.hierarchy(), trace, table)
        for m in maps:
            role = "written" if m.writes else "read"
            out.append((f"{result.policy}: {role}", _as_rows(m, result.plan)))
    return out


def _as_rows(m, plan):
    """A buffer's map in rows of its tensor's innermost dimension (``m`` as it is otherwise)."""
    from smartmem_sim.memsim.surfaces import ELEM_BYTES

    tensor = plan.tensors.get(m.name)
    if m.kind != "buffer" or tensor is None or not getattr(tensor.layout, "shape", None):
        return m
    layout = tensor.layout
    order = getattr(layout, "order", None) or tuple(range(len(layout.shape)))
    inner = int(layout.shape[order[-1]]) * ELEM_BYTES[plan.storage]
    return m.reshaped(inner // m.unit_bytes) if inner % m.unit_bytes == 0 and inner >= m.unit_bytes else m


def _heatmap(results, kernel: str, device: str, out: Path, description: str,
             policies: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Draw heatmap_<kernel> from every policy (of ``policies``) whose plan has ``kernel``; (paths, policies
    without it)."""
    from smartmem_sim.heatmap_figures import draw

    panels, missing = [], []
    for r in results:
        if policies is not None and r.policy not in policies:
            continue
        step = find_step(r.plan, kernel)
        if step is None:
            missing.append(r.policy)
            continue
        panels += kernel_texels(r, step, device)
    if not panels:
        ids = ", ".join(s.id for s in results[0].plan.steps[:12])
        raise UserError(f"--heatmap {kernel}: no policy's plan has a step or node of that name "
                        f"(steps of {results[0].policy} begin: {ids}, ...; see --per-op or `smartmem compile`)")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in kernel)
    paths = draw(panels, out / f"heatmap_{safe}.png", description=description,
                 title=f"{results[0].model}, kernel {kernel} on {results[0].device}: misses per texel (buffer "
                       f"element) of each surface it reads or writes")
    return paths, missing


def run(args) -> int:
    from smartmem_sim.atomic import atomic_path

    if args.timeline is not None and not Path(args.timeline).parent.exists():
        raise UserError(f"--timeline {args.timeline}: folder {Path(args.timeline).parent} does not exist")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder; give a folder for the JSON and plot")
    if args.heatmap is not None and args.out is None:
        raise UserError("--heatmap needs --out DIR: the folder to draw the heat maps in")
    heat_policies = None
    if args.heatmap_policies is not None:
        heat_policies = [p.strip() for p in args.heatmap_policies.split(",") if p.strip()]
        bad = [p for p in heat_policies if p not in POLICIES]
        if bad or not heat_policies:
            raise UserError(f"--heatmap-policies: unknown policy {', '.join(bad) or '(none given)'}; "
                            f"choose from {', '.join(POLICIES)}")
    results = compare(args.model, args.device, args.tiny, args.storage, progress=True, dims=parse_dims(args.dim))
    doc = {"schema": jsonout.SCHEMA, "command": "compare", "model": results[0].model, "device": results[0].device,
           "storage": args.storage, "policies": [r.summary() for r in results],
           "energy_pj_per_byte": results[0].energy_sources}
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
        description = f"smartmem compare {args.model} --profile {args.device}" + (" --tiny" if args.tiny else "")
        if args.heatmap is not None:
            paths, missing = _heatmap(results, args.heatmap, args.device, out,
                                      description + f" --heatmap {args.heatmap}", heat_policies)
            doc["heatmap"] = {"kernel": args.heatmap, "files": [str(p) for p in paths],
                              "policies_without_it": missing}
            written += paths
        with atomic_path(out / f"{stem}.json") as tmp:
            tmp.write_text(jsonout.dumps(doc, indent=1))
        written.append(out / f"{stem}.json")
        if not args.no_plot:
            written += _plot(results, out / f"{stem}.png", description)
    if args.timeline:
        with atomic_path(Path(args.timeline)) as tmp:
            tmp.write_text(jsonout.dumps(timeline(results)))
    if args.json:
        sys.stdout.write(jsonout.dumps(doc, indent=1))
        sys.stdout.write("\n")
        return 0
    from rich.console import Console

    table, speedups = _table(results, args.storage)
    Console(width=max(200, Console().width)).print(table)  # whole numbers in a pipe, never cut with an ellipsis
    print(speedups)
    print("\n".join(energy_lines(results)))
    if args.per_op:
        from smartmem_sim.tables import print_table

        for block in doc["per_op"]:
            print()
            print_table(("ms", "share %", "energy uJ", "op type", "step"),
                        [(f"{k['ms']:.3f}", f"{100 * k['share']:.1f}",
                          "" if k["energy_joules"] is None else f"{k['energy_joules'] * 1e6:.3f}", k["op_type"],
                          k["step"]) for k in block["top_kernels"]],
                        left=(3, 4), title=f"[{block['policy']}] costliest kernels")
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
