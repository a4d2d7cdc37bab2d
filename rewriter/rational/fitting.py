"""``fit``: choose a rational form for an activation and fit its coefficients.

Forms (all instances of the shape in ``core``; per function see ``templates``):

- pau: P(x)/Q(x), Q = 1 + sum |q_k| |x|^k. Any function on a range; softsign exactly at (1,1).
- pau_b: P(x)/(1 + |sum q_k x^k|), the reference code's "version B".
- odd: g0 + g1 R(clip(s x, -c, c)), R odd. tanh (g = 0, 1; s = 1), sigmoid (0.5, 0.5; s = 1/2).
- gated: max(x, -40) (1/2 + 1/2 R(clip(s x, -c, c))), R odd ~ erf(x/sqrt2) or tanh.
  gelu, gelu_tanh (s = 1), silu and swish (s = beta/2). R(c) is pinned to 1 (F/x -> 1).
- gated_x: max(x, -40) R(clip(x, -2c, c)), R ~ tanh(softplus). mish. R(c) pinned to 1.
- relu_plus: a relu(x) + g1 R(u). softplus: u = min(|beta x|, c), R ~ log1p(exp(-u)), g1 = 1/beta;
  elu, selu, celu: u = clip(x/alpha', -c, 0) (alpha' = alpha for celu, 1 otherwise), R ~ expm1,
  a = 1 (selu: scale), g1 = alpha (selu: scale alpha).
- clamped: R(clip(x, -c, c)) + linear tails with the function's asymptotic slopes. Any function;
  the piecewise ones (hardswish, hardsigmoid at c = 3 are exact).

A catalogue name selects its forms (``templates``). A callable has no name: its structure is read
off its values (``structure.detect_structure``: tails, parity, gate, bounds) and
``structure_templates`` builds the forms that structure allows, with the same gates, pins and
exact limits a name gives (an anonymous x/(1+exp(-x)) gets 2.2e-5 at (5,4), silu by name 2.1e-4;
without detection 1.0e-3). Those forms may put their clamp beyond a narrow fit range
(``Template.c_free``): pinned to the function's limits, they would otherwise pay the function's
distance from them at the range's edge (tanh on [-4, 4]: 6.7e-4).

The clamp c is chosen by a bounded search on the max error over the fit range; samples beyond the
clamp collapse onto it but keep their own targets and weights, so the weighted minimax fit of R
(``minimax.fit_r``) is a fit of F itself, tails included. ``max(x, -40)`` in the gated forms
keeps ``-inf`` from meeting a gate that is ~0 (IEEE: inf * 0 = NaN); its error is < 1e-15.

Exact limits (DESIGN.md section 4: near a limit, relative error matters). The saturating forms
(odd, gated, gated_x, relu_plus, and clamped for a bounded function) clip R to the range of its
target (``r_clip``: [-1, 1] for erf/tanh, [0, 1] for sigmoid and mish's gate, [0, inf) for
softplus's log1p(exp(-u)), [-1, 0] for expm1) and pin R at the clamp to the bound (``pins``):
the fit pins it with weight 1e4, ``_touch_up`` then moves it just past the bound, far enough
that the float32 R of the emitters (``_r_float32``, one rounding per Mul/Add as in ONNX Runtime
and torch) is past it too. Beyond the clamp the clip returns the bound itself: sigmoid is
exactly 0 and 1 there, tanh -1 and 1, GELU/SiLU/Mish/Softplus exactly 0 on the left and x on
the right, ELU exactly -alpha. Samples beyond a pinned clamp are not fitted (F is fixed there;
its error, 1 - sigmoid(c) for instance, counts in the clamp search), and the fit is run twice,
knowing and not knowing the clip (``fit_r(bounds=)``), the better kept. The price is the tail
error max |limit - f| beyond the clamp, which the free R(c) of earlier versions traded against
the error inside: sigmoid (5,4) 2.28e-5 -> 2.81e-5, tanh 4.16e-5 -> 5.62e-5; with them a sigmoid
tail stayed at 1.9e-5 for x -> -inf. The clamped forms of GELU/SiLU (best at (4,3) before)
cannot reach 0 on the left exactly (R ~ gelu dips below 0) and are not chosen by "auto".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..functions import FUNCTIONS, SELU_ALPHA, SELU_SCALE
from .core import GLOBAL_RANGE, FitError, Rational, _clip_open
from .minimax import fit_r, powers
from .structure import Structure, detect_structure

__all__ = ["fit", "SampleWeights", "templates", "Template", "FORMS"]

FORMS = ("pau", "pau_b", "odd", "gated", "gated_x", "relu_plus", "clamped")
FIT_VERSION = "rewriter.rational.fit/1"
GATE_X_LO = -40.0


@dataclass(frozen=True)
class Template:
    """A form with its structure fixed and the clamp left open (``clamp_kind``, ``c_bounds``)."""

    form: str
    parity: str = "none"
    s: float = 1.0
    gate: tuple[float, float] = (0.0, 1.0)
    gate_x: tuple[float | None, float | None] | None = None
    linear: tuple[float, float] = (0.0, 0.0)
    slopes: tuple[float, float] | None = None  # tails (clamped form)
    clamp_kind: str | None = None  # "sym", "neg", "abs", "asym2", "asym"; None = raw
    ratio: float = 2.0  # "asym": the clamp is (-ratio c, c)
    # the clamp search may pass the fit range (up to GLOBAL_RANGE): a form pinned to the
    # function's limits at the clamp pays the function's distance from them there as error
    c_free: bool = False
    c_bounds: tuple[float, float] = (2.0, 10.0)
    c_hints: tuple[float, ...] = ()
    # R's exact value at (clamp_lo, clamp_hi), None = free: the function's limit there. With
    # r_clip, R is pinned just past the bound and the clip returns the bound itself.
    pins: tuple[float | None, float | None] = (None, None)
    r_clip: tuple[float | None, float | None] | None = None

    def clamp(self, c: float) -> tuple[float, float] | None:
        return {
            None: None,
            "sym": (-c, c),
            "neg": (-c, 0.0),
            "abs": (0.0, c),
            "asym2": (-2.0 * c, c),
            "asym": (-self.ratio * c, c),
        }[self.clamp_kind]

    def skeleton(self, degrees: tuple[int, int], c: float, lo: float, hi: float) -> Rational:
        clamp = self.clamp(c)
        tails = None
        if self.slopes is not None and clamp is not None:
            tails = (clamp[0] / self.s, self.slopes[0], clamp[1] / self.s, self.slopes[1])
        m, n = degrees
        return Rational(
            form=self.form,
            degrees=degrees,
            p=np.zeros(m + 1),
            q=np.zeros(n),
            lo=float(lo),
            hi=float(hi),
            clamp=clamp,
            parity=self.parity,
            s=self.s,
            gate=self.gate,
            gate_x=self.gate_x,
            linear=self.linear,
            tails=tails,
            r_clip=self.r_clip,
        )


def _slopes(f: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Asymptotic slopes of f, estimated at +-40 and rounded to 10 decimals (0 stays 0)."""
    y = f(np.array([-50.0, -40.0, 40.0, 50.0]))
    sl = ((y[1] - y[0]) / 10.0, (y[3] - y[2]) / 10.0)
    return tuple(round(float(v), 10) + 0.0 if np.isfinite(v) else 0.0 for v in sl)  # type: ignore


