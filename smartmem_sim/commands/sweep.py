"""`smartmem sweep CONFIG.toml [--scheduler ADDRESS] [-o CSV] [--workers N] [--cache-dir DIR]`: run a grid of
(model, device, policy, ...) simulations on dask.distributed and print predicted ms per model and policy.

A LocalCluster of --workers single-threaded processes by default; --scheduler ADDRESS uses a running
cluster (its workers need the same checkout, and the cache folder at the same path to write results
themselves). Results are cached as CACHE_DIR/<content hash>.json (model, profile after overrides, policy,
storage, code version), written as each task finishes, so a killed sweep resumes where it stopped. The
config format is in smartmem_sim/sweep/config.py; experiments/sweeps/ has examples.

Exit status: 0 when every task has a result, 1 when some failed (listed on stderr), 2 on a bad config.
"""
from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run a grid of simulations on dask.distributed (cached, resumable)",
                              description=__doc__)
    p.add_argument("config", help="sweep config (TOML), e.g. experiments/sweeps/smoke.toml")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask scheduler address (default: start a LocalCluster)")
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="folder to write CONFIG.csv into (CONFIG: the config file's name; default: the config's csv)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: the "
                   "config's workers, else 2)")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="result cache (default: the config's "
                   "cache_dir, else .cache/sweep)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from smartmem_sim.errors import UserError, user_error_types
    from smartmem_sim.sweep import execute, read_config
    from smartmem_sim.sweep.report import summary, write_csv

    config = read_config(args.config)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be a positive integer, got {args.workers}")
    cache_dir = Path(args.cache_dir) if args.cache_dir else config.cache_dir
    for flag, folder in (("-o", args.out), ("--cache-dir", args.cache_dir)):
        _check_folder(flag, folder)  # before any task runs, not when a finished sweep writes
    output = Path(args.out) / f"{Path(args.config).stem}.csv" if args.out else config.csv
    try:
        out = execute(config.tasks, cache_dir, args.scheduler, args.workers or config.workers,
                      progress=not args.no_progress)
    except user_error_types() as exc:
        raise UserError(f"{config.path}: {exc}") from None
    print(summary(out.records), end="")
    print(f"{len(out.records)} tasks: {out.computed} computed, {out.cached} cached, {len(out.failed)} failed; "
          f"{out.wall_s:.1f} s; cache {cache_dir}")
    if output is not None:
        write_csv(out.records, output)
        print(f"wrote {output}")
    for r in out.failed:
        print(f"failed: {r['model']} / {r['device']} / {r['policy']}: {r['error']}", file=sys.stderr)
    return 1 if out.failed else 0


def _check_folder(flag: str, folder: str | None) -> None:
    """``folder`` is an existing folder, or can be made in the nearest existing folder above it."""
    import os

    from smartmem_sim.errors import UserError

    if folder is None:
        return
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {folder}: is a file; give a folder")
    above = path
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise UserError(f"{flag} {folder}: {above} is a file, so the folder cannot be made")
    if not os.access(above, os.W_OK):
        raise UserError(f"{flag} {folder}: folder {above} is not writable")
