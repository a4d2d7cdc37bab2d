"""Activations with a native ONNX op (after the composite families, see ``patterns``).

Parameters are read from the node's attributes (defaults from the op schema).
"""

from rewriter.match.pattern import Alt, Param, Var, op
from rewriter.match.rules import Rule

x = Var("x")

# ELU as XLA writes it (jax.nn.elu/celu/selu through jax2tf): select(x > 0, x, alpha *
# expm1(select(x > 0, 0, x))), the inner select keeping exp finite; tf2onnx spells that select
# as its arithmetic blend, cast(c) * 0 + x * cast(not c). SELU's scale lands in the next MatMul
# after TensorFlow's TFLite converter folds it, which leaves an ELU of SELU's alpha. Written by
# hand (torch.where(x > 0, x, torch.expm1(x))) the inner select is not there.
_pos = op.Greater(x, 0)
_safe = Alt((op.Cast(_pos) * 0 + x * op.Cast(op.Not(_pos)), op.Where(_pos, 0, x), x))


def _prelu(params: dict[str, float]) -> tuple[str, dict[str, float]]:
    return "prelu", {"slope": params["slope"]}


def _selu(params: dict[str, float]) -> tuple[str, dict[str, float]]:
    return "selu", {}


_prelu.function_name = "prelu"  # type: ignore[attr-defined]
_selu.function_name = "selu"  # type: ignore[attr-defined]

RULES = [
    Rule("tanh", op.Tanh(x), "tanh", spelling="ONNX Tanh"),
    Rule("sigmoid", op.Sigmoid(x), "sigmoid", spelling="ONNX Sigmoid (also SE/GLU/LSTM gates)"),
    # XLA's logistic as jax2tf leaves it where TensorFlow's TFLite converter has no LOGISTIC
    # (a polymorphic batch), and the hand-written 1/(1+exp(-x))
    Rule("sigmoid_exp", 1 / (op.Exp(-x) + 1), "sigmoid", spelling="1/(1+exp(-x))"),
    Rule("elu", op.Elu(x, alpha=Param("alpha")), "elu", spelling="ONNX Elu"),
    Rule(
        "elu_select",
        op.Where(_pos, x, (op.Exp(_safe) - 1) * Param("alpha")),
        "elu",
        spelling="where(x>0, x, alpha*expm1(where(x>0, 0, x))) (XLA)",
    ),
    Rule(
        "elu_select_1",
        op.Where(_pos, x, op.Exp(_safe) - 1),
        "elu",
        spelling="where(x>0, x, expm1(where(x>0, 0, x))) (XLA, alpha 1)",
        params={"alpha": 1.0},
    ),
    # default SELU constants only: the catalogue's selu is the standard one
    Rule("selu", op.Selu(x, alpha=1.6732632, gamma=1.0507010), _selu, spelling="ONNX Selu"),
    Rule("celu", op.Celu(x, alpha=Param("alpha")), "celu", spelling="ONNX Celu"),
    # jax.nn.celu (alpha 1): max(x, 0) + expm1(min(x, 0))
    Rule(
        "celu_max_min",
        Alt((op.Relu(x), op.Max(x, 0))) + (op.Exp(op.Min(x, 0)) - 1),
        "celu",
        spelling="max(x,0) + expm1(min(x,0)) (XLA, alpha 1)",
        params={"alpha": 1.0},
    ),
    Rule("softsign", op.Softsign(x), "softsign", spelling="ONNX Softsign"),
    # the dynamo exporter takes a float16 |x| in float32: x / (Cast16(Abs(Cast32(x))) + 1)
    Rule(
        "softsign_decomposed",
        x / (1 + Alt((op.Abs(x), op.Cast(op.Abs(op.Cast(x)))))),
        "softsign",
        spelling="x/(1+|x|)",
    ),
    Rule(
        "leaky_relu", op.LeakyRelu(x, alpha=Param("alpha")), "leaky_relu", spelling="ONNX LeakyRelu"
    ),
    Rule("prelu_scalar", op.PRelu(x, Param("slope")), _prelu, spelling="ONNX PRelu, scalar slope"),
    Rule("relu", op.Relu(x), "relu", spelling="ONNX Relu"),
    Rule("relu6", op.Clip(x, 0, 6), "relu6", spelling="Clip(x, 0, 6)"),
    Rule(
        "hardsigmoid",
        op.HardSigmoid(x, alpha=Param("alpha"), beta=Param("beta")),
        "hardsigmoid",
        spelling="ONNX HardSigmoid",
    ),
]
