"""Element-wise operators (unary, binary with numpy broadcasting, variadic, Where, Clip) as kernel bodies
and as fused epilogues. Every formula is a C float expression of the argument values; compute is float
in both storage types (no device we have does half arithmetic)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.ops.context import LaneContext, broadcast_coords, register
from smartmem_sim.kernels.ops.program import Phase
from smartmem_sim.layout.expr import Expr
from smartmem_sim.layout.plan import Epilogue


def flit(v: float) -> str:
    """A float literal in C."""
    v = float(v)
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    if math.isnan(v):
        return "NAN"
    return f"({v!r}f)"


def _gelu(a: str, attrs) -> str:
    if attrs.get("approximate", "none") in ("tanh", b"tanh"):
        return f"(0.5f*{a}*(1.0f + tanh(0.7978845608028654f*({a} + 0.044715f*{a}*{a}*{a}))))"
    return f"(0.5f*{a}*(1.0f + erf({a}*0.7071067811865476f)))"


UNARY: dict[str, Callable[[str, dict], str]] = {
    "Identity": lambda a, k: a,
    "Cast": lambda a, k: a,
    "Relu": lambda a, k: f"fmax({a}, 0.0f)",
    "Sigmoid": lambda a, k: f"(1.0f/(1.0f + exp(-{a})))",
    "Tanh": lambda a, k: f"tanh({a})",
    "Exp": lambda a, k: f"exp({a})",
    "Log": lambda a, k: f"log({a})",
    "Sqrt": lambda a, k: f"sqrt({a})",
    "Neg": lambda a, k: f"(-{a})",
    "Abs": lambda a, k: f"fabs({a})",
    "Erf": lambda a, k: f"erf({a})",
    "Reciprocal": lambda a, k: f"(1.0f/{a})",
    "Floor": lambda a, k: f"floor({a})",
    "Ceil": lambda a, k: f"ceil({a})",
    "Sin": lambda a, k: f"sin({a})",
    "Cos": lambda a, k: f"cos({a})",
    "Sign": lambda a, k: f"sign({a})",
    "Not": lambda a, k: f"(({a}) == 0.0f ? 1.0f : 0.0f)",
    "Softplus": lambda a, k: f"log(1.0f + exp({a}))",
    "Softsign": lambda a, k: f"({a}/(1.0f + fabs({a})))",
    "Gelu": _gelu,
    "LeakyRelu": lambda a, k: f"({a} >= 0.0f ? {a} : {flit(k.get('alpha', 0.01))}*{a})",
    "Elu": lambda a, k: f"({a} >= 0.0f ? {a} : {flit(k.get('alpha', 1.0))}*(exp({a}) - 1.0f))",
    "Selu": lambda a, k: (f"({flit(k.get('gamma', 1.0507009873554805))}*({a} > 0.0f ? {a} : "
                          f"{flit(k.get('alpha', 1.6732632423543772))}*(exp({a}) - 1.0f)))"),
    "HardSigmoid": lambda a, k: f"clamp({flit(k.get('alpha', 0.2))}*{a} + {flit(k.get('beta', 0.5))}, 0.0f, 1.0f)",
    "HardSwish": lambda a, k: f"({a}*clamp({a}*(1.0f/6.0f) + 0.5f, 0.0f, 1.0f))",
    "Mish": lambda a, k: f"({a}*tanh(log(1.0f + exp({a}))))",
}

BINARY: dict[str, Callable[[str, str], str]] = {
    "Add": lambda a, b: f"({a} + {b})",
    "Sub": lambda a, b: f"({a} - {b})",
    "Mul": lambda a, b: f"({a}*{b})",
    "Div": lambda a, b: f"({a}/{b})",
    "Pow": lambda a, b: f"pow({a}, {b})",
    "Max": lambda a, b: f"fmax({a}, {b})",
    "Min": lambda a, b: f"fmin({a}, {b})",
    "Equal": lambda a, b: f"(({a}) == ({b}) ? 1.0f : 0.0f)",
    "Less": lambda a, b: f"(({a}) < ({b}) ? 1.0f : 0.0f)",
    "Greater": lambda a, b: f"(({a}) > ({b}) ? 1.0f : 0.0f)",
    "LessOrEqual": lambda a, b: f"(({a}) <= ({b}) ? 1.0f : 0.0f)",
    "GreaterOrEqual": lambda a, b: f"(({a}) >= ({b}) ? 1.0f : 0.0f)",
    "And": lambda a, b: f"(({a}) != 0.0f && ({b}) != 0.0f ? 1.0f : 0.0f)",
    "Or": lambda a, b: f"(({a}) != 0.0f || ({b}) != 0.0f ? 1.0f : 0.0f)",
    "PRelu": lambda a, b: f"({a} >= 0.0f ? {a} : {b}*{a})",
}
VARIADIC = ("Sum", "Mean", "Max", "Min")


def formula(op_type: str, args: Sequence[str], attrs, where: str) -> str:
    """The C expression of ``op_type`` applied to argument expressions ``args``."""
    n = len(args)
    if op_type in UNARY and n == 1:
        return UNARY[op_type](args[0], dict(attrs))
    if op_type == "Clip":
        out = args[0]
        lo = args[1] if n > 1 and args[1] else (flit(attrs["min"]) if "min" in attrs else None)
        hi = args[2] if n > 2 and args[2] else (flit(attrs["max"]) if "max" in attrs else None)
        if lo is not None:
            out = f"fmax({out}, {lo})"
        if hi is not None:
            out = f"fmin({out}, {hi})"
        return out
    if op_type == "Where" and n == 3:
        return f"(({args[0]}) != 0.0f ? {args[1]} : {args[2]})"
    if op_type in VARIADIC and n != 2:
        if n < 1:
            raise KernelError(f"{where}: {op_type} without inputs")
        acc = args[0]
        fn = BINARY["Add" if op_type in ("Sum", "Mean") else op_type]
        for a in args[1:]:
            acc = fn(acc, a)
        return f"({acc}/{flit(n)})" if op_type == "Mean" else acc
    if op_type in BINARY and n == 2:
        return BINARY[op_type](args[0], args[1])
    if op_type in ("Sum", "Mean") and n == 2:
        s = BINARY["Add"](args[0], args[1])
        return f"({s}*0.5f)" if op_type == "Mean" else s
    raise KernelError(f"{where}: element-wise op '{op_type}' with {n} input(s) is not supported")


ELEMENTWISE = sorted(set(UNARY) | set(BINARY) | set(VARIADIC) | {"Clip", "Where"})


@register(*ELEMENTWISE)
def elementwise_body(ctx: LaneContext, out: tuple[Expr, ...]):
    reads = []
    args = []
    for i, op in enumerate(ctx.inputs):
        if op is None or (op.tensor == "" and ctx.step.op_type == "Clip"):
            args.append("")
            continue
        r = ctx.broadcast_read(i, out)
        reads.append(r)
        args.append(r.value)
    return [Phase(reads=tuple(reads))], formula(ctx.step.op_type, args, ctx.attrs, f"step '{ctx.step.id}'")


def epilogue_phase(ctx: LaneContext, epi: Epilogue, out: tuple[Expr, ...], result: str) -> tuple[Phase, str]:
    """Apply a fused element-wise operator to the lane's value ``result``."""
    reads = tuple(ctx.read(op, _bcast(op.shape, out), prefix="e") for op in epi.operands)
    held = ctx.fresh("r")
    values = [r.value for r in reads]
    args = [held, *values] if epi.result_first else [*values, held]
    expr = formula(epi.op_type, args, epi.attrs, f"step '{ctx.step.id}' epilogue '{epi.node}'")
    return Phase(reads=reads, before=f"const float {held} = {result};"), expr


def _bcast(shape, out):
    return broadcast_coords(shape, out)
