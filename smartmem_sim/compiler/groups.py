"""Operator groups: ONNX op type -> (ILD|ILI) x (Var|Fixed) and DNNFusion mapping type, from data.

The table is smartmem_sim/compiler/data/op_groups.toml (families of ops with one classification each, plus
operand-dependent overrides); its header documents the fields and the decisions taken where
the paper's table is silent. ``classify`` answers the group of one node, ``describe`` also says
which family and override decided it and why (for ``smartmem explain``).
"""
from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path

from smartmem_sim.compiler.data_tables import read_toml
from smartmem_sim.compiler.errors import CompilerError

DEFAULT_TABLE = Path(__file__).with_name("data") / "op_groups.toml"


class Sensitivity(Enum):
    """Is the operator's performance dependent on its input layout?"""

    ILD = "ILD"
    ILI = "ILI"


class OutputFreedom(Enum):
    """Can the operator write its output in any layout (Var), or is it fixed by its definition?"""

    VARIABLE = "Var"
    FIXED = "Fixed"


class MappingType(Enum):
    """DNNFusion's mapping type of an operator (input elements -> output elements)."""

    ONE_TO_ONE = "one-to-one"
    ONE_TO_MANY = "one-to-many"
    MANY_TO_MANY = "many-to-many"
    REORGANIZE = "reorganize"
    SHUFFLE = "shuffle"

    @classmethod
    def parse(cls, text: str | MappingType, where: str = "mapping type") -> MappingType:
        if isinstance(text, MappingType):
            return text
        try:
            return cls(text)
        except ValueError:
            raise CompilerError(f"{where}: {text!r} is not one of {[m.value for m in cls]}") from None


@dataclass(frozen=True)
class Group:
    """One of the paper's four operator groups, written like ``ILD&Var``."""

    input: Sensitivity
    output: OutputFreedom

    @classmethod
    def parse(cls, text: str | Group, where: str = "group") -> Group:
        if isinstance(text, Group):
            return text
        parts = str(text).split("&")
        try:
            if len(parts) != 2:
                raise ValueError
            return cls(Sensitivity(parts[0]), OutputFreedom(parts[1]))
        except ValueError:
            raise CompilerError(
                f"{where}: {text!r} is not a group; use one of ILD&Var, ILI&Var, ILD&Fixed, ILI&Fixed"
            ) from None

    @property
    def is_ild(self) -> bool:
        return self.input is Sensitivity.ILD

    @property
    def is_fixed(self) -> bool:
        return self.output is OutputFreedom.FIXED

    def __str__(self) -> str:
        return f"{self.input.value}&{self.output.value}"


ILD_VAR = Group(Sensitivity.ILD, OutputFreedom.VARIABLE)
ILI_VAR = Group(Sensitivity.ILI, OutputFreedom.VARIABLE)
ILD_FIXED = Group(Sensitivity.ILD, OutputFreedom.FIXED)
ILI_FIXED = Group(Sensitivity.ILI, OutputFreedom.FIXED)
ALL_GROUPS = (ILD_VAR, ILI_VAR, ILD_FIXED, ILI_FIXED)


@dataclass(frozen=True)
class Family:
    """One [family.*] table of op_groups.toml."""

    name: str
    group: Group
    mapping: MappingType
    why: str
    ops: tuple[str, ...]
    inputs_differ: Group | None = None
    dynamic_params: Group | None = None
    mapping_attr: str | None = None
    mapping_default: str | None = None
    mapping_values: tuple[tuple[str, MappingType], ...] = ()


@dataclass(frozen=True)
class OpClass:
    """The classification of one node and how it was reached."""

    op_type: str
    group: Group
    mapping: MappingType
    family: str
    why: str
    condition: str | None  # "inputs_differ" / "dynamic_params" when an override decided the group


_FAMILY_KEYS = {"group", "mapping", "why", "ops", "inputs_differ", "dynamic_params", "mapping_attr",
                "mapping_default", "mapping_values"}


def _load_family(name: str, raw: object, source: str) -> Family:
    where = f"{source} [family.{name}]"
    if not isinstance(raw, dict):
        raise CompilerError(f"{where}: must be a table")
    unknown = set(raw) - _FAMILY_KEYS
    if unknown:
        raise CompilerError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_FAMILY_KEYS)}")
    for key in ("group", "mapping", "why", "ops"):
        if key not in raw:
            raise CompilerError(f"{where}: missing key '{key}'")
    ops = raw["ops"]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o for o in ops):
        raise CompilerError(f"{where}: 'ops' must be a non-empty list of op type names")
    group = Group.parse(raw["group"], f"{where} group")
    mapping = MappingType.parse(raw["mapping"], f"{where} mapping")
    inputs_differ = Group.parse(raw["inputs_differ"], f"{where} inputs_differ") if "inputs_differ" in raw else None
    dynamic = Group.parse(raw["dynamic_params"], f"{where} dynamic_params") if "dynamic_params" in raw else None
    attr = raw.get("mapping_attr")
    values: tuple[tuple[str, MappingType], ...] = ()
    if attr is not None:
        table = raw.get("mapping_values")
        if not isinstance(table, dict) or not table or raw.get("mapping_default") not in table:
            raise CompilerError(f"{where}: mapping_attr needs a mapping_values table that includes mapping_default")
        values = tuple((str(k), MappingType.parse(v, f"{where} mapping_values.{k}")) for k, v in table.items())
    elif "mapping_values" in raw or "mapping_default" in raw:
        raise CompilerError(f"{where}: mapping_values / mapping_default need mapping_attr")
    return Family(name, group, mapping, str(raw["why"]), tuple(ops), inputs_differ, dynamic, attr,
                  raw.get("mapping_default"), values)


