"""Softplus ``log(1 + exp(x))``."""

from rewriter.match.pattern import Alt, Var, op
from rewriter.match.rules import Rule

x = Var("x")

# the overflow-free spelling: max(x, 0) + log(1 + exp(-|x|)) (TensorFlow's, JAX's logaddexp);
# JAX wraps it in its NaN guard, where(x != x, x, ...)
STABLE = Alt((op.Relu(x), op.Max(x, 0))) + op.Log(op.Exp(-op.Abs(x)) + 1)
GUARDED = op.Where(op.Not(op.Equal(x, x)), x, STABLE)

RULES = [
    Rule("softplus_native", op.Softplus(x), "softplus", spelling="ONNX Softplus"),
    Rule("softplus_guarded", GUARDED, "softplus", spelling="JAX's softplus (logaddexp(x, 0))"),
    Rule("softplus_stable", STABLE, "softplus", spelling="max(x,0) + log(1+exp(-|x|))"),
    Rule("softplus_log_exp", op.Log(op.Exp(x) + 1), "softplus", spelling="Log(Add(Exp(x), 1))"),
]