# clamps worth trying besides the search grid: the kinks of piecewise-polynomial functions
_C_HINTS = {"hardswish": (3.0,), "hardsigmoid": (3.0,), "relu6": (6.0,)}


def templates(
    name: str | None,
    params: dict[str, float],
    f: Callable[[np.ndarray], np.ndarray],
    structure: Structure | None = None,
) -> dict[str, Template]:
    """The forms applicable to a catalogue function, or to a callable (``name=None``): for a
    callable, the ``structure`` detected from its values adds the forms it allows
    (``structure_templates``)."""
    gx = (GATE_X_LO, None)
    out: dict[str, Template] = {
        "pau": Template("pau"),
        "pau_b": Template("pau_b"),
        "clamped": Template(
            "clamped",
            slopes=_slopes(f),
            clamp_kind="sym",
            c_bounds=(2.0, 12.0),
            c_hints=_C_HINTS.get(name or "", ()),
        ),
    }
    if name is None and structure is not None:
        out.update(structure_templates(structure, f, out["clamped"]))
        return out
    unit = (-1.0, 1.0)
    if name is not None and name in FUNCTIONS:
        # a finite limit that bounds f (sigmoid, tanh, relu's 0, relu6): R ~ f itself stays on
        # its side of it and reaches it at the clamp, so the clamped form can be exact there
        lim = FUNCTIONS[name].limits
        with np.errstate(all="ignore"):
            y = f(np.linspace(-40.0, 40.0, 8001))
        lo_b = lim[0] if lim[0] is not None and bool(np.all(y >= lim[0])) else None
        hi_b = lim[1] if lim[1] is not None and bool(np.all(y <= lim[1])) else None
        if lo_b is not None or hi_b is not None:
            out["clamped"] = replace(out["clamped"], pins=(lo_b, hi_b), r_clip=(lo_b, hi_b))
    odd_gated = {"gelu": 1.0, "gelu_tanh": 1.0, "silu": 0.5}
    if name in odd_gated or name == "swish":
        s = odd_gated.get(name or "", 0.5 * params.get("beta", 1.0))
        # R ~ erf or tanh; R(c) = 1: F = x beyond c, 0 beyond -c (odd R)
        out["gated"] = Template(
            "gated",
            "odd",
            s,
            (0.5, 0.5),
            gx,
            clamp_kind="sym",
            c_bounds=(2.0, 8.0),
            pins=(None, 1.0),
            r_clip=unit,
        )
    elif name == "tanh":
        out["odd"] = Template(
            "odd",
            "odd",
            1.0,
            (0.0, 1.0),
            clamp_kind="sym",
            c_bounds=(2.0, 10.0),
            pins=(None, 1.0),
            r_clip=unit,
        )
    elif name == "sigmoid":
        out["odd"] = Template(
            "odd",
            "odd",
            0.5,
            (0.5, 0.5),
            clamp_kind="sym",
            c_bounds=(2.0, 10.0),
            pins=(None, 1.0),
            r_clip=unit,
        )
    elif name == "mish":
        # R ~ tanh(softplus(x)) in [0, 1]
        out["gated_x"] = Template(
            "gated_x",
            s=1.0,
            gate_x=gx,
            clamp_kind="asym2",
            c_bounds=(3.0, 9.0),
            pins=(0.0, 1.0),
            r_clip=(0.0, 1.0),
        )
    elif name == "softplus":
        beta = params.get("beta", 1.0)
        # R ~ log1p(exp(-u)) on [0, c], decreasing to 0
        out["relu_plus"] = Template(
            "relu_plus",
            "abs",
            beta,
            (0.0, 1.0 / beta),
            linear=(0.0, 1.0),
            clamp_kind="abs",
            c_bounds=(4.0, 24.0),
            pins=(None, 0.0),
            r_clip=(0.0, None),
        )
    elif name in ("elu", "celu", "selu"):
        alpha = SELU_ALPHA if name == "selu" else params.get("alpha", 1.0)
        scale = SELU_SCALE if name == "selu" else 1.0
        s = 1.0 / alpha if name == "celu" else 1.0
        # R ~ expm1(u) on [-c, 0]: -1 at the clamp, exactly 0 for x >= 0
        out["relu_plus"] = Template(
            "relu_plus",
            "none",
            s,
            (0.0, scale * alpha),
            linear=(0.0, scale),
            clamp_kind="neg",
            c_bounds=(3.0, 24.0),
            pins=(-1.0, 0.0),
            r_clip=(-1.0, 0.0),
        )
    return out


