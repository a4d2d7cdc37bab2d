"""Softplus ``log(1 + exp(x))``."""

from rewriter.match.pattern import Var, op
from rewriter.match.rules import Rule

x = Var("x")

RULES = [
    Rule("softplus_native", op.Softplus(x), "softplus", spelling="ONNX Softplus"),
    Rule("softplus_log_exp", op.Log(op.Exp(x) + 1), "softplus", spelling="Log(Add(Exp(x), 1))"),
]
