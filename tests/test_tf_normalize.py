"""What the TensorFlow front end does to a converted graph before the rules read it, on ONNX
graphs written here (no TensorFlow needed): Reshapes moved out of elementwise chains."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from rewriter.api import find_sites
from rewriter.frontends.tf._convert import _sink_reshapes
from rewriter.ir import session


def _model(
    body: str, inits: dict[str, object], dims: str = "2, 8", out: str | None = None
) -> onnx.ModelProto:
    m = onnx.parser.parse_model(
        f'<ir_version: 8, opset_import: ["" : 17]>\n'
        f"g (float[{dims}] x) => (float[{out or dims}] y) {{\n {body}\n}}"
    )
    for k, v in inits.items():
        arr = v if isinstance(v, np.ndarray) else np.array(v, np.float32)
        m.graph.initializer.append(numpy_helper.from_array(arr, k))
    onnx.checker.check_model(m, full_check=True)
    return m


def _run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return np.asarray(session(m).run(None, {"x": x})[0])


def test_a_reshape_inside_an_elementwise_chain_moves_after_it() -> None:
    """jax2tf's logistic with a polymorphic batch: 1/(1 + reshape(exp(-x))). The Reshape goes
    below the Add and the Div (elementwise with scalar constants) and the sigmoid is a site."""
    m = _model(
        "n = Neg(x)\n e = Exp(n)\n r = Reshape(e, shape)\n a = Add(one, r)\n y = Div(one, a)",
        {"one": 1.0, "shape": np.array([2, 8], np.int64)},
        dims="16",
        out="2, 8",
    )
    assert find_sites(m) == []
    x = np.linspace(-6, 6, 16, dtype=np.float32)
    before = _run(m, x)
    assert _sink_reshapes(m.graph) == 1
    onnx.checker.check_model(m, full_check=True)
    assert [n.op_type for n in m.graph.node] == ["Neg", "Exp", "Add", "Div", "Reshape"]
    assert m.graph.node[-1].output[0] == "y"
    np.testing.assert_array_equal(_run(m, x), before)
    assert [s.function for s in find_sites(m)] == ["sigmoid"]
