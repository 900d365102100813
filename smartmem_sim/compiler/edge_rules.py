"""Table lookups on group pairs: SmartMem's edge rules and DNNFusion's fusion legality.

Both tables are data (smartmem_sim/compiler/data/edge_rules.toml). ``edge_rule(producer_group,
consumer_group)`` says what to do with one producer -> consumer edge; ``can_fuse(producer_mapping,
consumer_mapping)`` says whether two ops may become one kernel. The pass that walks a graph and
applies them lives elsewhere; this module only answers for one pair.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from smartmem_sim.compiler.data_tables import read_toml
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.groups import ALL_GROUPS, Group, MappingType

DEFAULT_RULES = Path(__file__).with_name("data") / "edge_rules.toml"


class Action(Enum):
    """What an edge rule does with the producer ("first") and the consumer ("second")."""

    KEEP_BOTH = "keep_both"
    TRY_FUSE = "try_fuse"
    ELIMINATE_FIRST = "eliminate_first"
    ELIMINATE_SECOND = "eliminate_second"
    ELIMINATE_BOTH = "eliminate_both"


class Searched(Enum):
    """Whose output layout the layout selection searches after the rule applies."""

    BOTH = "both"
    FUSED = "fused"
    FIRST = "first"
    SECOND = "second"
    NONE = "none"


class Verdict(Enum):
    """DNNFusion's verdict on fusing two mapping types."""

    FUSE = "fuse"
    PROFILE = "profile"
    NEVER = "never"


@dataclass(frozen=True)
class EdgeRule:
    """The decision for one group pair; ``result_group`` is None when both ops are eliminated."""

    action: Action
    result_group: Group | None
    searched: Searched
    why: str


@dataclass(frozen=True)
class FusionRule:
    """DNNFusion's entry for one mapping-type pair."""

    verdict: Verdict
    result: MappingType
    why: str


class FusionCheck(NamedTuple):
    """Answer of ``can_fuse``: legal or not, and the reason to report."""

    fusible: bool
    reason: str


def _enum(cls, value, where: str):
    try:
        return cls(value)
    except ValueError:
        raise CompilerError(f"{where}: {value!r} is not one of {[m.value for m in cls]}") from None


