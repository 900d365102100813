"""Operator groups: the paper's table, the operand-dependent cases, coverage of real exports, and
checks of the TOML table (every op a real ONNX op, bad files rejected with a message naming them)."""
from pathlib import Path

import onnx
import pytest

from smartmem_sim.compiler.errors import CompilerError
from smartmem_sim.compiler.groups import (
    ILD_FIXED,
    ILD_VAR,
    ILI_FIXED,
    ILI_VAR,
    Group,
    GroupTable,
    MappingType,
    classify,
    default_table,
    describe,
    mapping_type,
)

# ops that appear in transformer / CNN / diffusion ONNX exports (the task's list)
EXPORTED_OPS = """Conv ConvTranspose MatMul Gemm Einsum LayerNormalization GroupNormalization InstanceNormalization
BatchNormalization Softmax ReduceMean ReduceSum ReduceMax Pow Sqrt Erf Gelu Sigmoid Tanh Relu HardSwish HardSigmoid
Mul Add Sub Div Where Equal Cast Expand Tile Pad Resize MaxPool AveragePool GlobalAveragePool Concat Split Slice
Gather GatherElements ScatterND Reshape Transpose Flatten Squeeze Unsqueeze DepthToSpace SpaceToDepth Range CumSum
TopK Clip Neg Exp Log Abs Min Max Sin Cos Trilu MatMulInteger Shape ConstantOfShape Identity Less Greater Not
Reciprocal LeakyRelu ArgMax Constant""".split()


@pytest.mark.parametrize("op", EXPORTED_OPS)
def test_every_exported_op_is_classified(op):
    assert classify(op) in (ILD_VAR, ILI_VAR, ILD_FIXED, ILI_FIXED)


def test_every_table_entry_is_a_real_onnx_operator():
    unknown = sorted(op for op in default_table().op_types if not onnx.defs.has(op))
    assert unknown == []


@pytest.mark.parametrize(
    "ops, group",
    [
        (["Conv", "MatMul", "LayerNormalization", "Softmax"], ILD_VAR),
        (["Reshape", "Transpose", "DepthToSpace", "SpaceToDepth"], ILD_FIXED),
        (["Relu", "Sigmoid", "Erf", "Add"], ILI_VAR),
        (["Gather", "Slice"], ILI_FIXED),
    ],
)
def test_the_papers_table(ops, group):
    assert [classify(op) for op in ops] == [group] * len(ops)


def test_elementwise_with_inputs_in_different_layouts_is_not_ili():
    for op in ("Add", "Mul", "Sub", "Div", "Where", "Concat"):
        assert classify(op, inputs_share_layout=False) == ILD_VAR
        info = describe(op, inputs_share_layout=False)
        assert info.condition == "inputs_differ" and "layout" in info.why
    assert classify("Relu", inputs_share_layout=False) == ILI_VAR  # one data input: nothing to differ


def test_runtime_indices():
    assert classify("Gather", static_params=False) == ILD_VAR  # an embedding lookup
    assert classify("Slice", static_params=False) == ILI_VAR  # kept as a copy kernel
    with pytest.raises(CompilerError, match="node 'r1' \\(Reshape\\).*constant-fold"):
        classify("Reshape", static_params=False, node_name="r1")
    assert classify("MatMul", static_params=False) == ILD_VAR


def test_mapping_types_follow_dnnfusion():
    assert mapping_type("Add") is MappingType.ONE_TO_ONE
    assert mapping_type("Conv") is MappingType.MANY_TO_MANY
    assert mapping_type("Expand") is MappingType.ONE_TO_MANY
    assert mapping_type("Reshape") is MappingType.REORGANIZE
    assert mapping_type("Transpose") is MappingType.SHUFFLE
    assert mapping_type("Resize") is MappingType.ONE_TO_MANY
    assert mapping_type("Resize", attrs={"mode": b"linear"}) is MappingType.MANY_TO_MANY
    with pytest.raises(CompilerError, match="mode='area'"):
        mapping_type("Resize", attrs={"mode": "area"}, node_name="up")


def test_missing_op_names_the_op_and_the_node():
    with pytest.raises(CompilerError, match="node '/blocks.0/Loop_3': operator 'Loop' is not in"):
        classify("Loop", node_name="/blocks.0/Loop_3")


def test_group_parse_and_print():
    assert str(ILD_VAR) == "ILD&Var" and Group.parse("ILI&Fixed") == ILI_FIXED
    with pytest.raises(CompilerError, match="not a group"):
        Group.parse("ILD/Var")


def test_zoo_models_are_covered():
    models = sorted(Path(__file__).resolve().parents[2].glob("smartmem_sim/zoo/models/*.onnx"))
    if not models:
        pytest.skip("no ONNX models in smartmem_sim/zoo/models yet")
    missing = {}
    for path in models:
        model = onnx.load(str(path), load_external_data=False)
        for node in model.graph.node:
            if node.domain in ("", "ai.onnx") and node.op_type not in default_table().op_types:
                missing.setdefault(node.op_type, path.name)
    assert missing == {}


def _write(tmp_path, text):
    path = tmp_path / "groups.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ('[family.a]\ngroup = "ILD&Var"\nmapping = "one-to-one"\nwhy = "x"\nops = ["Relu"]\ncolour = 1\n', "unknown keys \\['colour'\\]"),
        ('[family.a]\ngroup = "ILD&Var"\nmapping = "one-to-one"\nwhy = "x"\nops = ["Relu"]\n'
         '[family.b]\ngroup = "ILI&Var"\nmapping = "one-to-one"\nwhy = "x"\nops = ["Relu"]\n', "'Relu' is listed in family 'a' and in 'b'"),
        ('[family.a]\ngroup = "ILD"\nmapping = "one-to-one"\nwhy = "x"\nops = ["Relu"]\n', "\\[family.a\\] group"),
        ('[family.a]\ngroup = "ILD&Var"\nmapping = "few-to-few"\nwhy = "x"\nops = ["Relu"]\n', "few-to-few"),
        ('[family.a]\ngroup = "ILD&Var"\nwhy = "x"\nops = ["Relu"]\n', "missing key 'mapping'"),
        ("[family.a\n", "not valid TOML"),
    ],
)
def test_bad_tables_are_rejected_with_the_file_and_family(tmp_path, text, message):
    with pytest.raises(CompilerError, match=message):
        GroupTable.load(_write(tmp_path, text))


def test_missing_file_is_a_compiler_error(tmp_path):
    with pytest.raises(CompilerError, match="cannot read"):
        GroupTable.load(tmp_path / "nope.toml")
