"""numpy, torch (PAU) and ONNX Runtime (emit_onnx, function_proto) agree; NaN and +-inf."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from rewriter.functions import get_function
from rewriter.rational import PAU, Rational, emit_onnx, fit, function_proto, table_rational

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], dtype=np.float32)
X = np.concatenate([np.linspace(-60, 60, 4001, dtype=np.float32), SPECIAL])

CASES = {
    "gelu_gated": lambda: table_rational("gelu", (5, 4)),
    "silu_gated": lambda: table_rational("silu", (7, 6)),
    "tanh": lambda: table_rational("tanh", (5, 4)),
    "sigmoid_odd": lambda: table_rational("sigmoid", (7, 6)),
    "mish_gated_x": lambda: table_rational("mish", (5, 4)),
    "softplus_relu_plus": lambda: table_rational("softplus", (5, 4)),
    "selu_relu_plus": lambda: table_rational("selu", (4, 3)),
    "leaky_clamped": lambda: table_rational("leaky_relu", (5, 4)),
    "softsign_pau": lambda: table_rational("softsign", (3, 2)),
    "tanh_pau_raw": lambda: fit("tanh", -3, 3, (5, 4), "pau"),
    "silu_pau_b": lambda: fit("silu", -4, 4, (4, 4), "pau_b"),
}


def _model(nodes, inits, dtype=TensorProto.FLOAT, functions=(), opsets=(("", 13),)):  # type: ignore[no-untyped-def]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", dtype, [None])],
        [helper.make_tensor_value_info("y", dtype, [None])],
        inits,
    )
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], functions=list(functions)
    )
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def _ort(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def _close(a: np.ndarray, b: np.ndarray, tol: float = 2e-5) -> None:
    assert np.array_equal(np.isnan(a), np.isnan(b))
    fin = ~np.isnan(a)
    np.testing.assert_allclose(a[fin], b[fin], rtol=tol, atol=tol)


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_torch_onnx_agree(case: str) -> None:
    r: Rational = CASES[case]()
    yn = r(X)
    assert yn.dtype == np.float32
    yt = PAU(r)(torch.from_numpy(X)).detach().numpy()
    nodes, inits = emit_onnx(r, "x", "y", prefix="pau/s0/", const_prefix="pau/c/")
    assert all(n.name.startswith("pau/s0/") for n in nodes)
    assert all(o.startswith("pau/s0/") or o == "y" for n in nodes for o in n.output)
    assert all(t.name.startswith("pau/c/") and list(t.dims) == [] for t in inits)
    assert nodes[0].doc_string == r.describe() == nodes[-1].doc_string
    yo = _ort(_model(nodes, inits), X)
    fp = function_proto(r, "act")
    m2 = _model(
        [helper.make_node("act", ["x"], ["y"], domain="pau")],
        [],
        functions=[fp],
        opsets=(("", 13), ("pau", 1)),
    )
    yf = _ort(m2, X)
    scale = np.maximum(1.0, np.abs(np.nan_to_num(yn, posinf=1, neginf=1)))
    for other in (yt, yo, yf):
        _close(yn / scale, other / scale)
    # NaN in -> NaN out; +-inf -> finite or the right infinity, never NaN
    for y in (yn, yt, yo, yf):
        assert np.isnan(y[X.size - 7])
        assert not np.any(np.isnan(y[X.size - 6 :]))
    # emission is deterministic
    nodes2, inits2 = emit_onnx(r, "x", "y", prefix="pau/s0/", const_prefix="pau/c/")
    assert [n.SerializeToString() for n in nodes] == [n.SerializeToString() for n in nodes2]
    assert [t.SerializeToString() for t in inits] == [t.SerializeToString() for t in inits2]


@pytest.mark.parametrize("name", ["gelu", "silu", "tanh", "sigmoid", "softplus", "elu", "mish"])
def test_infinities_are_limits(name: str) -> None:
    r = table_rational(name, (5, 4))
    f = get_function(name)
    x = np.array([-np.inf, np.inf], dtype=np.float32)
    want = f(np.array([-1e4, 1e4]))
    want = np.where(np.abs(want) > 1e3, np.copysign(np.inf, want), want)
    nodes, inits = emit_onnx(r, "x", "y", prefix="p/", const_prefix="c/")
    for y in (r(x), PAU(r)(torch.from_numpy(x)).detach().numpy(), _ort(_model(nodes, inits), x)):
        np.testing.assert_allclose(y, want, atol=2e-3)


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16])
def test_emit_other_dtypes(dtype: int) -> None:
    r = table_rational("gelu", (5, 4))
    nodes, inits = emit_onnx(r, "x", "y", prefix="p/", const_prefix="c/", dtype=dtype)
    m = _model(nodes, inits, dtype, opsets=(("", 17),))
    if dtype == TensorProto.BFLOAT16:
        return  # checked by onnx; ORT CPU has no bfloat16 Cast-free path for this test
    npd = np.float16 if dtype == TensorProto.FLOAT16 else np.float64
    x = np.linspace(-8, 8, 257).astype(npd)
    y = _ort(m, x)
    assert y.dtype == npd
    tol = 1e-2 if npd is np.float16 else 1e-9
    np.testing.assert_allclose(y.astype(np.float64), r(x.astype(np.float64)), atol=tol, rtol=tol)


def test_shared_initializers_have_same_names() -> None:
    r = table_rational("gelu", (5, 4))
    _, a = emit_onnx(r, "x", "y", prefix="s1/", const_prefix="pau/gelu_5_4/")
    _, b = emit_onnx(r, "z", "w", prefix="s2/", const_prefix="pau/gelu_5_4/")
    assert [t.SerializeToString() for t in a] == [t.SerializeToString() for t in b]
