"""`smartmem explain-time MODEL --device DEV --policy P [--step ID ...] [--top N] [--json]`: how the simulator
got a kernel's time.

For each chosen step (by id, or the ``--top`` costliest), every kernel's terms of the timing formula
(smartmem_sim/memsim/timing.py, printed with them): compute, instruction issue, the transfer time of each cache level
and of DRAM, which of them bounds the kernel, the latency sum, the requests in flight that hide it, cycles,
seconds, and the device's launch overhead; the sum is the step's predicted time. The numbers come from the
same cost model as ``compare`` (the profile's memsim/devices/<device>.toml), so they add up to its table.
"""
from __future__ import annotations

import argparse
import sys

from smartmem_sim import jsonout

POLICY_CHOICES = ("naive", "fusion", "smartmem", "search")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain-time",
        help="the terms of the timing formula behind a kernel's predicted time",
        description="Compile a model under a policy, simulate it on a device profile, and print for chosen steps "
                    "every term of the timing formula (memsim/timing.py) that makes each kernel's time.",
    )
    p.add_argument("model", help="a zoo network name (see `smartmem zoo list`) or an .onnx file")
    p.add_argument("--tiny", action="store_true", help="the zoo network's tiny twin")
    p.add_argument("--profile", "--device", dest="device", metavar="PROFILE", default="adreno740", help="memsim profile (memsim/devices/NAME.toml); default adreno740")
    p.add_argument("--policy", choices=POLICY_CHOICES, default="smartmem", help="compilation policy (default smartmem)")
    p.add_argument("--storage", choices=("fp16", "fp32"), default="fp16", help="tensor storage (default fp16)")
    p.add_argument("--step", action="append", default=[], metavar="ID",
                   help="a plan step id to explain (repeatable; see `smartmem compile` or compare --per-op)")
    p.add_argument("--top", type=int, default=3, metavar="N",
                   help="without --step: the N steps with the longest predicted time (default 3)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON (null for undefined numbers)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="bind a symbolic input dim of an .onnx model, e.g. --dim batch=1 (repeatable)")
    p.set_defaults(func=run)


def explain_steps(model, device: str, policy: str, storage: str = "fp16", tiny: bool = False,
                  steps: list[str] | None = None, top: int = 3, dims: dict | None = None) -> dict:
    """The JSON-ready explanation: per chosen step, its predicted seconds and per kernel the formula's terms."""
    from smartmem_sim.errors import UserError
    from smartmem_sim.memsim.timing import FORMULA
    from smartmem_sim.simulation import compile_for, cost_model, load_graph

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise UserError(f"--top must be a positive integer, got {top!r}")
    cost = cost_model(device)
    plan = compile_for(load_graph(model, tiny, dims=dims), policy, device, storage, cost)
    priced = {s.id: cost.evaluate(plan, s) for s in plan.steps}
    if steps:
        unknown = [s for s in steps if s not in priced]
        if unknown:
            raise UserError(f"{plan.model} ({policy}): no step {', '.join(map(repr, unknown))}; steps are e.g. "
                            f"{', '.join(list(priced)[:5])}")
        chosen = list(steps)
    else:
        chosen = sorted(priced, key=lambda i: -priced[i].seconds)[:top]
    by_id = {s.id: s for s in plan.steps}
    launch_s = cost.dev.execution.launch_overhead_s
    out = []
    for sid in chosen:
        kernels = []
        for e in cost.explain(plan, by_id[sid]):
            bounds = {"compute": e["compute_cycles"], "issue": e["issue_cycles"],
                      **{f"transfer {k}": v for k, v in e["transfer_cycles"].items()}}
            kernels.append({
                "kernel": e["kernel"], "work_items": e["work_items"], "sampled": e["sampled"],
                "rel_error": e["rel_error"], "active_cores": e["active_cores"], "clock_hz": e["clock_hz"],
                "bounds_cycles": bounds, "throughput_bound": max(bounds, key=bounds.get),
                "throughput_cycles": e["throughput_cycles"], "fill_cycles": e["fill_cycles"],
                "requests": e["requests"], "latency_sum_cycles": e["latency_sum_cycles"],
                "rounds": e["rounds"], "chain_cycles": e["chain_cycles"],
                "miss_latency_sum_cycles": e["miss_latency_sum_cycles"], "miss_cycles": e["miss_cycles"],
                "memory_parallelism": e["memory_parallelism"], "bound": e["bound"],
                "cycles": e["cycles"], "seconds": e["seconds"],
                "energy_pj": e["energy_pj"], "launch_overhead_s": launch_s, "correction": e["correction"],
                "footprint_bound": e["footprint_bound"]})
        out.append({"step": sid, "op_type": by_id[sid].op_type, "seconds": priced[sid].seconds, "kernels": kernels})
    return {"schema": jsonout.SCHEMA, "command": "explain-time", "model": plan.model, "policy": policy,
            "device": cost.device, "storage": storage,
            "formula": FORMULA, "steps": out}


def _print(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{doc['model']}[/] ({doc['policy']}) on {doc['device']} ({doc['storage']})")
    console.print(f"formula (smartmem_sim/memsim/timing.py): {doc['formula']}", soft_wrap=False)
    for st in doc["steps"]:
        for k in st["kernels"]:
            clock = k["clock_hz"]
            how = "simulated whole" if k["sampled"] >= 1 else \
                f"sampled {k['sampled']:.1%} of work-items, +-{(k['rel_error'] or 0):.1%} (2 s.e.)"
            t = Table(title=f"step {st['step']} ({st['op_type']}): kernel {k['kernel']}, "
                            f"{k['work_items']:,.0f} work-items on {k['active_cores']:g} cores, {how}",
                      title_justify="left", show_edge=False)
            t.add_column("term")
            t.add_column("how")
            t.add_column("cycles", justify="right")
            t.add_column("us", justify="right")
            for name, cyc in k["bounds_cycles"].items():
                mark = " (busiest)" if name == k["throughput_bound"] else ""
                t.add_row("", name + mark, f"{cyc:,.0f}", f"{cyc / clock * 1e6:,.3f}")
            rows = {
                "throughput + fill": (f"{k['throughput_cycles']:,.0f} + {k['latency_sum_cycles']:,.0f} / "
                                      f"{k['requests']:,.0f} requests", k["throughput_cycles"] + k["fill_cycles"]),
                "chain": (f"{k['rounds']:g} round(s) x {k['latency_sum_cycles']:,.0f} / {k['work_items']:,.0f} "
                          f"items / reads in flight per item", k["chain_cycles"]),
                "miss": (f"{k['miss_latency_sum_cycles']:,.0f} / {k['memory_parallelism']:,.0f} in flight",
                         k["miss_cycles"]),
            }
            for name, (how, cyc) in rows.items():
                mark = " <- bound" if name == k["bound"] else ""
                t.add_row(name + mark, how, f"{cyc:,.0f}", f"{cyc / clock * 1e6:,.3f}")
            t.add_row("cycles", "max(throughput + fill, chain, miss)", f"{k['cycles']:,.0f}",
                      f"{k['seconds'] * 1e6:,.3f}")
            t.add_row("+ launch", "overhead per kernel", "", f"{k['launch_overhead_s'] * 1e6:,.3f}")
            console.print(t)
            if k["footprint_bound"]["lowered"]:
                took = ", ".join(f"{x['level']} {x['misses_before']:,.0f} -> {x['misses_after']:,.0f}"
                                 + (" bytes read" if x["level"] == "DRAM" else " misses")
                                 for x in k["footprint_bound"]["lowered"])
                console.print(f"  the sample's cold shared-level misses were bounded by the kernel's footprint "
                              f"({k['footprint_bound']['footprint_bytes']:,} bytes; "
                              f"smartmem_sim/compiler/costs/compulsory.py): {took}", soft_wrap=True)
        factor = st["kernels"][0]["correction"] if st["kernels"] else 1.0
        how = "sum of its kernels' seconds and launch overheads"
        if factor != 1.0:
            how += f", times the profile's learned correction for {st['op_type']}: x{factor:.3f}"
        console.print(f"step {st['step']}: predicted {st['seconds'] * 1e6:,.3f} us ({how})\n")


def run(args: argparse.Namespace) -> int:
    from smartmem_sim.commands.inspect import parse_dims

    doc = explain_steps(args.model, args.device, args.policy, args.storage, args.tiny, args.step, args.top,
                        dims=parse_dims(args.dim))
    if args.json:
        sys.stdout.write(jsonout.dumps(doc, indent=1))
        sys.stdout.write("\n")
        return 0
    _print(doc)
    return 0
