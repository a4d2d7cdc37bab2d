"""Weighted minimax fit of R(u) = P(u)/Q(u) to samples (u_i, g_i, w_i): the numerical core.

Minimises max_i w_i |R(u_i) - g_i| over R's coefficients, where several samples may share one
u (points beyond a clamp collapse onto it but keep their own targets and weights).

Algorithm (deterministic, no randomness):

1. u is scaled to t = u / max|u| (conditioning of the monomial basis).
2. Linearised start: Sanathanan-Koerner iterations of the weighted least squares
   ``P(t) - g Q(t) = 0`` with row weights w / Q_prev, combined with Lawson's multiplicative
   weight update lambda_i <- lambda_i * |e_i| that drives least squares towards minimax.
3. Nonlinear Lawson refinement: scipy ``least_squares`` (Levenberg-Marquardt, analytic Jacobian)
   on the true residual sqrt(lambda) w (P/Q - g) of the *safe* model (|q_k| inside Q), with the
   same Lawson update between solves. The best iterate by max error is kept.

Plain least squares started from all-ones (the PAU reference code) stalls in poor local optima;
the linearised start avoids that (tanh (5,4) on [-3,3]: 1e-6 instead of 4.1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rewriter.rational.core import _clip_open

__all__ = ["RFit", "fit_r", "powers"]


@dataclass(frozen=True)
class RFit:
    """Result of ``fit_r``: full coefficient arrays in u (p_0..p_m, q_1..q_n) and the error."""

    p: np.ndarray
    q: np.ndarray
    error: float


def powers(m: int, n: int, parity: str) -> tuple[np.ndarray, np.ndarray]:
    """Exponents of P's and Q's free coefficients for a parity ("none", "odd", "abs")."""
    if parity == "odd":
        return np.arange(1, m + 1, 2), np.arange(2, n + 1, 2)
    return np.arange(0, m + 1), np.arange(1, n + 1)


class _Model:
    def __init__(self, t: np.ndarray, pe: np.ndarray, qe: np.ndarray, pau_b: bool) -> None:
        self.pe, self.qe, self.pau_b = pe, qe, pau_b
        self.phi = t[:, None] ** pe[None, :]  # P basis
        self.psi = (t[:, None] if pau_b else np.abs(t)[:, None]) ** qe[None, :]  # Q basis
        self.np = len(pe)

    def pq(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = theta[: self.np], theta[self.np :]
        num = self.phi @ a
        if self.pau_b:
            s = self.psi @ b
            return num, 1.0 + np.abs(s), np.sign(s)[:, None] * self.psi
        return num, 1.0 + self.psi @ np.abs(b), self.psi * np.sign(b)[None, :]

    def r(self, theta: np.ndarray) -> np.ndarray:
        """R on the samples (``pq`` without the derivative of Q)."""
        a, b = theta[: self.np], theta[self.np :]
        num = self.phi @ a
        if self.pau_b:
            return num / (1.0 + np.abs(self.psi @ b))
        return num / (1.0 + self.psi @ np.abs(b))


def _solve_ls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares via column-scaled normal equations (a start only; LM refines)."""
    scale = np.sqrt(np.sum(a**2, axis=0)) + 1e-300
    a_s = a / scale
    gram = a_s.T @ a_s
    gram[np.diag_indices_from(gram)] += 1e-13
    try:
        return np.linalg.solve(gram, a_s.T @ b) / scale
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def _lawson(lam: np.ndarray, e: np.ndarray, gamma: float) -> np.ndarray:
    lam = lam * (e / (e.max() + 1e-300)) ** gamma + 1e-300
    return lam / lam.sum()


def _clip(v: np.ndarray, bounds: tuple[float | None, float | None] | None) -> np.ndarray:
    return v if bounds is None else _clip_open(v, bounds)


