"""GELU: erf form ``0.5 x (1 + erf(x / sqrt 2))`` and tanh form (``gelu_tanh``).

Mul/Add chains match in any association and operand order, Div by a constant is Mul by its
reciprocal, and ``Pow(x, 3)`` is ``x*x*x``, so one formula covers the TorchScript, dynamo, Keras
and TensorFlow spellings listed beside each rule.
"""

from rewriter.match.pattern import SQRT2, Alt, Var, op
from rewriter.match.rules import Rule

x = Var("x")
K = 0.7978845608028654  # sqrt(2/pi)
C = 0.044715

RULES = [
    # 0.5x(1+erf(x/sqrt2)): TorchScript Mul(Mul(x, Add(Erf(Div(x,1.4142)),1)),0.5), dynamo
    # Mul(x, Mul(0.5, ...)), Keras Div(x, Sqrt(2)), TensorFlow Mul(x, 0.70710677)
    Rule(
        "gelu_erf",
        x * 0.5 * (1 + op.Erf(x / SQRT2)),
        "gelu",
        spelling="torch/keras/tf decomposed erf GELU",
    ),
    # 0.5x erfc(-x/sqrt2), JAX's and hand-written code's spelling; erfc(z) exported (or lowered
    # from torch.fx) as 1 - erf(z)
    Rule(
        "gelu_erfc",
        x * 0.5 * (1 - op.Erf(Alt((-x / SQRT2, -(x / SQRT2), x / -SQRT2)))),
        "gelu",
        spelling="0.5x erfc(-x/sqrt2), erfc as 1 - erf",
    ),
    # opset 20 native Gelu
    Rule("gelu_native", op.Gelu(x, approximate="none"), "gelu", spelling="ONNX Gelu (opset 20)"),
    # 0.5x(1+tanh(k(x + c x^3))): dynamo Pow(x,3), TorchScript x*(x*x); GPT-2 k x (1 + c x x)
    Rule(
        "gelu_tanh_decomposed",
        x * 0.5 * (1 + op.Tanh(Alt((K * (x + C * x**3), K * x * (1 + C * x * x))))),
        "gelu_tanh",
        spelling="torch/GPT-2 decomposed tanh GELU",
    ),
    Rule(
        "gelu_tanh_native",
        op.Gelu(x, approximate="tanh"),
        "gelu_tanh",
        spelling="ONNX Gelu(approximate=tanh)",
    ),
    # ONNX Runtime's fusions (its sessions at ORT_ENABLE_EXTENDED, the transformer optimizer);
    # their bias forms (BiasGelu, FastGelu with a bias) have the Add split off on load
    Rule(
        "gelu_ort",
        op.Gelu(x, _domain="com.microsoft"),
        "gelu",
        spelling="com.microsoft Gelu (ONNX Runtime's fusion)",
    ),
    Rule(
        "gelu_tanh_ort",
        op.FastGelu(x, _domain="com.microsoft"),
        "gelu_tanh",
        spelling="com.microsoft FastGelu (ONNX Runtime's fusion)",
    ),
]
