"""Mish: ``x * tanh(softplus(x))``."""

from rewriter.match.pattern import Var, op
from rewriter.match.rules import Rule

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
    Rule("mish_native", op.Mish(x), "mish", spelling="ONNX Mish (opset 18)"),
]
