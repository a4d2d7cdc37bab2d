"""HardSwish ``x * relu6(x + 3) / 6`` and HardSigmoid.

A HardSigmoid gating a different tensor is a ``hardsigmoid`` site, not HardSwish.
"""

from rewriter.match.pattern import Var, op
from rewriter.match.rules import Rule

x = Var("x")
SIXTH = 1.0 / 6.0

RULES = [
    Rule("hardswish_native", op.HardSwish(x), "hardswish", spelling="ONNX HardSwish (opset 14)"),
    # x * Clip(x+3, 0, 6) / 6: PP-OCR, torch decomposition; Div by 6 or Mul by 1/6
    Rule("hardswish_clip", x * op.Clip(x + 3, 0, 6) / 6, "hardswish", spelling="x*Clip(x+3,0,6)/6"),
    # HardSigmoid(alpha=1/6, beta=0.5)(x) * x: tf2onnx, older torch
    Rule(
        "hardswish_hardsigmoid",
        x * op.HardSigmoid(x, alpha=SIXTH, beta=0.5),
        "hardswish",
        spelling="x*HardSigmoid(x)",
    ),
    # Clip(x+3, 0, 6)/6 gating another tensor: Keras 3's hard_sigmoid (relu6(x + 3) / 6)
    # through tf2onnx, MobileNetV3's squeeze-excitation gates; it was read as a relu6 site
    Rule(
        "hardsigmoid_clip",
        op.Clip(x + 3, 0, 6) / 6,
        "hardsigmoid",
        spelling="Clip(x+3,0,6)/6",
        params={"alpha": SIXTH, "beta": 0.5},
    ),
]
