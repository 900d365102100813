"""`smartmem zoo`: the paper's 18 networks. `list` shows our graphs next to the paper's Table 7 figures;
`export` writes one network (full size or tiny twin) as an ONNX file."""
from __future__ import annotations

import sys
from pathlib import Path

from smartmem_sim import jsonout
from smartmem_sim.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="the model zoo: list the 18 networks, export one as ONNX",
                              description=__doc__)
    sub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    sub.required = True
    lst = sub.add_parser("list", help="the 18 networks: our ops/params/MACs beside the paper's figures")
    lst.add_argument("--json", action="store_true", help="print JSON (one object per network) instead of a table")
    lst.set_defaults(func=run_list)
    exp = sub.add_parser("export", help="write one network as an ONNX file")
    exp.add_argument("name", help="network name (see `smartmem zoo list`)")
    exp.add_argument("--tiny", action="store_true", help="the tiny twin instead of the full-size network")
    exp.add_argument("-o", "--out", default=".", metavar="DIR",
                     help="folder to write NAME.onnx (NAME.tiny.onnx for the tiny twin) into (default: .)")
    exp.add_argument("--seed", default="0", help="seed of the generated weights (default 0)")
    exp.add_argument("--structure-only", action="store_true",
                     help="keep the weights stripped (as committed) instead of generating them")
    exp.add_argument("--from-torch", action="store_true",
                     help="re-export from the torch definition (needs the [zoo] extra) instead of the committed file")
    exp.add_argument("--force", action="store_true", help="replace the output file if it exists")
    exp.set_defaults(func=run_export)


def run_list(args) -> int:
    from smartmem_sim import zoo

    rows = zoo.table()
    if args.json:
        print(jsonout.dumps(jsonout.report("zoo list", {"models": rows}), indent=1))
        return 0
    from smartmem_sim.tables import print_table

    print_table(HEAD, table_rows(rows), left=2, caption=NOTE)
    if any(r["ours"] is None for r in rows):
        print("note: some committed files are missing from models/stats.toml; run scripts/regenerate_zoo.py",
              file=sys.stderr)
    return 0


def _num(value, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


HEAD = ("model", "family", "ops", "paper ops", "params M", "ref params M", "GMACs", "ref GMACs", "layout ops",
        "tiny ops")
NOTE = ("ops: ONNX operators after the front end's cleanup; paper ops: SmartMem Table 7 (ops in the graph);\n"
        "ref params/GMACs: published figures of the variant we build (see paper_table.toml); n/a: none known.")


def table_rows(rows: list[dict]) -> list[tuple[str, ...]]:
    """Ours (ONNX after cleanup) beside the paper's Table 7 op counts and published sizes, one row per network."""
    lines = []
    for r in rows:
        ours, tiny = r["ours"] or {}, r["ours_tiny"] or {}
        lines.append((
            r["name"], r["family"],
            _num(ours.get("nodes")), _num(r["paper_ops"]),
            _num(ours["parameters"] / 1e6 if ours else None), _num(r["ref_params_m"]),
            _num(ours["macs"] / 1e9 if ours else None, 2), _num(r["ref_gmacs"], 2),
            _num(ours.get("layout_transforms")), _num(tiny.get("nodes")),
        ))
    return lines


def run_export(args) -> int:
    from smartmem_sim import zoo

    try:
        seed = int(args.seed)
    except ValueError:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed!r}") from None
    from smartmem_sim.outputs import check_outputs

    zoo.registry.entry(args.name)  # an unknown network is named before the path is looked at
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: is a file; give the folder to write {args.name}{'.tiny' * args.tiny}.onnx into")
    if not out.is_dir():
        raise UserError(f"-o {out}: folder does not exist; create it first")
    (target,) = check_outputs([out / (zoo.store.file_key(args.name, args.tiny) + ".onnx")], force=args.force)
    path = zoo.export(args.name, tiny=args.tiny, path=str(target), seed=seed,
                      weights=not args.structure_only, from_torch=args.from_torch)
    print(path)
    return 0
