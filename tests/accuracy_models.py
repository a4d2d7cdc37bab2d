"""The small MLP (erf GELU, then SiLU) the accuracy-map and budget-search tests share."""

from __future__ import annotations

import numpy as np
import onnx

MODEL_TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
mlp (float[N, 8] x) => (float[N, 4] y) <float[8, 16] w1, float[16, 16] w2, float[16, 4] w3> {
    h1 = MatMul(x, w1)
    d = Div(h1, c_sqrt2)
    e = Erf(d)
    e1 = Add(e, c_one)
    g = Mul(h1, e1)
    a1 = Mul(g, c_half)
    h2 = MatMul(a1, w2)
    s = Sigmoid(h2)
    a2 = Mul(h2, s)
    y = MatMul(a2, w3)
}
"""


def make_model() -> onnx.ModelProto:
    m = onnx.parser.parse_model(MODEL_TEXT)
    rng = np.random.default_rng(0)
    inits = {
        "w1": rng.normal(0, 0.6, (8, 16)),
        "w2": rng.normal(0, 0.5, (16, 16)),
        "w3": rng.normal(0, 0.5, (16, 4)),
    }
    consts = {"c_sqrt2": np.sqrt(2.0), "c_one": 1.0, "c_half": 0.5}
    for k, v in inits.items():
        m.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(v, np.float32), k))
    for k, v in consts.items():
        m.graph.initializer.append(onnx.numpy_helper.from_array(np.array(v, np.float32), k))
    onnx.checker.check_model(m, full_check=True)
    return m
