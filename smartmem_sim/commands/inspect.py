"""`smartmem inspect MODEL.onnx [--json] [--dim NAME=VALUE ...]`: what a model contains after cleaning."""
from __future__ import annotations

import argparse
import sys

from smartmem_sim import jsonout
from smartmem_sim.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="op histogram, layout transforms, parameters, MACs and tensor sizes of an ONNX model",
        description="Load an ONNX model (fold shape logic, bind symbolic dims, infer static shapes) and "
                    "summarize it. Definitions of every count: smartmem_sim/compiler/analysis/counts.py.",
    )
    p.add_argument("model", help="an .onnx file or a zoo network (NAME, or NAME.tiny for its tiny twin)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (for scripts)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="bind a symbolic input dim, e.g. --dim batch=1 --dim seq=128 (repeatable); "
                        "an unnamed dim is bound as INPUT:AXIS=VALUE")
    p.set_defaults(func=run)


def parse_dims(items: list[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise UserError(f"--dim {item!r}: write NAME=VALUE, e.g. --dim batch=1")
        try:
            size = int(value)
        except ValueError:
            raise UserError(f"--dim {item!r}: VALUE must be a positive integer") from None
        if size <= 0:
            raise UserError(f"--dim {item!r}: VALUE must be a positive integer")
        if name in dims and dims[name] != size:
            raise UserError(f"--dim {name} given twice ({dims[name]} and {size}); give it once")
        dims[name] = size
    return dims


def run(args: argparse.Namespace) -> int:
    from smartmem_sim.compiler.analysis import summarize
    from smartmem_sim.simulation import load_graph

    summary = summarize(load_graph(args.model, dims=parse_dims(args.dim)))
    if args.json:
        sys.stdout.write(jsonout.dumps(jsonout.report("inspect", summary), indent=2))
        sys.stdout.write("\n")
    else:
        print_summary(summary)
    return 0


def _fmt(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def print_summary(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = Table(title=f"{s['model']}: {s['nodes']} operators", show_header=False)
    head.add_column("what")
    head.add_column("value", justify="right")
    lt = s["layout_transforms"]
    head.add_row("layout-transformation ops", f"{lt['total']} " + ", ".join(f"{k} {v}" for k, v in lt["by_op"].items()))
    head.add_row("parameters", f"{_fmt(s['parameters'])} ({_bytes(s['parameter_bytes'])})"
                 + ("  [stripped weights]" if s["stripped_weights"] else ""))
    m = s["macs"]
    parts = ", ".join(f"{k} {_fmt(v)}" for k, v in m.items() if k != "total" and v)
    head.add_row("MACs", f"{_fmt(m['total'])}" + (f" ({parts})" if parts else ""))
    t = s["tensors"]
    head.add_row("activations", f"{t['activation_count']} tensors, {_bytes(t['activation_bytes'])}")
    if t["largest"]:
        lg = t["largest"]
        head.add_row("largest tensor", f"{lg['name']} {lg['shape']} {lg['dtype']} {_bytes(lg['bytes'])}")
    for kind in ("inputs", "outputs"):
        head.add_row(kind, "; ".join(f"{io['name']} {io['shape']} {io['dtype']}" for io in s[kind]))
    console.print(head)
    ops = Table(title="operators")
    ops.add_column("op type")
    ops.add_column("count", justify="right")
    for op, n in s["op_histogram"].items():
        ops.add_row(op, str(n))
    console.print(ops)
