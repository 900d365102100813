"""`smartmem explain MODEL.onnx --policy P [--json] [--dim NAME=VALUE ...]`: what a policy decided, per edge.

For every producer -> consumer edge of the cleaned graph: both operator groups, the action (keep
both, fuse, eliminate 1st/2nd/both, free view, copy, convert) and the reason; then every COPY
kernel that survived in the plan with why it exists. ``--json`` prints the same as one JSON object
(``policy``, ``model``, ``kernels``, ``copies``, ``edges``, ``surviving_copies``).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from smartmem_sim import jsonout
from smartmem_sim.commands.inspect import parse_dims

POLICY_CHOICES = ("naive", "fusion", "smartmem")  # == smartmem_sim.compiler.pipeline.POLICIES (not imported: --help stays fast)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain",
        help="per edge: operator groups, the policy's action, and why a layout transform survived",
        description="Compile an ONNX model with a policy and explain every producer -> consumer edge: the two "
                    "operator groups (ILD/ILI x Var/Fixed), the action taken and the reason, then every copy "
                    "kernel that survived and why.",
    )
    p.add_argument("model", help="an .onnx file or a zoo network (NAME, or NAME.tiny for its tiny twin)")
    p.add_argument("--policy", choices=POLICY_CHOICES, default="smartmem", help="compilation policy (default: smartmem)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON (for scripts)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="bind a symbolic input dim, e.g. --dim batch=1 (repeatable)")
    p.set_defaults(func=run)


def explain(plan) -> dict:
    """The JSON-ready explanation of a compiled plan."""
    copies = [s for s in plan.steps if s.op_type == "Copy"]
    return {
        "model": plan.model,
        "policy": plan.policy,
        "kernels": plan.count(),
        "copies": len(copies),
        "actions": dict(sorted(Counter(d.action for d in plan.decisions).items())),
        "edges": [{"producer": d.producer, "consumer": d.consumer, "tensor": d.tensor,
                   "groups": f"{d.producer_group} -> {d.consumer_group}", "action": d.action, "reason": d.reason}
                  for d in plan.decisions],
        "surviving_copies": [{"step": s.id, "nodes": list(s.nodes), "writes": list(s.outputs), "reason": s.reason}
                             for s in copies],
    }


def run(args: argparse.Namespace) -> int:
    from smartmem_sim.compiler.pipeline import compile_model
    from smartmem_sim.simulation import load_graph

    plan = compile_model(load_graph(args.model, dims=parse_dims(args.dim)), args.policy)
    report = explain(plan)
    if args.json:
        sys.stdout.write(jsonout.dumps(jsonout.report("explain", report), indent=2))
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"{report['model']} under {report['policy']}: {report['kernels']} kernels, {report['copies']} copies\n")
    out.write("actions: " + ", ".join(f"{k} {v}" for k, v in report["actions"].items()) + "\n\n")
    for e in report["edges"]:
        out.write(f"{e['producer']} -> {e['consumer']} [{e['tensor']}]  {e['groups']}  {e['action'].upper()}\n")
        out.write(f"    {e['reason']}\n")
    out.write(f"\nsurviving copies ({len(report['surviving_copies'])}):\n")
    for c in report["surviving_copies"]:
        out.write(f"  {c['step']} writes {', '.join(c['writes'])}: {c['reason']}\n")
    if not report["surviving_copies"]:
        out.write("  none: every layout transform was eliminated\n")
    return 0