# Scale of R for a callable: s maps the |x| beyond which R stays within ``thr`` of its limit to
# the low end of the clamp search, where the function each template was made for has the same
# residual: tanh (odd, gated: 1 - tanh(2)), mish's gate (gated_x: 1 - tanh(softplus(3))),
# softplus (relu_plus abs: log1p(exp(-4)) / log 2), elu (relu_plus neg: exp(-3)).
_THR_TANH = 1.0 - math.tanh(2.0)
_THR_GATE_X = 1.0 - math.tanh(math.log1p(math.exp(3.0)))
_THR_ABS = math.log1p(math.exp(-4.0)) / math.log(2.0)
_THR_NEG = math.exp(-3.0)
_SAT_X = np.linspace(0.0, -GLOBAL_RANGE[0], 4001)[1:]  # distances from 0 where R is probed


def _saturation(
    f: Callable[[np.ndarray], np.ndarray],
    side: float,
    residual: Callable[[np.ndarray, np.ndarray], np.ndarray],
    thr: float,
) -> float | None:
    """Smallest |x| on one side (``side`` +1 or -1) beyond which residual(x, f(x)) <= thr."""
    x = side * _SAT_X
    with np.errstate(all="ignore"):
        r = np.abs(residual(x, np.asarray(f(x), dtype=np.float64)))
    bad = ~(r <= thr)
    if bad[-1]:
        return None
    i = int(np.flatnonzero(bad)[-1]) + 1 if bad.any() else 0
    return float(_SAT_X[i])


def _s(c_lo: float, dist: float | None) -> float | None:
    return None if not dist else float(f"{c_lo / dist:.2g}")


