"""The ``Rational`` dataclass: one structured rational approximation and its numpy evaluation.

Every form is an instance of one shape (the design of this package, see ``__init__``)::

    F(x) = A(x) + X_B * (g0 + g1 * clip(R(u), r_clip))
    u    = clip(s * x, clamp)            (parity "abs": clip(|s * x|, clamp))
    A(x) = a1 * x + a_relu * relu(x) + t_hi * relu(x - k_hi) - t_lo * relu(k_lo - x)
    X_B  = 1, or clip(x, gate_x) when the gate multiplies x (gelu, silu, mish)
    R(u) = P(u) / Q(u),  P(u) = sum p_k u^k,  Q(u) = 1 + sum |q_k| |u|^k   (safe PAU)
                                              Q(u) = 1 + |sum q_k u^k|      ("pau_b")

``p`` holds p_0..p_m and ``q`` holds q_1..q_n (the constant 1 of Q is implicit). With parity
"odd", even entries of ``p`` and odd entries of ``q`` are zero (R is odd, Q even), and emitters
evaluate P and Q as polynomials in u*u.

``r_clip`` bounds R by the range of its target (e.g. [-1, 1] where R ~ erf or tanh). A
saturating form's R overshoots that range slightly at the clamp (``fitting`` pins it there), so
beyond the clamp the clip returns the bound itself and F is exactly the function's limit:
sigmoid 0 and 1, tanh -1 and 1, 0 on the left of GELU/SiLU/Mish/Softplus, -alpha for ELU (not
the clamp value R(c), which is only close: a sigmoid tail of 1.9e-5 instead of ~1e-9 made a
text detector's background probabilities 10^4 times too large).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["Rational", "FitError", "GLOBAL_RANGE", "SAFE_LIMIT"]

GLOBAL_RANGE = (-40.0, 40.0)
"""Where ``global_error`` is measured."""

SAFE_LIMIT = 1.0e4
"""Raw forms (no clamp) still clip their input to +-SAFE_LIMIT so that +-inf gives no NaN."""


class FitError(ValueError):
    """A rational could not be fitted (bad input range, degrees or function values)."""


def _f(x: float) -> str:
    return float(x).hex()


def _uf(s: Any) -> float:
    return float.fromhex(s) if isinstance(s, str) else float(s)


@dataclass(frozen=True, eq=False)
class Rational:
    """A fitted rational approximation of an activation function.

    Attributes:
        form: "pau", "pau_b", "odd", "gated", "gated_x", "relu_plus" or "clamped".
        degrees: (m, n), the degrees of R's numerator P and denominator Q.
        p: numerator coefficients p_0..p_m (float64).
        q: denominator coefficients q_1..q_n (float64); Q = 1 + sum |q_k| |u|^k.
        lo, hi: the fit range, where ``max_error`` is measured.
        clamp: (lo, hi) bounds of u, or None (raw form; +-SAFE_LIMIT guards infinities).
        function: the canonical name approximated, or a label for a callable.
        params: the function's parameters.
        max_error: max |F - f| on [lo, hi].
        global_error: max |F - f| on GLOBAL_RANGE.
        parity: "none", "odd" (R odd) or "abs" (u = |s x| before the clamp).
        s: input scale.
        gate: (g0, g1).
        gate_x: None (X_B = 1) or (lo, hi) bounds of the x that multiplies the gate (None = open).
        linear: (a1, a_relu).
        tails: None or (k_lo, t_lo, k_hi, t_hi), linear continuations beyond the clamp.
        r_clip: None or (lo, hi) bounds of R (None = open); beyond a pinned clamp R(u) passes
            its bound, so F there is the function's exact limit.
        provenance: free-form strings (fit command, version).

    Example:
        >>> from rewriter.rational import fit
        >>> r = fit("tanh", -40, 40)
        >>> float(abs(r(np.array([0.5])) - np.tanh(0.5))[0]) < 1e-4
        True
    """

    form: str
    degrees: tuple[int, int]
    p: np.ndarray
    q: np.ndarray
    lo: float
    hi: float
    clamp: tuple[float, float] | None = None
    function: str = "custom"
    params: dict[str, float] = field(default_factory=dict)
    max_error: float = math.nan
    global_error: float = math.nan
    parity: str = "none"
    s: float = 1.0
    gate: tuple[float, float] = (0.0, 1.0)
    gate_x: tuple[float | None, float | None] | None = None
    linear: tuple[float, float] = (0.0, 0.0)
    tails: tuple[float, float, float, float] | None = None
    r_clip: tuple[float | None, float | None] | None = None
    provenance: dict[str, str] = field(default_factory=dict)

    # -- evaluation -----------------------------------------------------------------------
    def u_of(self, x: np.ndarray) -> np.ndarray:
        """The argument of R for inputs ``x`` (float64)."""
        u = self.s * x
        if self.parity == "abs":
            u = np.abs(u)
        lo, hi = self.clamp if self.clamp is not None else (-SAFE_LIMIT, SAFE_LIMIT)
        return np.clip(u, lo, hi)

    def eval_r(self, u: np.ndarray) -> np.ndarray:
        """R(u) = P(u)/Q(u), float64."""
        u = np.asarray(u, dtype=np.float64)
        num = np.zeros_like(u)
        for c in self.p[::-1]:
            num = num * u + c
        if self.form == "pau_b":
            s = np.zeros_like(u)
            for c in self.q[::-1]:
                s = s * u + c
            den = 1.0 + np.abs(s * u)
        else:
            au = np.abs(u)
            den = np.zeros_like(u)
            for c in np.abs(self.q[::-1]):
                den = den * au + c
            den = 1.0 + den * au
        return num / den

    def __call__(self, x: Any) -> np.ndarray:
        xa = np.asarray(x)
        out_dtype = xa.dtype if np.issubdtype(xa.dtype, np.floating) else np.float64
        x64 = xa.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            rv = self.eval_r(self.u_of(x64))
            if self.r_clip is not None:
                rv = _clip_open(rv, self.r_clip)
            y = self.gate[0] + self.gate[1] * rv
            if self.gate_x is not None:
                y = _clip_open(x64, self.gate_x) * y
            a1, ar = self.linear
            if a1:
                y = y + a1 * x64
            if ar:
                y = y + ar * np.maximum(x64, 0.0)
            if self.tails is not None:
                k_lo, t_lo, k_hi, t_hi = self.tails
                if t_hi:
                    y = y + t_hi * np.maximum(x64 - k_hi, 0.0)
                if t_lo:
                    y = y - t_lo * np.maximum(k_lo - x64, 0.0)
        return y.astype(out_dtype)

    # -- description and serialisation ----------------------------------------------------
    def describe(self) -> str:
        """One line, e.g. ``gelu (5,4) gated clip±4.1 max_err 3.2e-04 global 3.2e-04``."""
        m, n = self.degrees
        if self.clamp is None:
            cl = "raw"
        elif self.clamp[0] == -self.clamp[1]:
            cl = f"clip±{self.clamp[1]:.3g}"
        else:
            cl = f"clip[{self.clamp[0]:.3g},{self.clamp[1]:.3g}]"
        par = "".join(f" {k}={v:g}" for k, v in sorted(self.params.items()))
        return (
            f"{self.function}{par} ({m},{n}) {self.form} {cl} on [{self.lo:g},{self.hi:g}] "
            f"max_err {self.max_error:.2e} global {self.global_error:.2e}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; floats as ``float.hex`` strings so the round trip is exact."""
        return {
            "form": self.form,
            "degrees": list(self.degrees),
            "p": [_f(v) for v in self.p],
            "q": [_f(v) for v in self.q],
            "lo": _f(self.lo),
            "hi": _f(self.hi),
            "clamp": None if self.clamp is None else [_f(v) for v in self.clamp],
            "function": self.function,
            "params": {k: _f(v) for k, v in sorted(self.params.items())},
            "max_error": _f(self.max_error),
            "global_error": _f(self.global_error),
            "parity": self.parity,
            "s": _f(self.s),
            "gate": [_f(v) for v in self.gate],
            "gate_x": None
            if self.gate_x is None
            else [None if v is None else _f(v) for v in self.gate_x],
            "linear": [_f(v) for v in self.linear],
            "tails": None if self.tails is None else [_f(v) for v in self.tails],
            "r_clip": None
            if self.r_clip is None
            else [None if v is None else _f(v) for v in self.r_clip],
            "provenance": dict(sorted(self.provenance.items())),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rational:
        """Inverse of ``to_dict`` (also accepts plain floats)."""

        def tup(v: Any) -> Any:
            return None if v is None else tuple(None if e is None else _uf(e) for e in v)

        return cls(
            form=d["form"],
            degrees=(int(d["degrees"][0]), int(d["degrees"][1])),
            p=np.array([_uf(v) for v in d["p"]], dtype=np.float64),
            q=np.array([_uf(v) for v in d["q"]], dtype=np.float64),
            lo=_uf(d["lo"]),
            hi=_uf(d["hi"]),
            clamp=tup(d.get("clamp")),
            function=d.get("function", "custom"),
            params={k: _uf(v) for k, v in d.get("params", {}).items()},
            max_error=_uf(d.get("max_error", math.nan)),
            global_error=_uf(d.get("global_error", math.nan)),
            parity=d.get("parity", "none"),
            s=_uf(d.get("s", 1.0)),
            gate=tup(d.get("gate", (0.0, 1.0))),
            gate_x=tup(d.get("gate_x")),
            linear=tup(d.get("linear", (0.0, 0.0))),
            tails=tup(d.get("tails")),
            r_clip=tup(d.get("r_clip")),
            provenance=dict(d.get("provenance", {})),
        )

    def with_coefficients(self, p: np.ndarray, q: np.ndarray) -> Rational:
        """A copy with new coefficients (errors set to NaN: unknown until measured)."""
        return replace(
            self,
            p=np.asarray(p, dtype=np.float64).copy(),
            q=np.asarray(q, dtype=np.float64).copy(),
            max_error=math.nan,
            global_error=math.nan,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rational) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_dict().items(), key=lambda kv: kv[0])))


def _clip_open(x: np.ndarray, bounds: tuple[float | None, float | None]) -> np.ndarray:
    lo, hi = bounds
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x
