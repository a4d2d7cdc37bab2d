"""``PAU``: a learnable torch module computing a ``Rational`` with standard torch ops.

Only the free coefficients are parameters (with parity "odd": p_1, p_3, ... and q_2, q_4, ...),
so fine-tuning keeps the form's structure. Float16/bfloat16 inputs are computed in float32 and
the result cast back; float64 inputs are computed in float64 (for ``gradcheck``). The forward is
made of clamp/abs/mul/add/div/relu only, so TorchScript and dynamo ONNX export emit standard ops
and torch.compile fuses it into one kernel.

Example:
    >>> from rewriter.rational import fit, PAU
    >>> act = PAU(fit("gelu", -40, 40))
    >>> y = act(torch.randn(4, 8))
    >>> r2 = act.to_rational()     # after fine-tuning: export the learned coefficients
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .core import GLOBAL_RANGE, SAFE_LIMIT, Rational
from .minimax import powers

__all__ = ["PAU", "pau_forward"]


def _horner(c: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    if c.shape[0] == 1:
        return c[0] * torch.ones_like(v)
    acc = c[-1] * v + c[-2]
    for k in range(c.shape[0] - 3, -1, -1):
        acc = acc * v + c[k]
    return acc


def pau_forward(x: torch.Tensor, p: torch.Tensor, q: torch.Tensor, r: Rational) -> torch.Tensor:
    """F(x) for free coefficients ``p``, ``q`` (see ``PAU``) and the structure of ``r``."""
    dt = x.dtype
    cdt = torch.float64 if dt == torch.float64 else torch.float32
    xc = x.to(cdt)
    p, q = p.to(cdt), q.to(cdt)
    v = xc * r.s if r.s != 1.0 else xc
    if r.parity == "abs":
        v = torch.abs(v)
    lo, hi = r.clamp if r.clamp is not None else (-SAFE_LIMIT, SAFE_LIMIT)
    u = torch.clamp(v, lo, hi)
    if r.parity == "odd":
        w = u * u
        num = _horner(p, w) * u
        den = 1.0 + w * _horner(torch.abs(q), w) if q.shape[0] else None
    else:
        num = _horner(p, u)
        if q.shape[0] == 0:
            den = None
        elif r.form == "pau_b":
            den = 1.0 + torch.abs(u * _horner(q, u))
        else:
            au = torch.abs(u)
            den = 1.0 + au * _horner(torch.abs(q), au)
    out = num if den is None else num / den
    if r.r_clip is not None:
        out = torch.clamp(out, r.r_clip[0], r.r_clip[1])
    g0, g1 = r.gate
    if g1 != 1.0:
        out = out * g1
    if g0 != 0.0:
        out = out + g0
    if r.gate_x is not None:
        out = torch.clamp(xc, r.gate_x[0], r.gate_x[1]) * out
    a1, ar = r.linear
    if a1:
        out = out + a1 * xc
    if ar:
        out = out + ar * torch.relu(xc)
    if r.tails is not None:
        k_lo, t_lo, k_hi, t_hi = r.tails
        if t_hi:
            out = out + t_hi * torch.relu(xc - k_hi)
        if t_lo:
            out = out - t_lo * torch.relu(k_lo - xc)
    return out.to(dt)


class PAU(nn.Module):
    """A Padé Activation Unit initialised from ``r``; coefficients are ``nn.Parameter``s.

    Args:
        r: the rational (structure and initial coefficients).
        dtype: dtype of the parameters (default float32; ``.double()`` for gradcheck).
    """

    def __init__(self, r: Rational, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.rational = r
        pe, qe = powers(r.degrees[0], r.degrees[1], r.parity)
        self._pe, self._qe = pe, qe
        self.p = nn.Parameter(torch.tensor(r.p[pe], dtype=dtype))
        self.q = nn.Parameter(torch.tensor(r.q[qe - 1], dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pau_forward(x, self.p, self.q, self.rational)

    def extra_repr(self) -> str:
        return self.rational.describe()

    def to_rational(self) -> Rational:
        """The current coefficients as a ``Rational`` (errors re-measured when the function is
        a catalogue name, NaN otherwise)."""
        m, n = self.rational.degrees
        p = np.zeros(m + 1)
        q = np.zeros(n)
        p[self._pe] = self.p.detach().double().cpu().numpy()
        q[self._qe - 1] = self.q.detach().double().cpu().numpy()
        r = self.rational.with_coefficients(p, q)
        from ..functions import FUNCTIONS
        from .fitting import _max_err

        fn = FUNCTIONS.get(r.function)
        if fn is not None:
            f = fn.bind(**r.params)
            r = replace(
                r, max_error=_max_err(r, f, r.lo, r.hi), global_error=_max_err(r, f, *GLOBAL_RANGE)
            )
        return replace(r, provenance={**r.provenance, "tuned": "PAU.to_rational"})
