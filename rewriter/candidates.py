"""Candidates: what one site can become. The one type for it, and the one table of standard ops.

A ``Candidate`` is one of

* ``keep``: the original subgraph;
* ``rational``: a Rational (degrees, form, emission ``variant``; the ``rational`` itself when it
  is data-aware or folded, else it comes from the built-in table when emitted);
* ``exact``: the same function with fewer, cheaper nodes (``mish_exp``, ``softplus_exp``: a
  rational function of ``e = exp(min(x, 20))`` instead of ``x``, error ~1 ulp);
* ``standard``: a different, cheaper activation as one native op (``relu``, ``hardswish``, ...).

Each carries the max-abs error it brings on [-40, 40] (0 for keep) and a stable ``name``, the key
of the latency database, reports and plans: ``keep``, ``rational:5_4:gated:horner``,
``exact:mish_exp``, ``standard:relu``. Every candidate evaluates in numpy (``c(x)``), the
reference functions coming from ``rewriter.functions`` only.

Emission variants of one rational compute the same function with different ONNX graphs:
``horner`` (``rewriter.rational.emit_onnx`` as is) and ``folded`` (the input scale ``s`` folded
into the coefficients and the clamp, and the gate's ``g1`` into P: up to two elementwise nodes
fewer; a node is a memory pass on ONNX Runtime's CPU provider, fused runtimes do not care).

``mish_exp``: ``tanh(softplus(x)) = n / (n + 2)`` with ``n = e (e + 2)``, so
``mish(x) = x * n / (n + 2)``: 7 nodes instead of Softplus+Tanh (ORT's Softplus kernel is scalar:
35 ms vs 0.75 for ReLU in DESIGN 6) or a 23-node (5,4) rational. ``softplus_exp``:
``max(log(1 + e), x)``: 5 nodes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rewriter.functions import FUNCTIONS
from rewriter.match.engine import Site

__all__ = [
    "Candidate",
    "KEEP",
    "LEARNED",
    "VARIANTS",
    "STANDARD",
    "STANDARD_FOR",
    "FUSED_STANDARD",
    "SEARCH_STANDARD",
    "EXACT_FOR",
    "candidates_for",
    "rational_candidate",
    "standard_candidate",
    "exact_candidate",
    "learned_candidate",
    "region_candidate",
    "site_function",
    "fold",
    "standard_error",
    "exact_error",
]

VARIANTS = ("horner", "folded")

# standard op -> the rewriter.functions entry (and params) it computes
STANDARD: dict[str, tuple[str, dict[str, float]]] = {
    "relu": ("relu", {}),
    "relu6": ("relu6", {}),
    "hardswish": ("hardswish", {}),
    "hardsigmoid": ("hardsigmoid", {}),
    "leaky_relu": ("leaky_relu", {"alpha": 0.01}),
    "quickgelu": ("swish", {"beta": 1.702}),  # x * sigmoid(1.702 x), which ORT fuses
    "gelu": ("gelu", {}),  # the erf-GELU chain ORT fuses into one Gelu kernel
}

# cheaper standard activations per function, most faithful first
STANDARD_FOR: dict[str, tuple[str, ...]] = {
    "gelu": ("quickgelu", "hardswish", "relu", "leaky_relu"),
    "gelu_tanh": ("gelu", "quickgelu", "hardswish", "relu", "leaky_relu"),
    "silu": ("hardswish", "relu", "relu6", "leaky_relu"),
    "swish": ("hardswish", "relu", "relu6", "leaky_relu"),
    "mish": ("hardswish", "relu", "relu6", "leaky_relu"),
    "sigmoid": ("hardsigmoid",),
    "hardswish": (
        "relu",
        "relu6",
        "leaky_relu",
    ),  # MobileNetV3: fuses into Conv where HardSwish does not
    "softplus": ("relu",),
    "elu": ("relu", "leaky_relu"),
    "selu": ("relu", "leaky_relu"),
    "celu": ("relu", "leaky_relu"),
}

# what the latency planner offers by default: one native op that runtimes fuse with a producer
FUSED_STANDARD = ("relu", "hardswish", "hardsigmoid", "gelu")
# what the accuracy-budget search offers: every cheaper op, its harm is measured on data
SEARCH_STANDARD = ("relu", "relu6", "hardswish", "hardsigmoid", "leaky_relu", "quickgelu")

# exact rewrite -> the function it computes
EXACT_FOR = {"mish": "mish_exp", "softplus": "softplus_exp"}
_EXACT_FUNCTION = {v: k for k, v in EXACT_FOR.items()}


@dataclass(frozen=True)
class Candidate:
    """One option for a site.

    Attributes:
        kind: "keep", "rational", "exact", "standard" or "learned" (``LEARNED``).
        name: stable key (database, reports, plans), e.g. ``rational:5_4:gated:folded``.
        error: max |candidate - function| on [-40, 40] (0 for keep; NaN when unknown).
        degrees, form, variant: the rational's (kind "rational").
        op: the exact rewrite or standard activation (kinds "exact", "standard").
        rational: the Rational to emit (None: the built-in table's at degrees and form).
    """

    kind: str
    name: str
    error: float = 0.0
    degrees: tuple[int, int] | None = None
    form: str | None = None
    variant: str | None = None
    op: str | None = None
    rational: Any = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The candidate's function in float64 (rationals: their own; keep: not defined)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "rational" and self.rational is not None:
            return np.asarray(self.rational(x), dtype=np.float64)
        if self.kind == "standard":
            fn, params = STANDARD[self.op or "relu"]
            return FUNCTIONS[fn].bind(**params)(x)
        if self.kind == "exact":
            return FUNCTIONS[_EXACT_FUNCTION[self.op or ""]].bind()(x)
        raise ValueError(f"candidate {self.name} has no function of its own")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "error": self.error,
            "degrees": list(self.degrees) if self.degrees else None,
            "form": self.form,
            "variant": self.variant,
            "op": self.op,
        }


KEEP = Candidate("keep", "keep")
# a ``pau_learned`` region's own fitted rational (the learned pass fits it when it emits)
LEARNED = Candidate("learned", "learned")


def site_function(site: Site) -> tuple[str, dict[str, float]]:
    """The catalogue function (and params) a site computes."""
    if site.function == "prelu":
        return "leaky_relu", {"alpha": site.params["slope"]}
    return site.function, dict(site.params)


def rational_candidate(r: Any, variant: str = "horner", error: float | None = None) -> Candidate:
    """The candidate emitting Rational ``r`` (error: its global error unless given)."""
    m, n = int(r.degrees[0]), int(r.degrees[1])
    return Candidate(
        "rational",
        f"rational:{m}_{n}:{r.form}:{variant}",
        float(r.global_error) if error is None else float(error),
        (m, n),
        r.form,
        variant,
        rational=r,
    )


def table_candidate(degrees: tuple[int, int], form: str = "auto") -> Candidate:
    """The built-in table's rational of ``degrees`` and ``form`` for whatever function a site
    computes (the emitter looks it up per site; its error is per site, so NaN here)."""
    m, n = int(degrees[0]), int(degrees[1])
    return Candidate(
        "rational", f"rational:{m}_{n}:{form}:horner", math.nan, (m, n), form, "horner"
    )


def standard_candidate(function: str, params: dict[str, float], op: str) -> Candidate:
    """Standard activation ``op`` in place of ``function``, with the error of the swap."""
    return Candidate(
        "standard",
        f"standard:{op}",
        standard_error(function, tuple(sorted(params.items())), op),
        op=op,
    )


def exact_candidate(function: str, params: dict[str, float]) -> Candidate | None:
    """The exact rewrite of ``function``, if there is one for these params."""
    if function not in EXACT_FOR or params.get("beta", 1.0) != 1.0:
        return None
    op = EXACT_FOR[function]
    return Candidate("exact", f"exact:{op}", exact_error(op), op=op)


def learned_candidate(site: Site) -> Candidate | None:
    """A ``pau_learned`` region's own fit as a candidate: the rational the learned pass fitted
    on the run's inputs (``site.rational["rational"]``, recorded by a dry run given the
    samples), emitted as it is; None where the region has no fit (skipped, with its reason).
    Its name carries a digest of the fit (``learned:5_4:pade:1a2b3c4d``): the region's latency
    record is the fit's, and another fit of the same region is measured again."""
    info = site.rational or {}
    if info.get("skipped") or not info.get("rational"):
        return None
    from rewriter.rational import Rational

    return region_candidate(Rational.from_dict(info["rational"]))


