"""Saturating forms reach their limits exactly, in numpy, torch (PAU) and ONNX Runtime alike.

DESIGN.md section 4: a sigmoid tail stuck at the clamp value (1.9e-5 instead of ~1e-9) made a
text detector's background probabilities 10^4 times too large while the max-abs error looked
fine. Beyond the clamp R passes its bound and ``r_clip`` returns the bound itself, so F is the
function's exact limit there (0 and 1 for sigmoid, -1 and 1 for tanh, 0 on the left of
GELU/SiLU/Mish/Softplus, -alpha (times scale) for ELU/SELU/CELU, and x itself on the right of the
gated and relu-plus forms).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from rewriter.functions import FUNCTIONS, SELU_ALPHA, SELU_SCALE
from rewriter.rational import PAU, Rational, emit_onnx, fit, table_rational
from rewriter.rational.table import TABLE_DEGREES

# (value at -inf, value at +inf); "x": F(x) = x exactly for large x
LIMITS: dict[str, tuple[float, float | str | None]] = {
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "gelu": (0.0, "x"),
    "gelu_tanh": (0.0, "x"),
    "silu": (0.0, "x"),
    "mish": (0.0, "x"),
    "softplus": (0.0, "x"),
    "elu": (-1.0, "x"),
    "celu": (-1.0, "x"),
    "selu": (-SELU_SCALE * SELU_ALPHA, "scale"),
    "relu": (0.0, None),  # right: x + (R(c) - c), R(c) only close to c
}
CASES = [(n, d) for n in sorted(LIMITS) for d in TABLE_DEGREES]


def _ort(r: Rational, x: np.ndarray) -> np.ndarray:
    nodes, inits = emit_onnx(r, "x", "y", prefix="p/", const_prefix="c/")
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def _torch(r: Rational, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return PAU(r)(torch.from_numpy(x)).numpy()


def _tail_points(r: Rational) -> tuple[np.ndarray, np.ndarray]:
    """Inputs at and beyond the clamp, on the left and on the right (float32)."""
    assert r.clamp is not None
    lo, hi = (v / r.s for v in r.clamp)
    if r.parity == "abs":
        lo, hi = -hi, hi
    left = [-np.inf, -1e30, -1e4, -41.0, lo * 1.5, lo - 1.0, np.nextafter(np.float32(lo), -1)]
    right = [np.inf, 1e30, 1e4, 41.0, hi * 1.5, hi + 1.0, np.nextafter(np.float32(hi), 1)]
    if lo != 0.0:
        left.append(lo)
    if hi != 0.0:
        right.append(hi)
    return np.array(left, np.float32), np.array(right, np.float32)


@pytest.mark.parametrize("name,deg", CASES)
def test_limits_exact_in_numpy_torch_and_onnxruntime(name: str, deg: tuple[int, int]) -> None:
    r = table_rational(name, deg)
    assert r.r_clip is not None, f"{name} {deg}: form {r.form} has no exact limits"
    left, right = _tail_points(r)
    lim_lo, lim_hi = LIMITS[name]
    runs = {"numpy": r, "torch": lambda x: _torch(r, x), "onnxruntime": lambda x: _ort(r, x)}
    for where, run in runs.items():
        got_l, got_r = np.asarray(run(left)), np.asarray(run(right))
        assert got_l.dtype == np.float32, where
        # the left limit itself, not the clamp value (float32 rounding of -scale*alpha allowed)
        np.testing.assert_array_equal(got_l, np.full_like(left, np.float32(lim_lo)), where)
        if lim_hi is None:
            continue
        if lim_hi == "x":
            np.testing.assert_array_equal(got_r[np.isfinite(right)], right[np.isfinite(right)])
            assert got_r[0] == np.inf
        elif lim_hi == "scale":  # x * scale, rounded once (float32) or twice (numpy's float64)
            np.testing.assert_allclose(got_r, right * np.float32(SELU_SCALE), rtol=2e-7)
        else:
            np.testing.assert_array_equal(got_r, np.full_like(right, np.float32(lim_hi)))


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_nan_stays_nan(name: str) -> None:
    r = table_rational(name, (5, 4))
    x = np.array([np.nan, 1.0], np.float32)
    for got in (r(x), _torch(r, x), _ort(r, x)):
        assert np.isnan(got[0]) and np.isfinite(got[1])


def test_limits_hold_for_fits_on_the_fly_and_weighted_fits() -> None:
    x = np.array([-np.inf, -1e4, 1e4, np.inf], np.float32)
    r = table_rational("elu", (5, 4), alpha=0.5)
    np.testing.assert_array_equal(r(x), np.array([-0.5, -0.5, 1e4, np.inf], np.float32))
    obs = np.random.default_rng(0).normal(0.0, 2.0, 4000)
    s = fit("sigmoid", degrees=(5, 4), samples=obs)
    np.testing.assert_array_equal(s(x), np.array([0, 0, 1, 1], np.float32))
    g = fit("gelu", degrees=(3, 2), samples=obs)
    np.testing.assert_array_equal(g(x), np.array([0, 0, 1e4, np.inf], np.float32))


def test_sigmoid_tail_is_zero_not_the_clamp_value() -> None:
    """What the text detector needed: tiny probabilities stay tiny (here exactly 0 beyond the
    clamp), never the clamp value; state the relative error on the tail."""
    r = table_rational("sigmoid", (5, 4))
    f = FUNCTIONS["sigmoid"].bind()
    x = np.linspace(-30, -5, 2501)
    y, t = r(x), f(x)
    assert np.all(y >= 0.0) and np.all(y <= t + r.global_error)
    beyond = x <= r.clamp[0] / r.s
    assert np.all(y[beyond] == 0.0)
    # absolute error on the tail is never above the global error
    assert float(np.max(np.abs(y - t))) <= r.global_error * (1 + 1e-9)
    # relative error: within [0, 2 sigmoid(x)] on [-30, -5] (the old tail: 2e8 times too
    # large at -30), under 5% on [-8, -5]
    assert np.all(y <= 2.0 * t)
    near = x >= -8.0
    assert float(np.max(np.abs(y[near] - t[near]) / t[near])) < 0.05