def structure_templates(
    st: Structure, f: Callable[[np.ndarray], np.ndarray], clamped: Template
) -> dict[str, Template]:
    """The forms a callable's detected structure allows, as the catalogue gives them by name.

    - gate (f = x G, G from kL to kR) with G - (kL+kR)/2 odd: "gated" (gelu, silu);
      without that symmetry: "gated_x" with an asymmetric clamp (mish);
    - two different limits a, b with f - (a+b)/2 odd, f between them: "odd" (tanh, sigmoid);
    - equal intercepts and f - kL x - (kR-kL) relu(x) even: "relu_plus" with |x| (softplus);
    - f equal to its right tail for x >= 0 and a left tail: "relu_plus" on x <= 0 (elu);
    - bounds: "clamped" pinned to them (exact limits), as for named bounded functions;
      exact tails from |x| = c: "clamped" also tries the clamp c (hardswish's kinks).

    R's scale ``s`` comes from ``_saturation``; which form wins is left to ``fit``'s global error.
    """
    out: dict[str, Template] = {}
    left, right = st.left, st.right
    unit = (-1.0, 1.0)
    gx = (GATE_X_LO, None)
    if st.gate is not None:
        k_l, k_r = st.gate
        d = k_r - k_l
        if st.parity == "even" and abs(st.even_slope - (k_l + k_r)) <= 1e-6 * (1 + abs(k_r)):
            # R = 2 (G - kL) / (kR - kL) - 1, odd; F = kL x + x (d/2 + d/2 R)
            def r_gate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                return 1.0 - (2.0 * (y / x - k_l) / d - 1.0)

            s = _s(2.0, _saturation(f, 1.0, r_gate, _THR_TANH))
            if s is not None:
                out["gated"] = Template(
                    "gated",
                    "odd",
                    s,
                    (0.5 * d, 0.5 * d),
                    gx,
                    linear=(k_l, 0.0),
                    clamp_kind="sym",
                    c_bounds=(2.0, 8.0),
                    pins=(None, 1.0),
                    r_clip=unit,
                )
        else:
            # R = (G - kL) / (kR - kL) in [0, 1]
            def r_hi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                return 1.0 - (y / x - k_l) / d

            def r_lo(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                return (y / x - k_l) / d

            x_hi = _saturation(f, 1.0, r_hi, _THR_GATE_X)
            x_lo = _saturation(f, -1.0, r_lo, _THR_GATE_X)
            s = _s(3.0, x_hi)
            if s is not None and x_hi and x_lo:
                out["gated_x"] = Template(
                    "gated_x",
                    s=s,
                    gate=(0.0, d),
                    gate_x=gx,
                    linear=(k_l, 0.0),
                    clamp_kind="asym",
                    ratio=float(f"{x_lo / x_hi:.2g}"),
                    c_bounds=(3.0, 9.0),
                    pins=(0.0, 1.0),
                    r_clip=(0.0, 1.0),
                )
    a, b = st.limits
    if a is not None and b is not None and a != b and st.parity == "odd":
        lo_b, hi_b = min(a, b), max(a, b)
        if st.bounds == (lo_b, hi_b):
            mid, half = 0.5 * (a + b), 0.5 * (b - a)

            def r_odd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                return 1.0 - (y - mid) / half

            s = _s(2.0, _saturation(f, 1.0, r_odd, _THR_TANH))
            if s is not None:
                out["odd"] = Template(
                    "odd",
                    "odd",
                    s,
                    (mid, half),
                    clamp_kind="sym",
                    c_bounds=(2.0, 10.0),
                    pins=(None, 1.0),
                    r_clip=unit,
                )
    if (
        left is not None
        and right is not None
        and left.intercept == right.intercept
        and st.parity == "even"
        and abs(st.even_slope - (left.slope + right.slope)) <= 1e-6 * (1 + abs(right.slope))
    ):
        k_l, k_r, a0 = left.slope, right.slope, left.intercept

        def bump(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return y - k_l * x - (k_r - k_l) * np.maximum(x, 0.0) - a0

        xs = _SAT_X
        with np.errstate(all="ignore"):
            hs = bump(xs, np.asarray(f(xs), dtype=np.float64))
        peak = float(hs[int(np.argmax(np.abs(hs)))]) if np.all(np.isfinite(hs)) else 0.0
        if abs(peak) > 1e-6 * (1.0 + abs(a0)):
            s = _s(4.0, _saturation(f, 1.0, lambda x, y: bump(x, y) / peak, _THR_ABS))
            # R = bump / peak >= 0 can be clipped at 0: exact tails beyond the clamp
            noise = st.rtol * (1.0 + np.abs(hs) + np.abs(k_r * xs)) / abs(peak)
            one_sided = bool(np.all(hs / peak >= -noise))
            if s is not None:
                out["relu_plus"] = Template(
                    "relu_plus",
                    "abs",
                    s,
                    (a0, peak),
                    linear=(k_l, k_r - k_l),
                    clamp_kind="abs",
                    c_bounds=(4.0, 24.0),
                    pins=(None, 0.0),
                    r_clip=(0.0, None) if one_sided else None,
                )
    if st.affine_right and left is not None and right is not None and "relu_plus" not in out:
        k_l, k_r = left.slope, right.slope
        g1 = right.intercept - left.intercept
        if g1 != 0.0:

            def r_neg(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                return (y - k_l * x - right.intercept) / g1

            xs = -_SAT_X
            with np.errstate(all="ignore"):
                rn = r_neg(xs, np.asarray(f(xs), dtype=np.float64))
            s = _s(3.0, _saturation(f, -1.0, lambda x, y: r_neg(x, y) + 1.0, _THR_NEG))
            if s is not None:
                noise = st.rtol * (1.0 + np.abs(rn * g1) + np.abs(k_l * xs)) / abs(g1)
                bounded = bool(np.all((rn >= -1.0 - noise) & (rn <= noise)))
                out["relu_plus"] = Template(
                    "relu_plus",
                    "none",
                    s,
                    (right.intercept, g1),
                    linear=(k_l, k_r - k_l),
                    clamp_kind="neg",
                    c_bounds=(3.0, 24.0),
                    pins=(-1.0, 0.0),
                    r_clip=(-1.0, 0.0) if bounded else None,
                )
    b_lo, b_hi = st.bounds
    pins = tuple(lim if lim is not None and lim in (b_lo, b_hi) else None for lim in st.limits)
    hints = clamped.c_hints + ((st.exact_from,) if st.exact_from else ())
    if pins != (None, None) or hints != clamped.c_hints:
        out["clamped"] = replace(
            clamped,
            c_hints=hints,
            pins=pins,  # type: ignore[arg-type]
            r_clip=(b_lo, b_hi) if pins != (None, None) else None,
        )
    return {k: replace(t, c_free=True) if t.pins != (None, None) else t for k, t in out.items()}


# functions a raw pau is exactly, everywhere: softsign = x / (1 + |x|), the (1, 1) pau
EXACT_PAU = frozenset({"softsign"})


def _auto_forms(name: str | None, tpls: dict[str, Template]) -> list[str]:
    specific = [k for k in tpls if k not in ("pau", "pau_b", "clamped")]
    if name in EXACT_PAU:
        return ["pau"]
    if name is None:
        # a callable: its detected forms, and the generic ones it had before (softsign-like
        # functions are exact as a raw pau, x**3 or sin have no structure)
        return specific + ["clamped", "pau"]
    if specific:
        # the clamped form only where it reaches the function's limits exactly too
        return specific + (["clamped"] if tpls["clamped"].r_clip is not None else [])
    return ["clamped", "pau"]


# -- sampling and evaluation --------------------------------------------------------------


def _grid(lo: float, hi: float, sk: Rational, n_uniform: int, n_clamp: int) -> np.ndarray:
    parts = [np.linspace(lo, hi, n_uniform), np.array([0.0]) if lo < 0 < hi else np.array([lo])]
    if sk.clamp is not None and n_clamp:
        a, b = (v / sk.s for v in sk.clamp)
        if sk.parity == "abs":
            a, b = -b, b
        a, b = max(min(a, b), lo), min(max(a, b), hi)
        if a < b:
            parts.append(np.linspace(a, b, n_clamp))
            parts.append(np.array([a, b]))
    x = np.unique(np.concatenate(parts))
    return x[(x >= lo) & (x <= hi)]


def _targets(sk: Rational, x: np.ndarray, fx: np.ndarray) -> tuple[np.ndarray, ...]:
    """u, target g of R and weight of R's error in F's error, for samples (x, f(x))."""
    a1, ar = sk.linear
    rest = fx - a1 * x - ar * np.maximum(x, 0.0)
    if sk.tails is not None:
        k_lo, t_lo, k_hi, t_hi = sk.tails
        rest = rest - t_hi * np.maximum(x - k_hi, 0.0) + t_lo * np.maximum(k_lo - x, 0.0)
    xb = np.ones_like(x)
    if sk.gate_x is not None:
        lo, hi = sk.gate_x
        xb = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    g0, g1 = sk.gate
    wb = np.abs(xb * g1)
    keep = wb > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (rest / np.where(keep, xb, 1.0) - g0) / g1
    return sk.u_of(x)[keep], g[keep], wb[keep], keep


def _max_err(r: Rational, f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float) -> float:
    x = np.unique(np.concatenate([np.linspace(lo, hi, 40001), [0.0] if lo < 0 < hi else []]))
    x = x[(x >= lo) & (x <= hi)]
    with np.errstate(all="ignore"):
        e = np.abs(r(x) - f(x))
    return float(np.max(e)) if np.all(np.isfinite(e)) else math.inf


def _fit_template(
    tpl: Template,
    degrees: tuple[int, int],
    c: float,
    lo: float,
    hi: float,
    f: Callable[[np.ndarray], np.ndarray],
    weights: Any,
    quick: bool,
    clip_aware: bool = False,
) -> tuple[Rational, float]:
    sk = tpl.skeleton(degrees, c, lo, hi)
    if isinstance(weights, tuple):
        x = np.asarray(weights[0], dtype=np.float64)
        uw = np.asarray(weights[1], dtype=np.float64)
    else:
        x = _grid(lo, hi, sk, 500 if quick else 3000, 500 if quick else 2000)
        uw = np.ones_like(x) if weights is None else np.asarray(weights(x), dtype=np.float64)
    fx = f(x)
    u, g, wb, keep = _targets(sk, x, fx)
    w = wb * uw[keep]
    ok = w > 0
    u, g, w = u[ok], g[ok], w[ok]
    pins = _pins(tpl, sk)
    tail_err = 0.0
    for end, bound, _ in pins:
        # beyond a pinned clamp the clip returns the bound: F's error there is fixed, not fitted
        at = u == end
        if at.any():
            tail_err = max(tail_err, float(np.max(w[at] * np.abs(g[at] - bound))))
            u, g, w = u[~at], g[~at], w[~at]
    big = 1e4 * (w.max() if w.size else 1.0)
    m, n = degrees

    def solve(offsets: list[float]) -> tuple[Rational, float]:
        uu, gg, ww = u, g, w
        for (end, value, d), off in zip(pins, offsets, strict=True):
            uu, gg, ww = np.append(uu, end), np.append(gg, value + d * off), np.append(ww, big)
        res = fit_r(
            uu,
            gg,
            ww,
            m,
            n,
            tpl.parity,
            tpl.form == "pau_b",
            linear_iters=10 if quick else 20,
            nonlinear_iters=5 if quick else 16,
            bounds=tpl.r_clip if clip_aware else None,
        )
        r = (
            _touch_up(replace(sk, p=res.p, q=res.q), pins)
            if pins
            else replace(sk, p=res.p, q=res.q)
        )
        rv = r.eval_r(u)
        if tpl.r_clip is not None:
            rv = _clip_open(rv, tpl.r_clip)
        with np.errstate(all="ignore"):
            err = float(np.max(w * np.abs(rv - g))) if u.size else 0.0
        return r, max(err if np.isfinite(err) else math.inf, tail_err)

    r, err = solve([0.0] * len(pins))
    if not quick and any(d for _, _, d in pins):
        # fit to the margin the touch-up needs, instead of moving R that far after the fit
        r2, err2 = solve([_pin_gap(r, pins)] * len(pins))
        if err2 < err:
            r, err = r2, err2
    return r, err


# R past its bound at a pinned clamp, beyond float32 rounding, times max(1, |bound|)
PIN_MARGIN = 2.0**-22


def _pins(tpl: Template, sk: Rational) -> list[tuple[float, float, float]]:
    """(u at the clamp, R's exact value there, outward direction: +1, -1 or 0) per pinned end.

    ``pins`` are values of R (the limit of F, mapped through the gate). With ``r_clip`` the
    value is a bound, and ``_touch_up`` pushes R past it (outward) by ``PIN_MARGIN``, so that
    float32 rounding of R at the clamp still lands past the bound. With odd R only the upper
    end is pinned (R(-c) = -R(c) exactly, also in float32).
    """
    if sk.clamp is None:
        return []
    out = []
    for end, value in zip(sk.clamp, tpl.pins, strict=True):
        if value is None:
            continue
        out_dir = 0.0
        if tpl.r_clip is not None:
            lo_b, hi_b = tpl.r_clip
            out_dir = 1.0 if value == hi_b else -1.0 if value == lo_b else 0.0
        out.append((float(end), float(value), out_dir))
    return out


def _den(r: Rational, u: np.ndarray) -> np.ndarray:
    au = np.abs(u)
    den = np.zeros_like(au)
    for c in np.abs(r.q[::-1]):
        den = den * au + c
    return 1.0 + den * au


def _r_float32(r: Rational, u: float) -> float:
    """R(u) as the emitters compute it in float32: coefficients rounded to float32, Horner with
    one rounding per Mul and Add (ONNX Runtime's nodes and torch's eager ops alike)."""
    f32 = np.float32
    m, n = r.degrees
    pe, qe = powers(m, n, r.parity)

    def horner(cs: list[float], v: np.float32) -> np.float32:
        acc = f32(v * f32(cs[-1]))
        for k in range(len(cs) - 2, -1, -1):
            acc = f32(acc + f32(cs[k]))
            if k:
                acc = f32(acc * v)
        return acc

    x = f32(u)
    with np.errstate(all="ignore"):
        if r.parity == "odd":
            w = f32(x * x)
            pc = [float(r.p[k]) for k in pe]
            num = f32(x * f32(pc[0])) if len(pc) == 1 else f32(horner(pc, w) * x)
            qc = [1.0] + [abs(float(r.q[k - 1])) for k in qe]
            den = horner(qc, w) if len(qc) > 1 else f32(1.0)
        else:
            num = horner([float(v) for v in r.p], x) if m else f32(r.p[0])
            qc = [1.0] + [abs(float(v)) for v in r.q]
            den = horner(qc, f32(abs(x))) if n else f32(1.0)
        return float(f32(num / den))


def _shift(r: Rational, pins: list[tuple[float, float, float]], targets: list[float]) -> Rational:
    """R moved to ``targets`` at the pins (float64). Odd R: P scaled (one pin). Otherwise one
    coefficient per pin: p_0 for a pin at u = 0 (the only one that moves R(0)), else p_m, then
    p_(m-1), whose change (e u^k / Q(u)) is largest at the clamp and small inside."""
    ends = np.array([p[0] for p in pins])
    now = r.eval_r(ends)
    p = r.p.copy()
    if r.parity == "odd":
        if now[-1] != 0.0:
            p = p * (targets[-1] / now[-1])
        return replace(r, p=p)
    exps: list[int] = []
    for end in ends:
        exps.append(0 if end == 0.0 else next(k for k in range(len(p) - 1, 0, -1) if k not in exps))
    den = _den(r, ends)
    a_mat = np.array(
        [
            [0.0 if (e == 0.0 and k) else e**k / q for k in exps]
            for e, q in zip(ends, den, strict=True)
        ]
    )
    try:
        eps = np.linalg.solve(a_mat, np.array(targets) - now)
    except np.linalg.LinAlgError:
        return r
    for k, e in zip(exps, eps, strict=True):
        p[k] += e
    return replace(r, p=p)


def _touch_up(r: Rational, pins: list[tuple[float, float, float]]) -> Rational:
    """R at its pins: exactly the value, or past a bound far enough that the float32 R of the
    emitters (``_r_float32``) is past it too, so the clip returns the bound exactly.

    The margin starts at ``PIN_MARGIN`` times max(1, |bound|) and doubles
    until float32 agrees; the fit's pin is only as exact as its weight, so this runs always.
    """
    mg = [PIN_MARGIN * max(1.0, abs(v)) for _, v, _ in pins]
    out = r
    now = r.eval_r(np.array([e for e, _, _ in pins]))
    for _ in range(40):
        targets = [
            float(now[i]) if d and d * (now[i] - v) >= g else v + d * g
            for i, ((_, v, d), g) in enumerate(zip(pins, mg, strict=True))
        ]
        out = _shift(r, pins, targets)
        bad = [
            i
            for i, (end, v, d) in enumerate(pins)
            if d and not d * (_r_float32(out, end) - v) > 0.0
        ]
        if not bad:
            return out
        for i in bad:
            mg[i] *= 2.0
    return out


def _pin_gap(r: Rational, pins: list[tuple[float, float, float]]) -> float:
    """How far past its bounds ``r`` is at the pins (the margin a refit should aim for)."""
    return max((d * (float(r.eval_r(np.array([e]))[0]) - v) for e, v, d in pins if d), default=0.0)


def _search_clamp(
    tpl: Template,
    degrees: tuple[int, int],
    lo: float,
    hi: float,
    f: Any,
    weights: Any,
    clip_aware: bool = False,
) -> float:
    """Clamp c minimising the (quick-fit) max error: a geometric grid, then golden refinement."""
    a, b = tpl.c_bounds
    span = max(abs(lo), abs(hi))
    if tpl.c_free:
        span = max(span, -GLOBAL_RANGE[0], GLOBAL_RANGE[1])
    span *= {"asym2": 2.0, "asym": max(tpl.ratio, 1.0)}.get(tpl.clamp_kind or "", 1.0)
    b = min(b, max(span * tpl.s, a))
    cs = list(np.geomspace(a, b, 6)) if b > a else [a]
    errs = [_fit_template(tpl, degrees, c, lo, hi, f, weights, True, clip_aware)[1] for c in cs]
    i = int(np.argmin(errs))
    if len(cs) == 1:
        return cs[0]
    left, right = cs[max(i - 1, 0)], cs[min(i + 1, len(cs) - 1)]
    best_c, best_e = cs[i], errs[i]
    gr = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = right - gr * (right - left), left + gr * (right - left)
    e1 = _fit_template(tpl, degrees, x1, lo, hi, f, weights, True, clip_aware)[1]
    e2 = _fit_template(tpl, degrees, x2, lo, hi, f, weights, True, clip_aware)[1]
    for _ in range(4):
        if e1 < e2:
            right, x2, e2 = x2, x1, e1
            x1 = right - gr * (right - left)
            e1 = _fit_template(tpl, degrees, x1, lo, hi, f, weights, True, clip_aware)[1]
        else:
            left, x1, e1 = x1, x2, e2
            x2 = left + gr * (right - left)
            e2 = _fit_template(tpl, degrees, x2, lo, hi, f, weights, True, clip_aware)[1]
    for c in tpl.c_hints:
        e = _fit_template(tpl, degrees, c, lo, hi, f, weights, True, clip_aware)[1]
        if e <= best_e:
            return c
    for c, e in ((x1, e1), (x2, e2)):
        if e < best_e:
            best_c, best_e = c, e
    return float(f"{best_c:.6g}")  # a short, readable clamp


def _check_args(lo: float, hi: float, degrees: Any, form: str, label: str) -> tuple[int, int]:
    if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))) or not (
        math.isfinite(lo) and math.isfinite(hi)
    ):
        raise FitError(
            f"fit {label}: range [{lo}, {hi}] is not finite; pass finite numbers lo < hi"
        )
    if lo >= hi:
        raise FitError(f"fit {label}: empty range lo={lo} >= hi={hi}; pass lo < hi")
    try:
        if isinstance(degrees, (str, bytes)) or len(degrees) != 2:
            raise TypeError
        m, n = (int(v) for v in degrees)
        ok = all(float(v) == int(v) for v in degrees) and 0 <= m <= 16 and 0 <= n <= 16
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FitError(
            f"fit {label}: bad degrees {degrees!r}; pass (m, n) with integers 0 <= m, n <= 16, "
            "e.g. (5, 4)"
        )
    if form != "auto" and form not in FORMS:
        raise FitError(f"fit {label}: unknown form {form!r}; use 'auto' or one of {FORMS}")
    return m, n


