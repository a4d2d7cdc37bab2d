"""fit(): accuracy targets, determinism, errors, serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter.functions import get_function
from rewriter.rational import GLOBAL_RANGE, FitError, Rational, fit

# (function, form, lo, hi, target max-abs error on [lo, hi])
TARGETS = [
    ("gelu", "auto", -40.0, 40.0, 5e-4),
    ("gelu_tanh", "auto", -40.0, 40.0, 5e-4),
    ("silu", "auto", -40.0, 40.0, 3e-4),
    ("tanh", "auto", -40.0, 40.0, 1e-4),
    ("sigmoid", "auto", -40.0, 40.0, 5e-5),
    ("tanh", "pau", -3.0, 3.0, 5e-6),
    ("silu", "pau", -5.0, 5.0, 5e-5),
    ("sigmoid", "pau", -3.0, 3.0, 1e-7),
]


@pytest.mark.parametrize("name,form,lo,hi,target", TARGETS)
def test_accuracy_target(name: str, form: str, lo: float, hi: float, target: float) -> None:
    r = fit(name, lo, hi, (5, 4), form)
    f = get_function(name)
    x = np.linspace(lo, hi, 200_001)  # denser than the fitter's own check
    err = float(np.max(np.abs(r(x) - f(x))))
    assert err <= target, r.describe()
    assert r.max_error == pytest.approx(err, rel=0.05)
    if (lo, hi) == GLOBAL_RANGE:
        assert r.global_error <= target
        # right far outside the range too
        xf = np.array([-1e6, -100.0, 100.0, 1e6])
        assert np.allclose(r(xf), f(xf), rtol=1e-6, atol=target)


def test_softsign_is_exact_pau() -> None:
    r = fit("softsign", -40, 40, (1, 1), "pau")
    assert r.global_error < 1e-12


def test_fit_deterministic_bit_for_bit() -> None:
    a = fit("tanh", -3, 3, (5, 4), "pau")
    b = fit("tanh", -3, 3, (5, 4), "pau")
    assert a.p.tobytes() == b.p.tobytes() and a.q.tobytes() == b.q.tobytes()
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


def test_callable_and_weights() -> None:
    r = fit(np.sin, -2, 2, (3, 2), "pau", name="sin")
    assert r.function == "sin" and r.max_error < 1e-3
    xs = np.linspace(-1, 1, 501)
    rw = fit(np.sin, -2, 2, (3, 2), "pau", weights=(xs, np.ones_like(xs)))
    assert float(np.max(np.abs(rw(xs) - np.sin(xs)))) < r.max_error
    rc = fit(np.sin, -2, 2, (3, 2), "pau", weights=lambda x: 1.0 + (np.abs(x) < 1))
    assert rc.max_error < 1e-2


def test_fit_with_params() -> None:
    r = fit("elu", -40, 40, (5, 4), params={"alpha": 0.5})
    assert r.params == {"alpha": 0.5} and r.global_error < 1e-4


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fit(lambda x: np.log(x), -1, 1), r"not finite on \[-1, 1\].*shrink the range"),
        (lambda: fit(lambda x: x / 0.0, -1, 1), "not finite"),
        (lambda: fit("tanh", 1, 1), r"empty range lo=1.0 >= hi=1.0; pass lo < hi"),
        (lambda: fit("tanh", 2, -2), "empty range"),
        (lambda: fit("tanh", -1, math.inf), "not finite"),
        (lambda: fit("tanh", -3, 3, (5, -1)), r"bad degrees \(5, -1\)"),
        (lambda: fit("tanh", -3, 3, (2.5, 2)), "bad degrees"),
        (lambda: fit("tanh", -3, 3, "54"), "bad degrees"),
        (lambda: fit("tanh", -3, 3, form="nope"), "unknown form 'nope'"),
        (lambda: fit("tanh", -3, 3, form="gated"), "does not apply"),
        (lambda: fit("nope", -3, 3), "unknown function 'nope'"),
        (lambda: fit("elu", -3, 3, params={"beta": 1}), "unknown parameter"),
    ],
)
def test_fit_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FitError, match=match):
        call()
    assert issubclass(FitError, ValueError)


def test_round_trip_exact() -> None:
    r = fit("sigmoid", -3, 3, (3, 2), "pau")
    d = json.loads(json.dumps(r.to_dict()))
    r2 = Rational.from_dict(d)
    assert r2 == r
    assert r2.p.tobytes() == r.p.tobytes() and r2.q.tobytes() == r.q.tobytes()
    assert r2.max_error == r.max_error
    line = r.describe()
    assert "\n" not in line and "sigmoid" in line and "(3,2)" in line


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=1, max_size=20))
def test_eval_dtype_and_finite(xs: list[float]) -> None:
    r = _GELU
    for dt in (np.float32, np.float64):
        y = r(np.array(xs, dtype=dt))
        assert y.dtype == dt and np.all(np.isfinite(y) | (np.array(xs, dtype=dt) > 3e38))


_GELU = Rational.from_dict(
    __import__("rewriter.rational.table", fromlist=["load_table"]).load_table()["entries"][
        "gelu/5_4"
    ]
)
