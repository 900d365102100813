"""The `smartmem` command line. Each subcommand lives in its own module under smartmem_sim/commands/
and exposes ``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit status)."""
from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order `smartmem --help` lists them.
COMMAND_MODULES = (
    "cache_study",
    "inspect",
    "zoo",
    "devices",
    "profiles",
    "explain",
    "explain_time",
    "run",
    "compile",
    "compare",
    "calibrate",
    "validate",
    "sweep",
    "refit",
    "kernel_cache",
)


# Commands that run memsim's numba kernels; the first run after an install compiles them (cached on disk after).
SIMULATING = {"compare", "compile", "explain-time", "cache-study", "sweep", "validate", "refit", "calibrate", "run"}


def _numba_notice(command: str) -> None:
    """One line on stderr when memsim's compiled kernels are not cached yet (numba's cache=True index files in
    memsim's __pycache__), so a minute of silence is explained."""
    import os
    from pathlib import Path

    if command not in SIMULATING or os.environ.get("NUMBA_CACHE_DIR"):
        return
    cache = Path(__file__).with_name("memsim") / "__pycache__"
    if not any(cache.glob("*.nbi")):
        print("smartmem: compiling the simulator's kernels (first run after install, about a minute; cached "
              "for later runs)", file=sys.stderr)


# Modules of the optional extras (setup.cfg), and what each extra is for: a command that needs one says which.
OPTIONAL_MODULES = {
    "pyopencl": ("opencl", "running kernels on an OpenCL device; simulation needs no OpenCL"),
    "distributed": ("dist", "sweeps on dask.distributed"),
    "dask": ("dist", "sweeps on dask.distributed"),
    "torch": ("zoo", "re-exporting zoo networks from their torch definitions"),
    "transformers": ("zoo", "re-exporting zoo networks from their torch definitions"),
    "diffusers": ("zoo", "re-exporting zoo networks from their torch definitions"),
    "onnxscript": ("zoo", "re-exporting zoo networks from their torch definitions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartmem",
        description="SmartMem layout-transformation elimination, with a 2.5D texture-memory simulator.",
    )
    from smartmem_sim import __version__

    parser.add_argument("--version", action="version", version=f"smartmem-sim {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an internal error (also SMARTMEM_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"smartmem_sim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"smartmem_sim.commands.{name}":
                continue  # a subcommand not written yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. The error contract (docs/ERRORS.md): bad input exits 2 with one line naming what is
    wrong and what to do; Ctrl-C exits 130 with one line; an internal error exits 1 with one line and a
    request to report it (the traceback only with --debug or SMARTMEM_DEBUG=1)."""
    import os

    from smartmem_sim.errors import user_error_types

    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("SMARTMEM_DEBUG", "") not in ("", "0")
    _numba_notice(args.command)
    try:
        return int(args.func(args) or 0)
    except user_error_types() as exc:
        # one line whatever the layer wrote (a name may hold a newline): the contract of docs/ERRORS.md
        print(f"smartmem {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"smartmem {args.command}: interrupted; files already written are complete (every result is "
              "written atomically), nothing else was written", file=sys.stderr)
        return 130
    except Exception as exc:
        extra = OPTIONAL_MODULES.get((getattr(exc, "name", None) or "").split(".")[0])
        if isinstance(exc, ModuleNotFoundError) and extra and not debug:
            print(f"smartmem {args.command}: error: this needs {exc.name}, which comes with an optional extra: "
                  f"pip install 'smartmem-sim[{extra[0]}]' ({extra[1]})", file=sys.stderr)
            return 2
        if debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"smartmem {args.command}: internal error: {type(exc).__name__}: {first}\n"
              "  This is a bug in smartmem-sim, not in your input: please report it with the command line "
              "(run again with --debug for the traceback).", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