def _levenberg_marquardt(
    model: _Model,
    theta: np.ndarray,
    g: np.ndarray,
    sl: np.ndarray,
    steps: int,
    bounds: tuple[float | None, float | None] | None = None,
) -> np.ndarray:
    """A few damped Gauss-Newton steps on sum (sl (clip(R) - g))^2 (column-scaled normal
    equations; a clipped sample has no gradient)."""
    mu = 1e-4

    def cost_of(th: np.ndarray) -> float:
        return float(np.sum((sl * (_clip(model.r(th), bounds) - g)) ** 2))

    cost = cost_of(theta)
    # the Jacobian is written in place (elementwise, so the same numbers as building it from
    # parts): one fit makes ~2600 of them, and the copies were a tenth of its time
    jac = np.empty((len(g), len(theta)))
    npar = model.np
    eye = np.eye(len(theta))
    for _ in range(steps):
        num, den, dq = model.pq(theta)
        rv = num / den
        cv = _clip(rv, bounds)
        r = sl * (cv - g)
        live = (sl * (cv == rv))[:, None]
        np.divide(model.phi, den[:, None], out=jac[:, :npar])
        np.multiply(-(num / den**2)[:, None], dq, out=jac[:, npar:])
        jac *= live
        scale = np.sqrt(np.sum(jac**2, axis=0)) + 1e-300
        js = jac / scale
        a = js.T @ js
        grad = js.T @ r
        for _ in range(8):
            try:
                d = np.linalg.solve(a + mu * eye, -grad) / scale
            except np.linalg.LinAlgError:
                mu *= 10.0
                continue
            new = theta + d
            new_cost = cost_of(new)
            if new_cost < cost:
                theta, cost, mu = new, new_cost, max(mu / 5.0, 1e-12)
                break
            mu *= 8.0
        else:
            break
    return theta


def fit_r(
    u: np.ndarray,
    g: np.ndarray,
    w: np.ndarray,
    m: int,
    n: int,
    parity: str = "none",
    pau_b: bool = False,
    linear_iters: int = 30,
    nonlinear_iters: int = 40,
    bounds: tuple[float | None, float | None] | None = None,
) -> RFit:
    """Weighted minimax fit of a safe rational; see the module docstring.

    ``bounds``: R is clipped to them where it is used (``Rational.r_clip``), so the error is
    that of clip(R): R may overshoot a bound where the target is near it.
    """
    umax = float(np.max(np.abs(u))) or 1.0
    t = u / umax
    pe, qe = powers(m, n, parity)
    model = _Model(t, pe, qe, pau_b)
    npar = len(pe)
    best_theta, best_err = None, np.inf

    def err_of(theta: np.ndarray) -> np.ndarray:
        return w * np.abs(_clip(model.r(theta), bounds) - g)

    # 1. linearised start (SK + Lawson)
    lam = np.full(len(t), 1.0 / len(t))
    qprev = np.ones_like(t)
    lin_psi = model.psi
    for _ in range(linear_iters):
        rw = w * np.sqrt(lam) / qprev
        a = np.hstack([model.phi, -g[:, None] * lin_psi]) * rw[:, None]
        theta = _solve_ls(a, g * rw)
        qlin = 1.0 + lin_psi @ theta[npar:]
        if np.all(qlin > 0):
            # the signed linear Q is positive: use its |q| version (identical where q >= 0)
            pass
        e = err_of(theta)
        emax = float(e.max())
        if np.isfinite(emax) and emax < best_err:
            best_theta, best_err = theta.copy(), emax
        qprev = np.maximum(np.abs(qlin), 1e-3)
        lam = _lawson(lam, w * np.abs(model.phi @ theta[:npar] / qprev - g), 1.0)
    if best_theta is None:
        best_theta = np.zeros(npar + len(qe))

    # 2. nonlinear Lawson refinement on the safe model
    theta = best_theta.copy()
    lam = np.full(len(t), 1.0 / len(t))
    for it in range(nonlinear_iters):
        theta = _levenberg_marquardt(model, theta, g, np.sqrt(lam) * w, 12 if it else 40, bounds)
        e = err_of(theta)
        emax = float(e.max())
        if np.isfinite(emax) and emax < best_err:
            best_theta, best_err = theta.copy(), emax
        lam = _lawson(lam, e, 1.0)

    a, b = best_theta[:npar], best_theta[npar:]
    p = np.zeros(m + 1)
    q = np.zeros(n)
    p[pe] = a / umax**pe
    q[qe - 1] = b / umax**qe
    return RFit(p=p, q=q, error=best_err)
