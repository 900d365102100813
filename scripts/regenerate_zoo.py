"""Rebuild the committed zoo files (smartmem_sim/zoo/models/) deterministically from seeds.

    python scripts/regenerate_zoo.py                  # all 18 networks, full size and tiny twins, then stats
    python scripts/regenerate_zoo.py swin vit --tiny  # some networks, tiny twins only
    python scripts/regenerate_zoo.py --stats-only     # only recompute models/stats.toml from the files

Needs the [zoo] extra (torch 2.13.0 CPU, timm, transformers, diffusers, onnxscript). Each model is exported
in its own subprocess, so the memory of a large export (SD-UNet, Pythia-1B: a few GB) is returned before the
next one starts. Every torch module is built after torch.manual_seed(SEED) and the exporter is
deterministic, so rerunning with the same library versions rewrites identical files.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smartmem_sim.atomic import write_bytes  # noqa: E402
from smartmem_sim.zoo import registry, store  # noqa: E402

SEED = 0


def export_one(name: str, tiny: bool) -> None:
    from smartmem_sim.zoo.torch_export import export_network

    model = export_network(name, tiny, SEED)
    write_bytes(store.model_path(name, tiny), model.SerializeToString(deterministic=True))


def recompute_stats() -> dict:
    stats = {}
    for name in registry.names():
        for tiny in (False, True):
            path = store.model_path(name, tiny)
            if not path.is_file():
                print(f"note: {path.name} missing, left out of stats.toml", file=sys.stderr)
                continue
            data = path.read_bytes()
            stats[store.file_key(name, tiny)] = store.compute_stats(store.read_committed(name, tiny), data)
    store.write_stats(stats)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="networks to rebuild (default: all 18)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--tiny", action="store_true", help="tiny twins only")
    size.add_argument("--full", action="store_true", help="full-size networks only")
    parser.add_argument("--stats-only", action="store_true", help="only recompute models/stats.toml")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process: export in-process
    args = parser.parse_args(argv)
    names = args.names or registry.names()
    for n in names:
        registry.entry(n)  # unknown name -> error before any work
    if args.one:
        for n in names:
            export_one(n, args.tiny)
        return 0
    failed = []
    if not args.stats_only:
        sizes = [True] if args.tiny else [False] if args.full else [True, False]
        for n in names:
            for tiny in sizes:
                t0 = time.time()
                cmd = [sys.executable, __file__, n, "--one"] + (["--tiny"] if tiny else ["--full"])
                done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                label = store.file_key(n, tiny)
                if done.returncode != 0:
                    print(f"{label}: export FAILED\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
                    failed.append(label)
                    continue
                size_kb = store.model_path(n, tiny).stat().st_size / 1024
                print(f"{label}: {size_kb:.0f} KiB in {time.time() - t0:.0f} s", flush=True)
    stats = recompute_stats()
    total = sum(s["bytes"] for s in stats.values())
    print(f"stats.toml: {len(stats)} files, {total / 2**20:.2f} MiB in all")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
