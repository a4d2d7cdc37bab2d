"""What the TensorFlow front end does to a converted graph before the rules read it, on ONNX
graphs written here (no TensorFlow needed): Reshapes moved out of elementwise chains, and XLA's
select-laden lowerings identified by their values (``rewriter.frontends.tf._xla``)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from rewriter.api import find_sites
from rewriter.frontends.tf._convert import _sink_reshapes
from rewriter.frontends.tf._xla import identify
from rewriter.ir import session

C = 0.7071067811865476


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


# GELU with the erf behind a select on the sign (x >= 0: erf(x c); else -erf(-x c)): what no
# rule spells, as XLA's erfc pieces are not
GUARDED_GELU = (
    "n = Neg(x)\n nc = Mul(n, c)\n en = Erf(nc)\n neg = Neg(en)\n pc = Mul(x, c)\n ep = Erf(pc)\n"
    " s = Less(x, zero)\n e = Where(s, neg, ep)\n a = Add(e, one)\n h = Mul(x, half)\n"
    " y = Mul(h, a)"
)


def test_a_select_laden_gelu_is_identified_by_its_values() -> None:
    m = _model(GUARDED_GELU, {"c": C, "zero": 0.0, "one": 1.0, "half": 0.5})
    # no rule reads it; in an ONNX file it is a site by its values, left as it is when kept
    assert [(s.function, s.rule) for s in find_sites(m)] == [("gelu", "identified")]
    x = np.random.default_rng(0).normal(0, 3, (2, 8)).astype(np.float32)
    before = _run(m, x)
    assert identify(m) == {"gelu": 1}
    onnx.checker.check_model(m, full_check=True)
    assert [n.op_type for n in m.graph.node] == ["Mul", "Erf", "Mul", "Add", "Mul"]
    np.testing.assert_allclose(_run(m, x), before, rtol=1e-6, atol=1e-7)
    assert [(s.function, s.rule) for s in find_sites(m)] == [("gelu", "gelu_erf")]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (GUARDED_GELU.replace("half)", "half2)"), "0.49 x (1 + erf(x/sqrt 2)): near, not GELU"),
        ("s = Less(x, zero)\n l = Mul(x, slope)\n a = Abs(x)\n b = Mul(a, one)\n"
         " y = Where(s, l, b)", "a leaky ReLU: no smooth function of the catalogue"),
    ],
)  # fmt: skip
def test_what_is_not_a_catalogue_function_stays(body: str, why: str) -> None:
    inits = {"c": C, "zero": 0.0, "one": 1.0, "half": 0.5, "half2": 0.49, "slope": 0.1}
    m = _model(body, {k: v for k, v in inits.items() if k in body})
    nodes = [n.op_type for n in m.graph.node]
    assert identify(m) == {}, why
    assert [n.op_type for n in m.graph.node] == nodes


def test_a_region_read_elsewhere_is_left_alone() -> None:
    """A value inside the region also read outside it (here: the erf output is a second graph
    output) keeps the region from being replaced: it would have no producer left."""
    m = _model(GUARDED_GELU, {"c": C, "zero": 0.0, "one": 1.0, "half": 0.5})
    m.graph.output.append(helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, [2, 8]))
    ops = [n.op_type for n in m.graph.node]
    assert identify(m) == {}  # (the erf alone, the region left, is no catalogue function)
    assert [n.op_type for n in m.graph.node] == ops


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
