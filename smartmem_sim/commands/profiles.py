"""`smartmem profiles [NAME ...] [--sources] [--json]`: the simulated devices (memsim/devices/*.toml).

One row per shipped profile (or the ones named, by name or file): cores, clock, the cache levels, DRAM
bandwidth, the image layout, whether it can price kernels (an `[execution]` table), and how many of its
numbers are marked guesses. ``--sources`` prints every number's source; ``--json`` the same as strict JSON.
These are what ``--device`` of compare, compile, explain-time and cache-study take; `smartmem devices`
lists OpenCL hardware instead.
"""
from __future__ import annotations

import argparse
import sys

from smartmem_sim import jsonout


def register(subparsers) -> None:
    p = subparsers.add_parser("profiles", help="list the simulated device profiles and where their numbers come from",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help="profile names or .toml files (default: every shipped one)")
    p.add_argument("--sources", action="store_true", help="print the source of every number")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(func=run)


def describe(profile) -> dict:
    """A profile as a JSON-ready summary (units in the keys) with its sources."""
    return {
        "name": profile.name, "file": str(profile.path), "description": profile.description,
        "cores": profile.cores, "clock_hz": profile.clock_hz,
        "levels": [{"name": lv.name, "size_bytes": lv.size, "ways": lv.ways, "line_bytes": lv.line,
                    "per_core": lv.per_core, "latency_cycles": lv.latency_cycles} for lv in profile.levels],
        "dram_bandwidth_bytes_per_s": profile.dram.bandwidth_bytes_per_s,
        "image_layout": profile.image_layout.kind,
        "prices_kernels": profile.execution is not None,
        "guesses": profile.guesses(), "sources": dict(profile.sources),
    }


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from smartmem_sim import memsim

    names = args.names or memsim.list_profiles()
    docs = [describe(memsim.load_profile(n)) for n in names]
    if args.json:
        sys.stdout.write(jsonout.dumps(jsonout.report("profiles", {"profiles": docs}), indent=1) + "\n")
        return 0
    console = Console(width=None if sys.stdout.isatty() else 150)  # a pipe or file gets the whole table
    t = Table(title="simulated devices (smartmem_sim/memsim/devices/*.toml)", title_justify="left")
    for col in ("profile", "cores", "clock MHz", "cache levels", "DRAM GB/s", "image layout", "prices kernels",
                "guessed numbers"):
        t.add_column(col, justify="right" if col in ("cores", "clock MHz", "DRAM GB/s", "guessed numbers") else "left")
    for d in docs:
        levels = ", ".join(f"{lv['name']} {lv['size_bytes'] // 1024} KB{' x core' if lv['per_core'] else ''}"
                           for lv in d["levels"])
        t.add_row(d["name"], str(d["cores"]), f"{d['clock_hz'] / 1e6:,.0f}", levels,
                  f"{d['dram_bandwidth_bytes_per_s'] / 1e9:,.1f}", d["image_layout"],
                  "yes" if d["prices_kernels"] else "no ([execution] missing)",
                  f"{len(d['guesses'])} of {len(d['sources'])}")
    console.print(t)
    if args.sources:
        for d in docs:
            s = Table(title=f"{d['name']}: sources ({d['file']})", title_justify="left", show_edge=False)
            s.add_column("field")
            s.add_column("source")
            for field, text in sorted(d["sources"].items()):
                s.add_row(field, text)
            console.print(s)
    return 0
