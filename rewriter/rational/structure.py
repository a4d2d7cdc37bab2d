"""``detect_structure``: what an anonymous function's values say about the form to fit it with.

A catalogue name tells ``fitting.templates`` that GELU is x times a gate going from 0 to 1, that
sigmoid saturates at 0 and 1, that softplus is relu(x) plus an even bump. A callable has no name,
so without this module ``fit(callable, form="auto")`` only tried the generic forms (clamped,
pau): GELU 6x, ELU 700x worse than by name. This module reads the same facts off the values:

- tails: at each end of the probed range, f is a line ``slope * x + intercept`` (a limit when
  the slope is 0), judged on three points (at 3/4, 7/8 and all of the half-range) to rounding;
- parity: "odd" when f(x) + f(-x) = 2 f(0) (point-symmetric: tanh, sigmoid, softsign, sin),
  "even" when f(x) - f(-x) = k x for one k (``even_slope``; symmetric about a line: softplus,
  GELU, SiLU with k = 1; k = 0 for an even function);
- gate: f(0) = 0 and f = x G(x) with G between its two limits (slopes of f) kL != kR
  (GELU, SiLU, Mish, HardSwish: kL = 0, kR = 1);
- affine_right: f equals its right tail exactly for all x >= 0 (ELU, SELU, CELU, ReLU);
- exact_from: the |x| beyond which f equals its tails to rounding (HardSwish 3: its kinks);
- bounds: limits f never crosses (sigmoid 0 and 1, tanh -1 and 1, the left 0 of ReLU): a fit
  can reach them exactly beyond its clamp (DESIGN.md section 4).

"To rounding": values that are all float32 numbers (an ONNX region run by ONNX Runtime, as in
``pau_learned``) are compared with relative tolerance ``FLOAT32_RTOL``, float64 values with
``FLOAT64_RTOL``, each relative to 1 + |f|. No value is compared with a known function's: a
property holds or it does not, whatever the function. Cost: ~8000 points plus ~100 single
evaluations (bisection to the kinks).

Example:
    >>> import numpy as np
    >>> st = detect_structure(lambda x: x / (1.0 + np.exp(-x)))
    >>> st.gate, st.parity, st.even_slope
    ((0.0, 1.0), 'even', 1.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Structure", "Tail", "detect_structure", "FLOAT32_RTOL", "FLOAT64_RTOL"]

FLOAT32_RTOL = 1e-6  # ~16 float32 ulps: ONNX Runtime's Erf/Tanh/Exp are within a few
FLOAT64_RTOL = 1e-10
# a tail is a line to this (relative to 1 + |f|): CELU(alpha=2) is 6e-7 from -2 at x = -30, far
# below what a (5,4) fit reaches; its slope and intercept are still read to ``rtol``
TAIL_RTOL = 1e-6


@dataclass(frozen=True)
class Tail:
    """f(x) ~ slope * x + intercept at one end of the probed range (a limit when slope is 0)."""

    slope: float
    intercept: float

    @property
    def limit(self) -> float | None:
        return self.intercept if self.slope == 0.0 else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.slope * x + self.intercept


@dataclass(frozen=True)
class Structure:
    """What ``detect_structure`` found (``Structure()``: nothing; fit as a generic function).

    Attributes:
        left, right: the linear tails at the ends, or None (f is not a line there).
        parity: "odd" (f(x) + f(-x) = 2 f(0)), "even" (f(x) - f(-x) = even_slope * x) or "none".
        even_slope: k of the "even" relation.
        gate: (kL, kR) when f(0) = 0 and f = x G(x), G between kL and kR and tending to them.
        affine_right: f equals its right tail for all x >= 0.
        exact_from: |x| beyond which f equals its tails (both sides), or None.
        bounds: (lower, upper): limits of f it never crosses, None where there is none.
        f0: f(0).
        rtol: the relative tolerance the properties hold to.
    """

    left: Tail | None = None
    right: Tail | None = None
    parity: str = "none"
    even_slope: float = 0.0
    gate: tuple[float, float] | None = None
    affine_right: bool = False
    exact_from: float | None = None
    bounds: tuple[float | None, float | None] = (None, None)
    f0: float = 0.0
    rtol: float = FLOAT64_RTOL

    @property
    def limits(self) -> tuple[float | None, float | None]:
        """(limit at the left end, at the right end); None where f is not constant there."""
        return (
            None if self.left is None else self.left.limit,
            None if self.right is None else self.right.limit,
        )

    def describe(self) -> str:
        """One line, e.g. ``tails 0x+0 | 1x+0, even (k=1), gate 0..1``."""

        def tail(t: Tail | None) -> str:
            return "?" if t is None else f"{t.slope:.6g}x{t.intercept:+.6g}"

        out = [f"tails {tail(self.left)} | {tail(self.right)}"]
        if self.parity == "even":
            out.append(f"even (k={self.even_slope:.6g})")
        elif self.parity == "odd":
            out.append("odd")
        if self.gate is not None:
            out.append(f"gate {self.gate[0]:.6g}..{self.gate[1]:.6g}")
        if self.affine_right:
            out.append("affine x>=0")
        if self.exact_from is not None:
            out.append(f"exact |x|>={self.exact_from:.6g}")
        if self.bounds != (None, None):
            out.append(f"bounds {self.bounds}")
        return ", ".join(out)


def _eval(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray | None:
    try:
        with np.errstate(all="ignore"):
            y = np.asarray(f(np.asarray(x, dtype=np.float64)), dtype=np.float64)
    except Exception:  # any callable: a failure outside the fit range means "no structure"
        return None
    return y if y.shape == x.shape and bool(np.all(np.isfinite(y))) else None


def _short(v: float, tol: float) -> float:
    """``v`` with the fewest decimals (up to 6) within ``tol`` of it, else ``v``: 0.99999994 ->
    1.0, 4e-18 -> 0.0, but 1.0507009873554805 (SELU's scale) stays."""
    for d in range(7):
        r = round(v, d)
        if abs(r - v) <= tol:
            return r + 0.0  # no -0.0
    return v


def _tail(f: Callable[[np.ndarray], np.ndarray], end: float, rtol: float) -> Tail | None:
    x = np.array([0.75, 0.875, 1.0]) * end
    y = _eval(f, x)
    if y is None:
        return None
    tol = rtol * (1.0 + np.abs(y))
    if abs(y[1] - 0.5 * (y[0] + y[2])) > max(rtol, TAIL_RTOL) * (1.0 + abs(y[1])):
        return None
    k_tol = (tol[0] + tol[2]) / abs(x[2] - x[0])
    k = _short(float((y[2] - y[0]) / (x[2] - x[0])), k_tol)
    if abs(k * end) <= max(rtol, TAIL_RTOL) * (1.0 + abs(y[2])):
        k = 0.0  # a limit, read at the end
    a = _short(float(y[2] - k * x[2]), tol[2] + abs(x[2]) * k_tol)
    return Tail(k, a)


def _exact_from(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, t: Tail, rtol: float
) -> float | None:
    """Smallest |x| on this side (``x`` sorted from 0 outwards) beyond which f equals tail t."""
    bad = np.abs(y - t(x)) > rtol * (1.0 + np.abs(y))
    if not bad.any():
        return 0.0
    i = int(np.flatnonzero(bad)[-1])
    if i == x.size - 1:
        return None
    a, b = float(x[i]), float(x[i + 1])  # a inexact, b exact: bisect the boundary
    for _ in range(60):
        m = 0.5 * (a + b)
        ym = _eval(f, np.array([m]))
        if ym is None:
            return None
        if abs(ym[0] - t(np.array([m]))[0]) > rtol * (1.0 + abs(ym[0])):
            a = m
        else:
            b = m
    return abs(b)


def detect_structure(
    f: Callable[[np.ndarray], np.ndarray], lo: float = -40.0, hi: float = 40.0, n: int = 8001
) -> Structure:
    """Tails, parity, gate, exact pieces and bounds of ``f``, read from its values on [lo, hi].

    ``lo < 0 < hi`` (symmetry is checked on [-min(-lo, hi), min(-lo, hi)]). A callable that
    raises or is not finite there has no structure (``Structure()``).

    Example:
        >>> st = detect_structure(lambda x: 1.0 / (1.0 + np.exp(-x)))
        >>> st.limits, st.parity, st.bounds
        ((0.0, 1.0), 'odd', (0.0, 1.0))
    """
    if not lo < 0.0 < hi:
        return Structure()
    x = np.unique(np.concatenate([np.linspace(lo, hi, n), [0.0]]))
    y = _eval(f, x)
    if y is None:
        return Structure()
    rtol = FLOAT32_RTOL if bool(np.all(y.astype(np.float32) == y)) else FLOAT64_RTOL
    tol = rtol * (1.0 + np.abs(y))
    f0 = float(y[x == 0.0][0])
    left, right = _tail(f, lo, rtol), _tail(f, hi, rtol)

    # symmetry about the point (0, f0) or about a line through the origin
    h = min(-lo, hi)
    xp = np.linspace(0.0, h, n // 2 + 1)[1:]
    yp, ym = _eval(f, xp), _eval(f, -xp)
    parity, even_slope = "none", 0.0
    if yp is not None and ym is not None:
        stol = rtol * (2.0 + np.abs(yp) + np.abs(ym))
        k = float((yp[-1] - ym[-1]) / xp[-1])
        if np.all(np.abs(yp + ym - 2.0 * f0) <= stol):
            parity = "odd"
        elif np.all(np.abs(yp - ym - k * xp) <= stol + rtol * xp * (1.0 + abs(k))):
            parity, even_slope = "even", _short(k, 2.0 * rtol * (1.0 + abs(k)))

    gate = None
    if left is not None and right is not None and left.slope != right.slope:
        k_lo, k_hi = sorted((left.slope, right.slope))
        far = np.abs(x) >= 1e-2
        g = y[far] / x[far]
        gtol = tol[far] / np.abs(x[far])
        if (
            abs(f0) <= tol[x == 0.0][0]
            and left.intercept == 0.0
            and right.intercept == 0.0
            and np.all(g >= k_lo - gtol)
            and np.all(g <= k_hi + gtol)
        ):
            gate = (left.slope, right.slope)

    affine_right, exact_from = False, None
    if right is not None:
        pos = x >= 0.0
        d_hi = _exact_from(f, x[pos], y[pos], right, rtol)
        affine_right = d_hi == 0.0
        if left is not None and d_hi is not None:
            neg = x <= 0.0
            d_lo = _exact_from(f, x[neg][::-1], y[neg][::-1], left, rtol)
            if d_lo is not None and max(d_lo, d_hi) > 0.0:
                c = max(d_lo, d_hi)
                exact_from = _short(c, 1e-4 * max(1.0, c))

    lower = upper = None
    for t in (left, right):
        if t is None or t.limit is None:
            continue
        if np.all(y >= t.limit - tol):
            lower = t.limit
        if np.all(y <= t.limit + tol):
            upper = t.limit
    return Structure(
        left=left,
        right=right,
        parity=parity,
        even_slope=even_slope,
        gate=gate,
        affine_right=affine_right,
        exact_from=exact_from,
        bounds=(lower, upper),
        f0=f0,
        rtol=rtol,
    )
