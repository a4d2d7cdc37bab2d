"""SiLU / Swish: ``x * sigmoid(beta x)``; beta = 1 is SiLU.

A Sigmoid that multiplies a *different* tensor is not SiLU; it stays a ``sigmoid`` site
(``patterns.native``).
"""

from rewriter.match.pattern import Param, Var, op
from rewriter.match.rules import Rule

x = Var("x")


def _swish(params: dict[str, float]) -> tuple[str, dict[str, float]]:
    beta = params["beta"]
    return ("silu", {}) if abs(beta - 1.0) <= 1e-4 else ("swish", {"beta": beta})


_swish.function_name = "swish"  # type: ignore[attr-defined]

RULES = [
    # x*Sigmoid(x) either order; PP-OCR's extra Mul(x, 1.0) is seen through
    Rule("silu", x * op.Sigmoid(x), "silu", spelling="torch/tf/paddle x*sigmoid(x)"),
    # Swish-beta x*Sigmoid(beta*x) (EfficientNet-style exports); beta == 1 is reported as silu
    Rule("swish", x * op.Sigmoid(x * Param("beta")), _swish, spelling="x*sigmoid(beta*x)"),
    # with the sigmoid spelled 1/(1+exp(-x)) (jax2tf with a polymorphic batch, hand-written)
    Rule("silu_exp", x * (1 / (op.Exp(-x) + 1)), "silu", spelling="x*(1/(1+exp(-x)))"),
    Rule("silu_exp_div", x / (op.Exp(-x) + 1), "silu", spelling="x/(1+exp(-x))"),
    # ONNX Runtime's fusion of x*sigmoid(alpha x) (its sessions at ORT_ENABLE_EXTENDED, the
    # transformer optimizer: CLIP's QuickGELU); an alpha left out is given on load
    Rule(
        "swish_ort",
        op.QuickGelu(x, alpha=Param("beta"), _domain="com.microsoft"),
        _swish,
        spelling="com.microsoft QuickGelu (ONNX Runtime's fusion)",
    ),
]