def _rows(raw: dict, key: str, allowed: set[str], source: str) -> list[tuple[str, dict]]:
    rows = raw.get(key)
    if not isinstance(rows, list) or not rows:
        raise CompilerError(f"{source}: needs [[{key}]] entries")
    out = []
    for k, row in enumerate(rows):
        where = f"{source} [[{key}]] #{k + 1}"
        if not isinstance(row, dict):
            raise CompilerError(f"{where}: must be a table")
        if set(row) != allowed:
            missing, unknown = allowed - set(row), set(row) - allowed
            raise CompilerError(f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
        out.append((where, row))
    return out


class EdgeRules:
    """Both tables, checked complete: every pair exactly once."""

    def __init__(self, edges: dict[tuple[Group, Group], EdgeRule],
                 fusion: dict[tuple[MappingType, MappingType], FusionRule], source: str):
        self.edges = edges
        self.fusion = fusion
        self.source = source

    @classmethod
    def load(cls, path: str | Path = DEFAULT_RULES) -> EdgeRules:
        path = Path(path)
        raw = read_toml(path, "edge-rule table")
        source = str(path)
        extra = set(raw) - {"edge", "fusion"}
        if extra:
            raise CompilerError(f"{source}: unknown top-level keys {sorted(extra)}; expected [[edge]] and [[fusion]]")
        edges: dict[tuple[Group, Group], EdgeRule] = {}
        for where, row in _rows(raw, "edge", {"producer", "consumer", "action", "result", "searched", "why"}, source):
            pair = (Group.parse(row["producer"], f"{where} producer"), Group.parse(row["consumer"], f"{where} consumer"))
            if pair in edges:
                raise CompilerError(f"{where}: pair {pair[0]} -> {pair[1]} appears twice")
            result = None if row["result"] == "none" else Group.parse(row["result"], f"{where} result")
            action = _enum(Action, row["action"], f"{where} action")
            if (result is None) != (action is Action.ELIMINATE_BOTH):
                raise CompilerError(f"{where}: result is 'none' exactly when the action is eliminate_both")
            edges[pair] = EdgeRule(action, result, _enum(Searched, row["searched"], f"{where} searched"), str(row["why"]))
        missing = [f"{p} -> {c}" for p in ALL_GROUPS for c in ALL_GROUPS if (p, c) not in edges]
        if missing:
            raise CompilerError(f"{source}: no [[edge]] rule for {missing}")
        fusion: dict[tuple[MappingType, MappingType], FusionRule] = {}
        for where, row in _rows(raw, "fusion", {"producer", "consumer", "verdict", "result", "why"}, source):
            pair = (MappingType.parse(row["producer"], f"{where} producer"),
                    MappingType.parse(row["consumer"], f"{where} consumer"))
            if pair in fusion:
                raise CompilerError(f"{where}: pair {pair[0].value} -> {pair[1].value} appears twice")
            fusion[pair] = FusionRule(_enum(Verdict, row["verdict"], f"{where} verdict"),
                                      MappingType.parse(row["result"], f"{where} result"), str(row["why"]))
        missing = [f"{p.value} -> {c.value}" for p in MappingType for c in MappingType if (p, c) not in fusion]
        if missing:
            raise CompilerError(f"{source}: no [[fusion]] rule for {missing}")
        return cls(edges, fusion, source)

    def edge_rule(self, producer_group: Group | str, consumer_group: Group | str) -> EdgeRule:
        return self.edges[(Group.parse(producer_group, "producer group"), Group.parse(consumer_group, "consumer group"))]

    def fusion_rule(self, producer: MappingType | str, consumer: MappingType | str) -> FusionRule:
        return self.fusion[(MappingType.parse(producer, "producer mapping"), MappingType.parse(consumer, "consumer mapping"))]

    def can_fuse(self, producer: MappingType | str, consumer: MappingType | str) -> FusionCheck:
        rule = self.fusion_rule(producer, consumer)
        p, c = MappingType.parse(producer), MappingType.parse(consumer)
        head = f"{p.value} -> {c.value}"
        if rule.verdict is Verdict.NEVER:
            return FusionCheck(False, f"{head}: not fused ({rule.why})")
        if rule.verdict is Verdict.PROFILE:
            return FusionCheck(True, f"{head}: legal, decide by cost ({rule.why}); fused op is {rule.result.value}")
        return FusionCheck(True, f"{head}: fused op is {rule.result.value} ({rule.why})")


@lru_cache(maxsize=1)
def default_rules() -> EdgeRules:
    """The shipped tables (smartmem_sim/compiler/data/edge_rules.toml), loaded once."""
    return EdgeRules.load(DEFAULT_RULES)


def edge_rule(producer_group: Group | str, consumer_group: Group | str) -> EdgeRule:
    """SmartMem's rule for a producer -> consumer edge, e.g. ``edge_rule("ILD&Var", "ILD&Fixed")``."""
    return default_rules().edge_rule(producer_group, consumer_group)


def fusion_rule(producer_mapping: MappingType | str, consumer_mapping: MappingType | str) -> FusionRule:
    """DNNFusion's entry (verdict, fused mapping type, reason) for a mapping-type pair."""
    return default_rules().fusion_rule(producer_mapping, consumer_mapping)


def can_fuse(producer_mapping: MappingType | str, consumer_mapping: MappingType | str) -> FusionCheck:
    """``(fusible, reason)``: True for "fuse" and "profile" verdicts (the reason says which)."""
    return default_rules().can_fuse(producer_mapping, consumer_mapping)
