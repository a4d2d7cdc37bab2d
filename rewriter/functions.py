"""The catalogue of activation functions: canonical names, parameters, numpy references.

One definition per activation, shared by the rational fitter (what to approximate), the ONNX
pattern library and the torch.fx front-end (what a matched site computes). A function is named
by its canonical name plus parameters, e.g. ``("swish", {"beta": 1.5})``.

Example:
    >>> import numpy as np
    >>> f = get_function("elu", alpha=1.0)
    >>> float(f(np.array(0.0)))
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

Array = np.ndarray

__all__ = ["Function", "FUNCTIONS", "get_function", "function_names", "SMOOTH", "PIECEWISE"]

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _f64(x: Array) -> Array:
    return np.asarray(x, dtype=np.float64)


def _gelu(x: Array) -> Array:
    x = _f64(x)
    return 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x: Array) -> Array:
    x = _f64(x)
    return 0.5 * x * (1.0 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))


def _sigmoid(x: Array) -> Array:
    return special.expit(_f64(x))


def _silu(x: Array) -> Array:
    x = _f64(x)
    return x * special.expit(x)


def _swish(x: Array, beta: float = 1.0) -> Array:
    x = _f64(x)
    return x * special.expit(beta * x)


def _softplus(x: Array, beta: float = 1.0) -> Array:
    x = _f64(x)
    return np.logaddexp(0.0, beta * x) / beta


def _mish(x: Array) -> Array:
    x = _f64(x)
    return x * np.tanh(np.logaddexp(0.0, x))


def _tanh(x: Array) -> Array:
    return np.tanh(_f64(x))


def _elu(x: Array, alpha: float = 1.0) -> Array:
    x = _f64(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _selu(x: Array) -> Array:
    return SELU_SCALE * _elu(x, SELU_ALPHA)


def _celu(x: Array, alpha: float = 1.0) -> Array:
    x = _f64(x)
    return np.maximum(x, 0.0) + np.minimum(0.0, alpha * np.expm1(np.minimum(x, 0.0) / alpha))


def _softsign(x: Array) -> Array:
    x = _f64(x)
    return x / (1.0 + np.abs(x))


def _hardsigmoid(x: Array, alpha: float = 1.0 / 6.0, beta: float = 0.5) -> Array:
    return np.clip(alpha * _f64(x) + beta, 0.0, 1.0)


def _hardswish(x: Array) -> Array:
    x = _f64(x)
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _leaky_relu(x: Array, alpha: float = 0.01) -> Array:
    x = _f64(x)
    return np.where(x >= 0, x, alpha * x)


def _relu(x: Array) -> Array:
    return np.maximum(_f64(x), 0.0)


def _relu6(x: Array) -> Array:
    return np.clip(_f64(x), 0.0, 6.0)


@dataclass(frozen=True)
class Function:
    """An activation function R -> R.

    Attributes:
        name: canonical name (``gelu``, ``silu``, ...).
        ref: numpy reference, float64, vectorised; keyword parameters are the function's.
        defaults: default parameter values.
        smooth: True for the smooth activations the ``pau_all`` pipeline replaces.
        limits: (value at -inf, value at +inf); ``None`` where the function is unbounded there.
        slopes: asymptotic slopes (d/dx at -inf, at +inf).
    """

    name: str
    ref: Callable[..., Array]
    defaults: dict[str, float] = field(default_factory=dict)
    smooth: bool = True
    limits: tuple[float | None, float | None] = (None, None)
    slopes: tuple[float, float] = (0.0, 0.0)

    def __call__(self, x: Array, **params: Any) -> Array:
        return self.ref(x, **{**self.defaults, **params})

    def bind(self, **params: Any) -> Callable[[Array], Array]:
        """The function with its parameters fixed: ``get_function("swish").bind(beta=2)``."""
        full = {**self.defaults, **params}
        unknown = set(full) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {sorted(unknown)}")
        return lambda x: self.ref(x, **full)


def _fn(name: str, ref: Callable[..., Array], **kw: Any) -> Function:
    return Function(name, ref, **kw)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        _fn("gelu", _gelu, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("gelu_tanh", _gelu_tanh, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("silu", _silu, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("swish", _swish, defaults={"beta": 1.0}, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("mish", _mish, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("softplus", _softplus, defaults={"beta": 1.0}, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("tanh", _tanh, limits=(-1.0, 1.0)),
        _fn("sigmoid", _sigmoid, limits=(0.0, 1.0)),
        _fn("elu", _elu, defaults={"alpha": 1.0}, limits=(None, None), slopes=(0.0, 1.0)),
        _fn("selu", _selu, limits=(None, None), slopes=(0.0, SELU_SCALE)),
        _fn("celu", _celu, defaults={"alpha": 1.0}, slopes=(0.0, 1.0)),
        _fn("softsign", _softsign, limits=(-1.0, 1.0)),
        _fn("hardswish", _hardswish, smooth=False, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn(
            "hardsigmoid",
            _hardsigmoid,
            defaults={"alpha": 1.0 / 6.0, "beta": 0.5},
            smooth=False,
            limits=(0.0, 1.0),
        ),
        _fn(
            "leaky_relu",
            _leaky_relu,
            defaults={"alpha": 0.01},
            smooth=False,
            slopes=(0.01, 1.0),
        ),
        _fn("relu", _relu, smooth=False, limits=(0.0, None), slopes=(0.0, 1.0)),
        _fn("relu6", _relu6, smooth=False, limits=(0.0, 6.0)),
    ]
}

SMOOTH = tuple(n for n, f in FUNCTIONS.items() if f.smooth)
PIECEWISE = tuple(n for n, f in FUNCTIONS.items() if not f.smooth)


def function_names() -> list[str]:
    """All canonical names, in catalogue order."""
    return list(FUNCTIONS)


def get_function(name: str, **params: Any) -> Callable[[Array], Array]:
    """The numpy reference of ``name`` with ``params`` bound.

    Raises:
        KeyError: with the list of known names, when ``name`` is not in the catalogue.
    """
    try:
        fn = FUNCTIONS[name]
    except KeyError:
        raise KeyError(
            f"unknown activation function {name!r}; known: {', '.join(FUNCTIONS)}"
        ) from None
    return fn.bind(**params)