class GroupTable:
    """The operator-group table loaded from a TOML file (see op_groups.toml for the format)."""

    def __init__(self, families: tuple[Family, ...], source: str):
        self.source = source
        self.families = families
        self._by_op: dict[str, Family] = {}
        for fam in families:
            for op in fam.ops:
                if op in self._by_op:
                    raise CompilerError(
                        f"{source}: op '{op}' is listed in family '{self._by_op[op].name}' and in '{fam.name}'"
                    )
                self._by_op[op] = fam

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TABLE) -> GroupTable:
        path = Path(path)
        raw = read_toml(path, "operator-group table")
        extra = set(raw) - {"family"}
        if extra or not isinstance(raw.get("family"), dict):
            raise CompilerError(f"{path}: expected only [family.*] tables, found {sorted(extra) or 'no families'}")
        return cls(tuple(_load_family(n, f, str(path)) for n, f in raw["family"].items()), str(path))

    @property
    def op_types(self) -> frozenset[str]:
        return frozenset(self._by_op)

    def family(self, op_type: str, node_name: str | None = None) -> Family:
        fam = self._by_op.get(op_type)
        if fam is None:
            node = f"node '{node_name}'" if node_name else "a node"
            raise CompilerError(
                f"{node}: operator '{op_type}' is not in the operator-group table {self.source}; "
                "add it to the family whose group and mapping type fit (the file's header says how)"
            )
        return fam

    def describe(self, op_type: str, *, inputs_share_layout: bool = True, static_params: bool = True,
                 attrs: MappingABC[str, object] | None = None, node_name: str | None = None) -> OpClass:
        """Group, mapping type, family and reason of one node.

        Args:
            op_type: ONNX op type, e.g. ``"Add"``.
            inputs_share_layout: False when the node's data inputs are stored in different layouts
                (constants count as sharing; the compiler lays them out to match).
            static_params: False when indices / starts / shape inputs are runtime tensors.
            attrs: the node's ONNX attributes (name -> value); only mapping-changing ones are read.
            node_name: named in error messages.
        """
        fam = self.family(op_type, node_name)
        node = f"node '{node_name}' ({op_type})" if node_name else f"a {op_type} node"
        group, why, condition = fam.group, fam.why, None
        if not static_params:
            if fam.dynamic_params is not None:
                group, condition = fam.dynamic_params, "dynamic_params"
            elif fam.group.is_fixed:
                raise CompilerError(
                    f"{node}: its shape/axes parameters are runtime tensors, so it cannot be folded into an index "
                    "map; constant-fold them (static shapes) before compiling"
                )
        if not inputs_share_layout and fam.inputs_differ is not None and condition is None:
            group, condition = fam.inputs_differ, "inputs_differ"
        return OpClass(op_type, group, self._mapping(fam, attrs, node), fam.name, why, condition)

    def _mapping(self, fam: Family, attrs: MappingABC[str, object] | None, node: str) -> MappingType:
        if fam.mapping_attr is None:
            return fam.mapping
        value = (attrs or {}).get(fam.mapping_attr, fam.mapping_default)
        if isinstance(value, bytes):
            value = value.decode()
        for key, mapping in fam.mapping_values:
            if key == value:
                return mapping
        raise CompilerError(
            f"{node}: attribute {fam.mapping_attr}={value!r} is not one of {[k for k, _ in fam.mapping_values]} "
            f"known to {self.source}"
        )


@lru_cache(maxsize=1)
def default_table() -> GroupTable:
    """The shipped table (smartmem_sim/compiler/data/op_groups.toml), loaded once."""
    return GroupTable.load(DEFAULT_TABLE)


def describe(op_type: str, *, inputs_share_layout: bool = True, static_params: bool = True,
             attrs: MappingABC[str, object] | None = None, node_name: str | None = None) -> OpClass:
    """``GroupTable.describe`` on the shipped table."""
    return default_table().describe(op_type, inputs_share_layout=inputs_share_layout, static_params=static_params,
                                    attrs=attrs, node_name=node_name)


def classify(op_type: str, *, inputs_share_layout: bool = True, static_params: bool = True,
             attrs: MappingABC[str, object] | None = None, node_name: str | None = None) -> Group:
    """The group of one node (ILD&Var, ILI&Var, ILD&Fixed or ILI&Fixed); see ``describe``."""
    return describe(op_type, inputs_share_layout=inputs_share_layout, static_params=static_params,
                    attrs=attrs, node_name=node_name).group


def mapping_type(op_type: str, *, attrs: MappingABC[str, object] | None = None,
                 node_name: str | None = None) -> MappingType:
    """The DNNFusion mapping type of one node."""
    return describe(op_type, attrs=attrs, node_name=node_name).mapping
