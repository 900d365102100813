"""Where the simulated time goes: per network and policy, the summed kernel time of each operator type (the
sweep records' per-kernel seconds), so a ranking between policies can be traced to the operators that make it.

Writes ``per_op_time.csv`` (model, size, policy, op_type, ms, kernels, share_pct) under experiments/results/per_op/
and prints, per network, fusion -> smartmem for the operator types that cost most.

    .venv/bin/python experiments/per_op_time.py [--models swin,vit] [--tiny] [--device adreno740]
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import common  # noqa: E402

POLICIES = ("naive", "fusion", "smartmem", "search")
COLUMNS = ["model", "size", "policy", "op_type", "ms", "kernels", "share_pct"]
MODELS = "swin,vit,cswin,convnext,pythia_1b"
SHOWN = 5  # operator types printed per network


def op_rows(record: dict) -> list[dict]:
    """One row per operator type of a sweep record, costliest first."""
    ms: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for k in record["per_kernel"]:
        ms[k["op_type"]] += k["seconds"] * 1e3
        count[k["op_type"]] += 1
    total = sum(ms.values()) or 1.0
    return [{"model": record["model"], "size": common.size_label(record["tiny"]), "policy": record["policy"],
             "op_type": op, "ms": t, "kernels": count[op], "share_pct": 100 * t / total}
            for op, t in sorted(ms.items(), key=lambda kv: -kv[1])]


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, "per_op", models=MODELS.split(","))
    args = common.parse_args(ap, argv)
    out = Path(args.out)
    if args.replot:  # a table, no figure to redraw
        return 0
    names, records = common.policy_grid(args, POLICIES, "per_op")
    rows = [row for r in records if common.ok(r) for row in op_rows(r)]
    by = {(r["model"], r["policy"], r["op_type"]): r["ms"] for r in rows}
    for name in names:
        fusion = sorted(((ms, op) for (m, p, op), ms in by.items() if m == name and p == "fusion"), reverse=True)
        ops = [op for _, op in fusion[:SHOWN]]
        cells = [f"{op} {by.get((name, 'fusion', op), 0):.0f} -> {by.get((name, 'smartmem', op), 0):.0f}" for op in ops]
        totals = [sum(ms for (m, p, _), ms in by.items() if m == name and p == pol) for pol in ("fusion", "smartmem")]
        print(f"{name:<12} fusion -> smartmem ms: {'; '.join(cells)}; total {totals[0]:.0f} -> {totals[1]:.0f}",
              flush=True)
    head = common.header(device=args.device, size=common.size_label(args.tiny), policies=",".join(POLICIES))
    common.write_csv(out / "per_op_time.csv", rows, COLUMNS, head)
    return common.exit_status(records)


if __name__ == "__main__":
    sys.exit(main())
