"""Predicted step times of a model's plan under the work-group rule before fa8173e ("old": the largest divisors) or
the current one ("new"), on the h100_opencl profile; writes ps_MODEL_POLICY_RULE.json (step -> [us, local, grid, op])
and prints the sum. Run each rule in its own process, without the kernel cache:

    SMARTMEM_CACHE=off .venv/bin/python experiments/results/h100_work_groups/predicted_by_rule.py fusion old vit
"""
import json
import sys

from smartmem_sim import simulation as S
from smartmem_sim.kernels.ops import builder as B
from smartmem_sim.kernels.ops.builder import _pick_local, build_program


def old_2d(width, height, items=B.MAX_GROUP_ITEMS):
    lx = _pick_local(width, 16)
    return lx, _pick_local(height, items // lx)


def old_1d(n, items=B.MAX_GROUP_ITEMS):
    return _pick_local(n, items)


def main() -> None:
    policy, rule, model = sys.argv[1:4]
    if rule == "old":
        B.pick_local_2d, B.pick_local_1d = old_2d, old_1d
    plan = S.compile_for(S.load_graph(model), policy, "h100_opencl")
    cost = S.cost_model("h100_opencl")
    out = {}
    for step in plan.steps:
        prog = build_program(plan, step, 0)
        out[step.id] = (cost.evaluate(plan, step).seconds * 1e6, prog.local_size, prog.global_size, step.op_type)
    with open(f"ps_{model}_{policy}_{rule}.json", "w") as f:
        json.dump(out, f)
    print(rule, policy, round(sum(v[0] for v in out.values()) / 1000, 3), "ms")


if __name__ == "__main__":
    main()
