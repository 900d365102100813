"""`smartmem compile MODEL -o DIR --profile DEV --policy P`: compile a model (a zoo name or an .onnx file)
under a policy and write into the folder DIR:

- model.onnx: the plan as ONNX, one node per kernel (domain ai.smartmem) whose local function holds the
  operators it implements; eliminated layout operators are gone from the top-level graph, fused operators are
  one node, surviving layout copies are Copy nodes; each node carries its layouts, index maps, work size and
  tile as attributes (Netron shows them). onnx.checker accepts it and onnxruntime runs it.
- plan.json: the plan (stored tensors with their layouts, edge decisions, the predicted cost of every kernel
  on DEV from the simulator) and the kernel list in launch order.
- kernels/NNNN_STEP.cl: every kernel's OpenCL source, with a header comment (operator, layouts, work size,
  tile).

Weights a model ships without (the zoo's models are stripped) are filled from --seed exactly as `smartmem run
--seed` fills them (smartmem_sim.compiler.frontend.materialize_weights), so model.onnx, the kernels and a run
agree; plan.json and model.onnx's metadata say so."""
from __future__ import annotations

import math
from pathlib import Path

from smartmem_sim.commands.inspect import parse_dims
from smartmem_sim.errors import UserError

POLICY_CHOICES = ("naive", "fusion", "smartmem", "search")  # == smartmem_sim.compiler.pipeline.POLICIES (--help stays fast)


def register(subparsers) -> None:
    p = subparsers.add_parser("compile", help="compile a model under a policy: plan JSON with predicted costs, "
                              "and the optimized ONNX", description=__doc__)
    p.add_argument("model", help="zoo network name (see `smartmem zoo list`) or path of an .onnx file")
    p.add_argument("--profile", "--device", dest="device", metavar="PROFILE", default="adreno740", help="device profile to predict costs on (default adreno740)")
    p.add_argument("--policy", choices=POLICY_CHOICES, default="smartmem", help="compilation policy")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="folder to write model.onnx, plan.json and kernels/ into (created if missing)")
    p.add_argument("--tiny", action="store_true", help="use the zoo network's tiny twin")
    p.add_argument("--storage", choices=("fp16", "fp32"), default="fp16", help="image element type (default fp16)")
    p.add_argument("--force", action="store_true", help="replace model.onnx, plan.json and kernels/ in DIR")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights a model ships without (default 0, "
                   "as `smartmem run`)")
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
    from smartmem_sim import jsonout
    from smartmem_sim.compiled import check_folder, write_folder
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.compiler.frontend.weights import materialize_weights
    from smartmem_sim.compiler.plan_onnx import plan_to_onnx
    from smartmem_sim.kernels.library import step_kernels
    from smartmem_sim.progress import Stages
    from smartmem_sim.simulation import compile_with_graph, cost_model, read_source, simulate_plan

    model_file = Path(args.model) if Path(args.model).suffix == ".onnx" else None
    out = check_folder(args.out, [model_file], args.force)
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    stages = ["load", "compile", "simulate", "kernels", "onnx", "write"]
    with Stages("compile", stages) as bar:
        bar.start("load")
        proto, label, _ = read_source(args.model, args.tiny)
        stripped = _stripped(proto)
        proto = materialize_weights(proto, args.seed, name=args.model)  # errors name the file as given
        graph = load_model(proto, dims=parse_dims(args.dim) or None, name=label)
        bar.start("compile")
        cost = cost_model(args.device)
        plan, plan_graph = compile_with_graph(graph, args.policy, args.device, args.storage, cost)
        bar.start("simulate")
        result = simulate_plan(plan, args.device, cost)
        bar.start("kernels")
        from onnx import numpy_helper

        constants = {n: numpy_helper.to_array(p) for n, p in plan.weights.items()}
        kernels = [k for s in plan.steps for k in step_kernels(plan, s, constants)]
        bar.start("onnx")
        doc = jsonout.report("compile", plan_document(plan, result, kernels))
        doc["weights"] = {"seed": args.seed, "filled": stripped}
        launches: dict[str, list] = {}
        for k in kernels:
            launches.setdefault(k.step, []).append({"kernel": k.name, "global_size": k.global_size,
                                                    "local_size": k.local_size})
        meta = {"smartmem.policy": plan.policy, "smartmem.profile": args.device, "smartmem.storage": plan.storage,
                "smartmem.plan_digest": plan.digest(),
                "smartmem.weights": f"{len(stripped)} stripped weights filled from seed {args.seed}" if stripped
                else "as shipped"}
        model = plan_to_onnx(plan, plan_graph, launches=launches, metadata=meta)
        bar.start("write")
        write_folder(out, model, doc, plan, kernels)
    s = result.summary()
    print(f"{plan.model} under {args.policy} on {result.device}: {s['kernels']} kernels ({s['transforms']} layout "
          f"transforms), predicted {s['seconds'] * 1e3:.3f} ms ({_sampling(s['rel_error'])}), "
          f"DRAM {s['dram_bytes'] / 1e6:.2f} MB")
    print(f"wrote {out}/: model.onnx ({len(model.graph.node)} nodes), plan.json, kernels/ ({len(kernels)} files)")
    return 0


def _stripped(model) -> list[str]:
    from smartmem_sim.compiler.ir import is_stripped_initializer

    return [t.name for t in model.graph.initializer if is_stripped_initializer(t)]


def _sampling(rel_error: float) -> str:
    # nan: a sampled kernel counted fewer than two windows, so its spread (and the model's) is unknown
    return "sampling error not estimated" if math.isnan(rel_error) else f"+-{100 * rel_error:.1f}% sampling"
