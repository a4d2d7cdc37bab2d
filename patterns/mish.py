"""Mish: ``x * tanh(softplus(x))``."""

from rewriter.match.pattern import Var, op
from rewriter.match.rules import Rule

from .softplus import GUARDED, STABLE

x = Var("x")

RULES = [
    Rule(
        "mish_decomposed", x * op.Tanh(op.Softplus(x)), "mish", spelling="torch < opset 18 export"
    ),
    Rule(
        "mish_decomposed_log",
        x * op.Tanh(op.Log(op.Exp(x) + 1)),
        "mish",
        spelling="log(1+exp(x)) softplus",
    ),
    Rule("mish_guarded", x * op.Tanh(GUARDED), "mish", spelling="JAX's mish"),
    Rule("mish_stable", x * op.Tanh(STABLE), "mish", spelling="x*tanh(max(x,0)+log(1+exp(-|x|)))"),
    Rule("mish_native", op.Mish(x), "mish", spelling="ONNX Mish (opset 18)"),
]
