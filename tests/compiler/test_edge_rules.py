"""Edge rules (PAPER.md Tables 5/6, transcribed here independently) and fusion legality."""
import itertools

import pytest

from smartmem_sim.compiler.edge_rules import (
    Action,
    EdgeRules,
    Searched,
    Verdict,
    can_fuse,
    default_rules,
    edge_rule,
    fusion_rule,
)
from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.groups import ALL_GROUPS, ILD_VAR, MappingType

# PAPER.md "Edge rules": producer row -> consumer column: action / result / searched
PAPER = {
    ("ILD&Var", "ILD&Var"): ("keep_both", "ILD&Var", "both"),
    ("ILD&Var", "ILI&Var"): ("try_fuse", "ILD&Var", "fused"),
    ("ILD&Var", "ILD&Fixed"): ("eliminate_second", "ILD&Var", "first"),
    ("ILD&Var", "ILI&Fixed"): ("eliminate_second", "ILD&Var", "first"),
    ("ILI&Var", "ILD&Var"): ("try_fuse", "ILD&Var", "fused"),
    ("ILI&Var", "ILI&Var"): ("try_fuse", "ILI&Var", "none"),
    ("ILI&Var", "ILD&Fixed"): ("eliminate_second", "ILI&Var", "none"),
    ("ILI&Var", "ILI&Fixed"): ("eliminate_second", "ILI&Var", "none"),
    ("ILD&Fixed", "ILD&Var"): ("eliminate_first", "ILD&Var", "second"),
    ("ILD&Fixed", "ILI&Var"): ("eliminate_first", "ILI&Var", "none"),
    ("ILD&Fixed", "ILD&Fixed"): ("eliminate_both", None, "none"),
    ("ILD&Fixed", "ILI&Fixed"): ("eliminate_both", None, "none"),
    ("ILI&Fixed", "ILD&Var"): ("eliminate_first", "ILD&Var", "second"),
    ("ILI&Fixed", "ILI&Var"): ("eliminate_first", "ILI&Var", "none"),
    ("ILI&Fixed", "ILD&Fixed"): ("eliminate_both", None, "none"),
    ("ILI&Fixed", "ILI&Fixed"): ("eliminate_both", None, "none"),
}


@pytest.mark.parametrize("pair", sorted(PAPER))
def test_edge_rules_match_the_paper(pair):
    rule = edge_rule(*pair)
    action, result, searched = PAPER[pair]
    assert rule.action is Action(action)
    assert (None if rule.result_group is None else str(rule.result_group)) == result
    assert rule.searched is Searched(searched)
    assert rule.why


def test_layouts_are_searched_only_on_edges_touching_ild_var():
    for p, c in itertools.product(ALL_GROUPS, ALL_GROUPS):
        assert (edge_rule(p, c).searched is not Searched.NONE) == (ILD_VAR in (p, c)), (p, c)


ORDER = ["one-to-one", "shuffle", "reorganize", "one-to-many", "many-to-many"]


def test_fusion_legality():
    assert can_fuse("many-to-many", "many-to-many").fusible is False  # Conv + Conv
    assert "not fused" in can_fuse("many-to-many", "many-to-many").reason
    for m in MappingType:
        assert can_fuse("one-to-one", m).fusible and can_fuse(m, "one-to-one").fusible
        assert fusion_rule("one-to-one", m).result is m
    assert fusion_rule("one-to-many", "many-to-many").verdict is Verdict.PROFILE
    assert can_fuse("one-to-many", "many-to-many").reason.startswith("one-to-many -> many-to-many: legal, decide by cost")
    for p, c in itertools.product(ORDER, ORDER):  # the fused op is the heavier of the two
        assert fusion_rule(p, c).result.value == max(p, c, key=ORDER.index)
    with pytest.raises(CompilerError, match="not one of"):
        can_fuse("one-to-one", "some-to-some")


def test_incomplete_or_duplicated_tables_are_rejected(tmp_path):
    with open(default_rules().source) as f:
        text = f.read()
    first = text.index("\n[[edge]]\n")
    second = text.index("\n[[edge]]\n", first + 1)
    path = tmp_path / "rules.toml"
    path.write_text(text[:first] + text[second:])  # drop the first edge rule
    with pytest.raises(CompilerError, match="no \\[\\[edge\\]\\] rule for \\['ILD&Var -> ILD&Var'\\]"):
        EdgeRules.load(path)
    path.write_text(text + '\n[[edge]]\nproducer = "ILD&Var"\nconsumer = "ILD&Var"\naction = "keep_both"\n'
                           'result = "ILD&Var"\nsearched = "both"\nwhy = "again"\n')
    with pytest.raises(CompilerError, match="appears twice"):
        EdgeRules.load(path)
    path.write_text(text.replace('action = "keep_both"', 'action = "keep_all"', 1))
    with pytest.raises(CompilerError, match="keep_all"):
        EdgeRules.load(path)
