"""Pass 6: one EdgeDecision per producer -> consumer edge of the IR (constants excluded): the two
groups, the action the policy took, and the reason, so that ``smartmem explain`` can say why a
transform survived.

Actions: ``keep both`` (two kernels), ``fuse`` (the consumer became an epilogue of the producer's
kernel), ``eliminate 1st`` / ``eliminate 2nd`` / ``eliminate both`` (layout operators folded into
index maps, smartmem), ``free view`` (fusion: a layout operator that keeps the default storage),
``copy`` (a layout operator executed as a kernel), ``convert`` (naive: an implicit conversion
before the consumer). For smartmem the reason starts with the paper's rule for the pair of
groups (smartmem_sim/compiler/data/edge_rules.toml) and then says what happened.
"""
from __future__ import annotations

from smartmem_sim.compiler.edge_rules import edge_rule
from smartmem_sim.compiler.groups import Group
from smartmem_sim.compiler.ir import Graph, iter_edges
from smartmem_sim.compiler.passes.classify import Classification
from smartmem_sim.compiler.passes.eliminate import Elimination
from smartmem_sim.compiler.passes.fuse import FusionPlan
from smartmem_sim.layout.plan import EdgeDecision


def edge_decisions(graph: Graph, cls: Classification, elim: dict[str, Elimination], fusion: FusionPlan,
                   policy: str, notes: dict[tuple[str, str], str], changed: dict[str, tuple[Group, str]]
                   ) -> list[EdgeDecision]:
    """``notes``: {(consumer node or step id, tensor): reason} from the layout pass (conversions,
    extra copies); ``changed``: node -> (new group, reason) for Add-like ops whose inputs differ."""
    out: list[EdgeDecision] = []
    for u, v, t in iter_edges(graph):
        if u not in cls.nodes or v not in cls.nodes:
            continue
        pu, cv = cls.nodes[u], cls.nodes[v]
        pg = changed[u][0] if u in changed else pu.group
        cg = changed[v][0] if v in changed else cv.group
        action, reason = _decide(u, v, t, pu, cv, pg, cg, elim, fusion, policy)
        if v in changed:
            reason += f"; group change of '{v}': {changed[v][1]}"
        note = notes.get((v, t))
        if note:
            action = "convert" if policy == "naive" else action
            reason += f"; {note}"
        out.append(EdgeDecision(u, v, t, str(pg), str(cg), action, reason))
    return out


def _decide(u, v, t, pu, cv, pg, cg, elim, fusion, policy) -> tuple[str, str]:
    fused = fusion.fused.get(v)
    fused_here = fused is not None and fused.tensor == t
    if policy == "smartmem":
        rule = edge_rule(pg, cg)
        head = f"rule {pg} -> {cg}: {rule.action.value.replace('_', ' ')} ({rule.why})"
        if pu.is_layout and cv.is_layout:
            return "eliminate both", f"{head}; '{u}': {elim[u].reason}; '{v}': {elim[v].reason}"
        if cv.is_layout:
            return "eliminate 2nd", f"{head}; '{v}': {elim[v].reason}"
        if pu.is_layout:
            return "eliminate 1st", f"{head}; '{u}': {elim[u].reason}"
        if fused_here:
            return "fuse", f"{head}; {fused.reason}"
        if cv.is_elementwise and v in fusion.not_fused:
            return "keep both", f"{head}; '{v}' {fusion.not_fused[v]}"
        if rule.action.value == "try_fuse":
            return "keep both", (f"{head}; kept: only epilogue fusion (consumer into producer) is implemented, and "
                                 f"'{v}' ({cv.op_type}) is not element-wise or '{u}' cannot host it")
        return "keep both", head
    if cv.is_layout or pu.is_layout:
        lay = v if cv.is_layout else u
        mode = elim[lay].mode
        return ("free view" if mode == "free" else "copy"), f"'{lay}' ({mode}): {elim[lay].reason}"
    if fused_here:
        return "fuse", fused.reason
    if cv.is_elementwise and v in fusion.not_fused:
        return "keep both", f"'{v}' {fusion.not_fused[v]}"
    return "keep both", f"{policy}: separate kernels"