def region_candidate(r: Any) -> Candidate:
    """Rational ``r``, a fit of a ``pau_learned`` region, as that region's candidate
    (``learned:5_4:pade:1a2b3c4d``: the digest is of the fit, ``Rational.to_dict``)."""
    import hashlib
    import json

    digest = hashlib.sha1(json.dumps(r.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    m, n = (int(d) for d in r.degrees)
    return Candidate(
        "rational",
        f"learned:{m}_{n}:{r.form}:{digest}",
        float(r.max_error),
        (m, n),
        r.form,
        "horner",
        rational=r,
    )


def candidates_for(
    site: Site,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    *,
    extra_degrees: tuple[tuple[int, int], ...] = ((3, 2), (4, 3)),
    variants: tuple[str, ...] = VARIANTS,
    allow_standard: bool = False,
    standard: tuple[str, ...] = FUSED_STANDARD,
    max_error: float | None = None,
    rationals: list[Any] | None = None,
) -> list[Candidate]:
    """Candidates for ``site``, ``keep`` first.

    Args:
        degrees, form: the requested rational; its error is the default bound (only equally
            accurate or better built-in rationals compete) when ``max_error`` is None.
        extra_degrees: other built-in rationals to offer.
        variants: emission variants of each rational.
        allow_standard: also the standard activations of ``STANDARD_FOR`` within ``standard``
            (``FUSED_STANDARD`` for the latency planner, ``SEARCH_STANDARD`` for the budget
            search, which measures the harm on data).
        max_error: the bound on [-40, 40] for built-in rationals and standard activations.
        rationals: data-aware Rationals offered instead of the built-in table (not bounded:
            their error is measured on the observed inputs).

    A ``pau_learned`` region (function ``learned``) has ``keep`` and its own fit
    (``learned_candidate``) only: no built-in rational computes it.
    """
    from rewriter.rational import table_rational

    if site.function == "learned":  # its own fit, or nothing but keep
        fitted = learned_candidate(site)
        return [KEEP] if fitted is None else [KEEP, fitted]
    fn, params = site_function(site)
    out = [KEEP]
    if rationals is not None:
        out += [rational_candidate(r) for r in rationals]
    else:
        base = None
        rats = []
        wanted: list[tuple[int, int]] = [(int(degrees[0]), int(degrees[1]))]
        wanted += [(int(d[0]), int(d[1])) for d in extra_degrees if tuple(d) != tuple(degrees)]
        for deg in wanted:
            try:
                r = table_rational(fn, degrees=deg, form=form, **params)
            except Exception:
                continue
            if deg == tuple(degrees):
                base = r
            rats.append(r)
        bound = (
            max_error
            if max_error is not None
            else (float(base.global_error) * 1.0001 if base is not None else None)
        )
        for r in rats:
            if bound is not None and not float(r.global_error) <= bound:
                continue
            seen_nodes: set[int] = set()
            for v in variants:
                rv = fold(r) if v == "folded" else r
                if v != "horner" and rv is r:
                    continue
                n = _node_count(rv)
                if n in seen_nodes:
                    continue
                seen_nodes.add(n)
                out.append(rational_candidate(rv, v, float(r.global_error)))
    exact = exact_candidate(fn, params)
    if exact is not None:
        out.append(exact)
    if allow_standard:
        for op in STANDARD_FOR.get(fn, ()):
            if op not in standard:
                continue
            c = standard_candidate(fn, params, op)
            if rationals is None and max_error is not None and c.error > max_error:
                continue
            out.append(c)
    return out


def fold(r: Any) -> Any:
    """The same function with ``s`` folded into P, Q and the clamp, and ``g1`` into P."""
    p, q = np.array(r.p, dtype=np.float64), np.array(r.q, dtype=np.float64)
    s, clamp = r.s, r.clamp
    if s != 1.0 and s > 0 and r.parity in ("none", "odd", "abs") and r.form != "pau_b":
        p = p * s ** np.arange(len(p))
        q = q * s ** np.arange(1, len(q) + 1)
        clamp = (clamp[0] / s, clamp[1] / s) if clamp is not None else None
        s = 1.0
    g0, g1 = r.gate
    if g1 != 1.0:
        p, g1 = p * g1, 1.0
    out = replace(
        r,
        p=p,
        q=q,
        s=s,
        clamp=clamp,
        gate=(g0, g1),
        provenance={**r.provenance, "variant": "folded"},
    )
    x = np.linspace(-40, 40, 4001)
    if not np.allclose(out(x), r(x), rtol=1e-9, atol=1e-9):  # pragma: no cover - cannot fold
        return r
    return out


_GRID = np.concatenate([np.linspace(-40, 40, 16001), np.linspace(-6, 6, 12001)])


@functools.lru_cache(maxsize=256)
def standard_error(function: str, params: tuple[tuple[str, float], ...], op: str) -> float:
    """Max-abs difference on [-40, 40] between ``function`` and the standard activation ``op``."""
    f = FUNCTIONS[function].bind(**dict(params))
    g: Callable[[np.ndarray], np.ndarray] = Candidate("standard", "", op=op)
    return float(np.max(np.abs(g(_GRID) - f(_GRID))))


@functools.lru_cache(maxsize=8)
def exact_error(op: str) -> float:
    """Max-abs error of the float32 exact form on [-40, 40] (rounding only)."""
    x = _GRID.astype(np.float32)
    e = np.exp(np.minimum(x, np.float32(20)))
    if op == "mish_exp":
        n = e * (e + np.float32(2))
        y = x * (n / (n + np.float32(2)))
    else:
        y = np.maximum(np.log(np.float32(1) + e), x)
    ref = FUNCTIONS[_EXACT_FUNCTION[op]].bind()(_GRID)
    return float(np.max(np.abs(y.astype(np.float64) - ref)))


def _node_count(r: Any) -> int:
    from rewriter.rational import emit_onnx

    return len(emit_onnx(r, "x", "y", prefix="n/", const_prefix="c/")[0])
