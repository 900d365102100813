"""`smartmem kernel-cache [--clear] [--json]`: where simulated kernels are kept across runs, and how many.

compare, compile, explain-time and sweeps keep each simulated kernel's counts in one SQLite file
(smartmem_sim/kernel_cache.py: keyed by the kernel, the profile's cache geometry and the simulator's code;
the numbers are the same with or without it). This prints the file, its entries and size; ``--clear``
deletes it (the next runs simulate again). ``$SMARTMEM_CACHE=DIR`` moves it, ``$SMARTMEM_CACHE=off``
turns it off.
"""
from __future__ import annotations

import argparse
import sys

from smartmem_sim import jsonout


def register(subparsers) -> None:
    p = subparsers.add_parser("kernel-cache", help="where simulated kernels are kept across runs; --clear empties it",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clear", action="store_true", help="delete the cache file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smartmem_sim.kernel_cache import ENV, FILE_NAME, KernelCache, cache_folder

    folder = cache_folder()
    doc = {"enabled": folder is not None, "file": None, "entries": 0, "bytes": 0, "cleared": False}
    if folder is not None:
        path = folder / FILE_NAME
        doc["file"] = str(path)
        if path.is_file():
            doc["bytes"] = path.stat().st_size
            doc["entries"] = KernelCache(folder).entries()
            if args.clear:
                path.unlink()
                doc["cleared"] = True
    if args.json:
        sys.stdout.write(jsonout.dumps(jsonout.report("kernel-cache", doc), indent=1) + "\n")
        return 0
    if folder is None:
        print(f"kernel cache: off (${ENV}=off)")
        return 0
    state = "deleted" if doc["cleared"] else "kept"
    print(f"kernel cache: {doc['file']}\n  {doc['entries']:,} kernels, {doc['bytes'] / 1e6:.1f} MB ({state}); "
          f"${ENV}=DIR moves it, ${ENV}=off turns it off")
    return 0