@dataclass(frozen=True)
class SampleWeights:
    """How observed inputs (``fit(..., samples=x)``) become fit points and weights.

    Inside points: a uniform grid of ``points[0]`` over the samples' range widened by ``margin``
    of its span on each side (a span under 1e-3 is widened by 0.5), plus ``points[1]`` quantiles
    of the samples (dense where the data is dense), weight 1, scaled up to ``density_boost``
    where the samples are densest. Outside points: ``points[2]`` per side over the rest of
    ``GLOBAL_RANGE`` with weight ``outside_weight``, so the error outside the observed range
    stays within ``1 / outside_weight`` times the error inside, and the clamp search sees the
    whole range (a clamp at the edge of a narrow observed range would pin R there and cost
    accuracy inside it). ``outside_weight=0`` fits the inside range only.
    """

    margin: float = 0.10
    outside_weight: float = 0.1
    density_boost: float = 1.0
    points: tuple[int, int, int] = (2000, 1000, 400)


def _sample_points(
    x: np.ndarray, lo: float | None, hi: float | None, sw: SampleWeights
) -> tuple[float, float, float, float, np.ndarray, np.ndarray]:
    """(inside lo, hi, fit range lo, hi, sorted points, weights) for observed inputs ``x``."""
    lo_o, hi_o = float(x.min()), float(x.max())
    span = hi_o - lo_o
    pad = sw.margin * span if span >= 1e-3 else 0.5
    lo = lo_o - pad if lo is None else float(lo)
    hi = hi_o + pad if hi is None else float(hi)
    inside = np.concatenate(
        [np.linspace(lo, hi, sw.points[0]), np.quantile(x, np.linspace(0.0, 1.0, sw.points[1]))]
    )
    inside = inside[(inside >= lo) & (inside <= hi)]
    w_in = np.ones(inside.size)
    if sw.density_boost != 1.0:
        w_in = _density_weight(inside, x, sw.density_boost)
    if sw.outside_weight > 0.0 and sw.points[2] > 0:
        g_lo, g_hi = min(GLOBAL_RANGE[0], lo), max(GLOBAL_RANGE[1], hi)
        outside = np.concatenate(
            [
                np.linspace(g_lo, lo, sw.points[2], endpoint=False),
                np.linspace(hi, g_hi, sw.points[2])[1:],
            ]
        )
    else:
        g_lo, g_hi, outside = lo, hi, np.zeros(0)
    pts = np.concatenate([inside, outside])
    w = np.concatenate([w_in, np.full(outside.size, sw.outside_weight)])
    order = np.argsort(pts, kind="stable")
    return lo, hi, g_lo, g_hi, pts[order], w[order]


