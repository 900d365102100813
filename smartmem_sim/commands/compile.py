"""`smartmem compile MODEL --device DEV --policy P -o plan.json`: compile a model (a zoo name or an .onnx file)
under a policy and write the plan as JSON (kernels with their launch shapes, stored tensors with their
layouts, edge decisions, the predicted cost of every kernel on DEV from the simulator) and, beside it, the
optimized ONNX (plan.onnx: the graph after elimination, see smartmem_sim.compiler.frontend.export_model)."""
from __future__ import annotations

from pathlib import Path

from smartmem_sim import jsonout
from smartmem_sim.commands.inspect import parse_dims
from smartmem_sim.errors import UserError

POLICY_CHOICES = ("naive", "fusion", "smartmem", "search")  # == smartmem_sim.compiler.pipeline.POLICIES (--help stays fast)


def register(subparsers) -> None:
    p = subparsers.add_parser("compile", help="compile a model under a policy: plan JSON with predicted costs, "
                              "and the optimized ONNX", description=__doc__)
    p.add_argument("model", help="zoo network name (see `smartmem zoo list`) or path of an .onnx file")
    p.add_argument("--profile", "--device", dest="device", metavar="PROFILE", default="adreno740", help="device profile to predict costs on (default adreno740)")
    p.add_argument("--policy", choices=POLICY_CHOICES, default="smartmem", help="compilation policy")
    p.add_argument("-o", "--output", required=True, help="plan JSON to write (the ONNX goes beside it, .onnx)")
    p.add_argument("--tiny", action="store_true", help="use the zoo network's tiny twin")
    p.add_argument("--storage", choices=("fp16", "fp32"), default="fp16", help="image element type (default fp16)")
    p.add_argument("--force", action="store_true", help="replace the plan JSON and ONNX if they exist")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="bind a symbolic input dim of an .onnx model, e.g. --dim batch=1 (repeatable)")
    p.set_defaults(func=run)


def plan_document(plan, result, kernels) -> dict:
    """The JSON written by `smartmem compile`: the plan, launch shapes and predicted costs per step."""
    from smartmem_sim.simulation import kernel_dict

    doc = plan.to_dict()
    by_step: dict[str, list] = {}
    for k in kernels:
        by_step.setdefault(k.step, []).append({"kernel": k.name, "global_size": list(k.global_size),
                                               "local_size": list(k.local_size), "writes": k.output})
    costs = {k.step: kernel_dict(k) for k in result.kernels}
    for s in doc["steps"]:
        s["launches"] = by_step.get(s["id"], [])
        s["predicted"] = costs.get(s["id"])
    doc["predicted"] = result.summary()
    doc["search"] = getattr(plan, "search", None)
    return doc


def run(args) -> int:
    from onnx import numpy_helper

    from smartmem_sim.atomic import atomic_path
    from smartmem_sim.compiler.ir import is_stripped_initializer
    from smartmem_sim.kernels.library import step_kernels
    from smartmem_sim.outputs import check_outputs
    from smartmem_sim.simulation import compile_for, cost_model, load_graph, simulate_plan

    out = Path(args.output)
    if out.suffix != ".json":
        raise UserError(f"-o {out}: the plan file name must end in .json")
    # both files are checked before the compile: the ONNX beside the JSON must not be the input model either
    model_file = Path(args.model) if Path(args.model).suffix == ".onnx" else None
    check_outputs([out, out.with_suffix(".onnx")], [model_file], force=args.force)
    graph = load_graph(args.model, args.tiny, dims=parse_dims(args.dim))
    cost = cost_model(args.device)
    plan = compile_for(graph, args.policy, args.device, args.storage, cost)
    result = simulate_plan(plan, args.device, cost)
    constants = {n: numpy_helper.to_array(p) for n, p in plan.weights.items() if not is_stripped_initializer(p)}
    kernels = [k for s in plan.steps for k in step_kernels(plan, s, constants)]
    doc = jsonout.report("compile", plan_document(plan, result, kernels))
    with atomic_path(out) as tmp:
        tmp.write_text(jsonout.dumps(doc, indent=1))
    onnx_path = out.with_suffix(".onnx")
    _write_onnx(graph, plan, onnx_path)
    s = result.summary()
    print(f"{plan.model} under {args.policy} on {result.device}: {s['kernels']} kernels ({s['transforms']} layout "
          f"transforms), predicted {s['seconds'] * 1e3:.3f} ms (+-{100 * s['rel_error']:.1f}% sampling), "
          f"DRAM {s['dram_bytes'] / 1e6:.2f} MB")
    print(f"plan: {out}\noptimized ONNX: {onnx_path}")
    return 0


def _write_onnx(graph, plan, path: Path) -> None:
    """The model as the compiler cleaned it (static shapes, constants folded), with metadata naming the policy,
    the plan digest and every layout operator the policy turned into an index map (``smartmem.eliminated``)
    or executes as a copy kernel (``smartmem.copies``). Standard ONNX has no operator for a folded index
    map, so the eliminated nodes stay in the graph (dropping them would change its meaning); the plan JSON
    holds the maps."""
    import onnx

    from smartmem_sim.atomic import atomic_path
    from smartmem_sim.compiler.frontend import export_model

    model = export_model(graph)
    absorbed = sorted({n for s in plan.steps for op in list(s.inputs) + [o for e in s.epilogue for o in e.operands]
                       if op is not None for n in op.absorbed} | {n for s in plan.steps for n in s.absorbed_output})
    copies = sorted({n for s in plan.steps if s.op_type == "Copy" for n in s.nodes})
    # a model compiled before carries these keys already: replace them (duplicate keys fail onnx.checker)
    kept = [e for e in model.metadata_props if not e.key.startswith("smartmem.")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in (("smartmem.policy", plan.policy), ("smartmem.plan_digest", plan.digest()),
                       ("smartmem.eliminated", ",".join(absorbed)), ("smartmem.copies", ",".join(copies))):
        entry = onnx.StringStringEntryProto(key=key, value=value)
        model.metadata_props.append(entry)
    with atomic_path(path) as tmp:
        tmp.write_bytes(model.SerializeToString(deterministic=True))