def _density_weight(pts: np.ndarray, samples: np.ndarray, boost: float) -> np.ndarray:
    """1 where samples are sparse, up to ``boost`` in the densest histogram bin (sqrt-scaled)."""
    counts, edges = np.histogram(samples, bins=48)
    d = counts / max(counts.max(), 1)
    i = np.clip(np.searchsorted(edges, pts, side="right") - 1, 0, len(counts) - 1)
    inside = (pts >= edges[0]) & (pts <= edges[-1])
    return 1.0 + (boost - 1.0) * np.where(inside, np.sqrt(d[i]), 0.0)


def fit(
    function: str | Callable[[np.ndarray], np.ndarray],
    lo: float | None = None,
    hi: float | None = None,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    weights: Any = None,
    *,
    samples: Any = None,
    sample_weights: SampleWeights = SampleWeights(),
    name: str | None = None,
    params: dict[str, float] | None = None,
    detect: bool = True,
) -> Rational:
    """Fit a rational approximation of ``function`` minimising the (weighted) max error.

    The one fit of the project: the built-in table, data-aware fits of the accuracy map, the
    layer-wise refit of ``rewrite finetune`` and ``pau_learned`` all call it.

    Args:
        function: a canonical name from ``rewriter.functions`` or a vectorised numpy callable.
        lo, hi: the fit range. Use ``GLOBAL_RANGE`` (-40, 40) with a gated/clamped form for an
            approximation that is right everywhere. With ``samples`` they default to the
            samples' range widened by ``sample_weights.margin``.
        degrees: (m, n), degrees of R's numerator and denominator.
        form: "auto" (the applicable form with the smallest global error) or one of ``FORMS``.
        weights: None; a callable w(x) >= 0 weighting the error on [lo, hi]; or a pair
            (samples_x, w) of sample points and weights that replaces the sampling grid. The
            fit minimises max w |F - f|.
        samples: observed inputs (any shape; non-finite values are dropped), e.g. one site's
            calibration inputs: the fit is weighted by them as ``sample_weights`` says (fit
            points on and around their range, the rest of [-40, 40] down-weighted). The result's
            ``lo, hi`` is the range they cover and ``max_error`` is measured there.
        sample_weights: how ``samples`` weight the fit (``SampleWeights``).
        name: label of a callable (default "custom").
        params: the function's parameters (e.g. {"alpha": 0.5} for elu).
        detect: for a callable, read its structure off its values (``detect_structure`` on
            [-40, 40] and [lo, hi]: tails, parity, gate, bounds) and also try the forms it
            allows, as a name would (``structure_templates``); False: the generic forms only.

    Returns:
        The ``Rational``, with ``max_error`` on [lo, hi] and ``global_error`` on [-40, 40]
        measured on dense grids.

    Raises:
        FitError: bad range, degrees, form or samples; the function is NaN/inf on the range.

    Example:
        >>> r = fit("gelu", -40, 40)            # gated form, global error ~3.5e-4
        >>> r.describe()  # doctest: +SKIP
        'gelu (5,4) gated clip±3.9 on [-40,40] max_err 3.5e-04 global 3.5e-04'
        >>> x = np.random.default_rng(0).normal(0.0, 0.7, 10_000)   # one site's inputs
        >>> r = fit("gelu", degrees=(3, 2), samples=x)  # doctest: +SKIP
        >>> r = fit(lambda x: x / (1 + np.exp(-x)), -40, 40)  # silu's structure, detected
        >>> r.form, r.global_error < 3e-5  # relu(x) plus an even bump, pinned to 0 at the clamp
        ('relu_plus', True)
    """
    params = dict(params or {})
    if isinstance(function, str):
        if function not in FUNCTIONS:
            raise FitError(
                f"fit: unknown function {function!r}; known: {', '.join(FUNCTIONS)}, "
                "or pass a numpy callable"
            )
        fn = FUNCTIONS[function]
        unknown = set(params) - set(fn.defaults)
        if unknown:
            raise FitError(f"fit {function}: unknown parameter(s) {sorted(unknown)}")
        params = {**fn.defaults, **{k: float(v) for k, v in params.items()}}
        label, cat = function, function
        f = fn.bind(**params)
    elif callable(function):
        label, cat = name or "custom", None
        user = function

        def f(x: np.ndarray) -> np.ndarray:
            return np.asarray(user(np.asarray(x, dtype=np.float64)), dtype=np.float64)
    else:
        raise FitError(f"fit: function must be a name or a callable, got {type(function).__name__}")
    note = ""
    if samples is not None:
        if weights is not None:
            raise FitError(f"fit {label}: pass samples or weights, not both")
        try:
            xs = np.asarray(samples, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise FitError(f"fit {label}: samples must be an array of numbers") from None
        xs = xs[np.isfinite(xs)]
        if not xs.size:
            raise FitError(f"fit {label}: no finite samples; pass the inputs the function sees")
        if lo is not None and hi is not None and not lo < hi:
            raise FitError(f"fit {label}: empty range lo={lo} >= hi={hi}; pass lo < hi")
        in_lo, in_hi, lo, hi, wx, ww = _sample_points(xs, lo, hi, sample_weights)
        weights = (wx, ww)
        note = f", samples={xs.size} in [{float(xs.min()):.6g}, {float(xs.max()):.6g}]"
    elif lo is None or hi is None:
        raise FitError(f"fit {label}: pass a range lo, hi (or samples)")
    lo, hi = float(lo), float(hi)
    degrees = _check_args(lo, hi, degrees, form, label)
    xs = np.linspace(lo, hi, 4001)
    with np.errstate(all="ignore"):
        ys = f(xs)
    if ys.shape != xs.shape or not np.all(np.isfinite(ys)):
        bad = xs[~np.isfinite(ys)] if ys.shape == xs.shape else xs[:1]
        raise FitError(
            f"fit {label}: function is not finite on [{lo:g}, {hi:g}] (e.g. at x={bad[0]:g}); "
            "shrink the range or fix the function"
        )
    if weights is not None and not callable(weights):
        if not (isinstance(weights, tuple) and len(weights) == 2):
            raise FitError(f"fit {label}: weights must be a callable w(x) or a pair (x, w)")
        wx, ww = (np.asarray(v, dtype=np.float64).ravel() for v in weights)
        if wx.shape != ww.shape or not (np.all(np.isfinite(wx)) and np.all(ww >= 0)):
            raise FitError(
                f"fit {label}: weights (x, w) must be finite arrays of one shape, w >= 0"
            )
        weights = (wx, ww)
    st = None
    if cat is None and detect:
        st = detect_structure(f, min(lo, GLOBAL_RANGE[0]), max(hi, GLOBAL_RANGE[1]))
    tpls = templates(cat, params, f, st)
    if form == "auto":
        names = _auto_forms(cat, tpls)
    elif form in tpls:
        names = [form]
    else:
        raise FitError(f"fit {label}: form {form!r} does not apply; applicable: {', '.join(tpls)}")
    best: Rational | None = None
    for fname in names:
        tpl = tpls[fname]
        fits = []
        # with r_clip, a fit that knows R is clipped may let R overshoot near a bound and do
        # better, or stall where the clip flattens its gradient: both are tried, the better kept
        for aware in (False, True) if tpl.r_clip is not None else (False,):
            c = _search_clamp(tpl, degrees, lo, hi, f, weights, aware) if tpl.clamp_kind else 0.0
            fits.append(_fit_template(tpl, degrees, c, lo, hi, f, weights, False, aware))
        r = min(fits, key=lambda re: re[1])[0]
        with np.errstate(all="ignore"):
            glob = _max_err(r, f, *GLOBAL_RANGE)
        r = replace(
            r,
            function=label,
            params=params,
            max_error=_max_err(r, f, lo, hi),
            global_error=glob,
            provenance={
                "fit": f"{FIT_VERSION} fit({label!r}, {lo!r}, {hi!r}, {degrees!r}, "
                f"form={fname!r}, params={params!r}{note})"
            },
        )
        if best is None or _key(r) < _key(best):
            best = r
    assert best is not None
    if samples is not None:
        best = replace(best, lo=in_lo, hi=in_hi, max_error=_max_err(best, f, in_lo, in_hi))
    return best


def _key(r: Rational) -> tuple[float, float]:
    g = r.global_error if math.isfinite(r.global_error) else math.inf
    return (g, r.max_error)
