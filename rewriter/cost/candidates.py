"""Candidates: what one site could become, and how to build each into a model.

A ``Candidate`` is ``keep`` (the original subgraph), a rational (degrees, form, emission
variant) or a standard activation (``relu``, ``hardswish``, ``hardsigmoid``, ``gelu``), each
with the max-abs approximation error it brings on [-40, 40].

Emission variants of one rational compute the same function with different ONNX graphs:

* ``horner``: ``rewriter.rational.emit_onnx`` as is (the default output of ``rewrite``).
* ``folded``: the input scale ``s`` folded into the coefficients and the clamp, and the gate's
  ``g1`` into P: up to two elementwise nodes fewer (a node is a memory pass on ONNX Runtime's CPU
  provider; fused runtimes do not care). Same errors up to rounding.

Exact rewrites (kind ``exact``) compute the *same* function with fewer, cheaper nodes, as a
rational function of ``e = exp(min(x, 20))`` instead of ``x``:

* ``mish_exp``: ``tanh(softplus(x)) = n / (n + 2)`` with ``n = e (e + 2)``, so
  ``mish(x) = x * n / (n + 2)``: 7 nodes instead of Softplus+Tanh (ORT's Softplus kernel is
  scalar: 35 ms vs 0.75 for ReLU in DESIGN 6) or a 23-node (5,4) rational. Error ~1 ulp.
* ``softplus_exp``: ``max(log(1 + e), x)``: 5 nodes.

Standard activations replace the site by one native op (or the erf-GELU chain, which ONNX
Runtime fuses into one Gelu kernel); their error is that of the different function, so the
planner takes them only with ``allow_standard``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rewriter.functions import FUNCTIONS
from rewriter.match.engine import Options, Site, run

__all__ = [
    "Candidate",
    "candidates_for",
    "fold",
    "build_candidate",
    "STANDARD_FOR",
    "standard_error",
]

VARIANTS = ("horner", "folded")

STANDARD_FOR: dict[str, tuple[str, ...]] = {
    "gelu": ("relu",),
    "gelu_tanh": ("gelu", "relu"),
    "silu": ("hardswish", "relu"),
    "swish": ("hardswish", "relu"),
    "mish": ("hardswish", "relu"),
    "sigmoid": ("hardsigmoid",),
    "softplus": ("relu",),
    "elu": ("relu",),
    "selu": ("relu",),
    "celu": ("relu",),
}


@dataclass(frozen=True)
class Candidate:
    """One option for a site.

    Attributes:
        kind: "keep", "rational" or "standard".
        name: stable key (database and reports), e.g. ``rational:5_4:gated:folded``, ``standard:relu``.
        error: max |candidate - function| on [-40, 40] (0 for keep).
        degrees, form, variant: the rational's (kind "rational").
        op: the standard activation (kind "standard").
    """

    kind: str
    name: str
    error: float = 0.0
    degrees: tuple[int, int] | None = None
    form: str | None = None
    variant: str | None = None
    op: str | None = None
    rational: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "error": self.error,
            "degrees": self.degrees,
            "form": self.form,
            "variant": self.variant,
            "op": self.op,
        }


KEEP = Candidate("keep", "keep")


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
    if not np.allclose(
        out(x), r(x), rtol=1e-9, atol=1e-9
    ):  # pragma: no cover - a form we cannot fold
        return r
    return out


_GRID = np.concatenate([np.linspace(-40, 40, 16001), np.linspace(-6, 6, 12001)])


@functools.lru_cache(maxsize=256)
def standard_error(function: str, params: tuple[tuple[str, float], ...], op: str) -> float:
    f = FUNCTIONS[function].bind(**dict(params))
    x = _GRID
    g = {
        "relu": lambda v: np.maximum(v, 0.0),
        "hardswish": lambda v: v * np.clip(v + 3, 0, 6) / 6,
        "hardsigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1),
        "gelu": FUNCTIONS["gelu"].bind(),
    }[op]
    return float(np.max(np.abs(g(x) - f(x))))


def _site_fn(site: Site) -> tuple[str, dict[str, float]]:
    from rewriter.passes.pau import site_function

    return site_function(site)


def candidates_for(
    site: Site,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    *,
    extra_degrees: tuple[tuple[int, int], ...] = ((3, 2), (4, 3)),
    variants: tuple[str, ...] = VARIANTS,
    allow_standard: bool = False,
    max_error: float | None = None,
) -> list[Candidate]:
    """Candidates for ``site`` (keep first), filtered by ``max_error`` (default: the requested
    rational's own error, so only equally accurate or better candidates compete)."""
    from rewriter.rational import table_rational

    fn, params = _site_fn(site)
    out = [KEEP]
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
        err = float(r.global_error)
        if bound is not None and not err <= bound:
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
            out.append(
                Candidate(
                    "rational",
                    f"rational:{r.degrees[0]}_{r.degrees[1]}:{r.form}:{v}",
                    err,
                    (int(r.degrees[0]), int(r.degrees[1])),
                    r.form,
                    v,
                    rational=rv,
                )
            )
    if fn in EXACT_FOR and not params.get("beta", 1.0) != 1.0:
        op = EXACT_FOR[fn]
        out.append(Candidate("exact", f"exact:{op}", exact_error(op), op=op))
    if allow_standard:
        for op in STANDARD_FOR.get(fn, ()):
            err = standard_error(fn, tuple(sorted(params.items())), op)
            if max_error is not None and err > max_error:
                continue
            out.append(Candidate("standard", f"standard:{op}", err, op=op))
    return out


EXACT_FOR = {"mish": "mish_exp", "softplus": "softplus_exp"}


@functools.lru_cache(maxsize=8)
def exact_error(op: str) -> float:
    """Max-abs error of the float32 exact form on [-40, 40] (rounding only)."""
    x = _GRID.astype(np.float32)
    e = np.exp(np.minimum(x, np.float32(20)))
    if op == "mish_exp":
        n = e * (e + np.float32(2))
        y = x * (n / (n + np.float32(2)))
        ref = FUNCTIONS["mish"].bind()(_GRID)
    else:
        y = np.maximum(np.log(np.float32(1) + e), x)
        ref = FUNCTIONS["softplus"].bind()(_GRID)
    return float(np.max(np.abs(y.astype(np.float64) - ref)))


def exact_nodes(
    op: str, x: str, y: str, prefix: str, dtype: int = TensorProto.FLOAT
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes of an exact rewrite (see module doc): ``mish_exp`` or ``softplus_exp``."""
    npd = helper.tensor_dtype_to_np_dtype(dtype)
    cst = {
        k: numpy_helper.from_array(np.array(v, dtype=npd), f"{prefix}{k}")
        for k, v in (("c20", 20.0), ("two", 2.0), ("one", 1.0))
    }
    P = prefix
    mk = helper.make_node
    head = [
        mk("Min", [x, cst["c20"].name], [f"{P}xm"], name=f"{P}Min"),
        mk("Exp", [f"{P}xm"], [f"{P}e"], name=f"{P}Exp"),
    ]
    if op == "mish_exp":
        nodes = head + [
            mk("Add", [f"{P}e", cst["two"].name], [f"{P}e2"], name=f"{P}Add"),
            mk("Mul", [f"{P}e", f"{P}e2"], [f"{P}n"], name=f"{P}Mul"),
            mk("Add", [f"{P}n", cst["two"].name], [f"{P}d"], name=f"{P}Add2"),
            mk("Div", [f"{P}n", f"{P}d"], [f"{P}r"], name=f"{P}Div"),
            mk("Mul", [x, f"{P}r"], [y], name=f"{P}Mul2"),
        ]
        return nodes, [cst["c20"], cst["two"]]
    if op == "softplus_exp":
        nodes = head + [
            mk("Add", [f"{P}e", cst["one"].name], [f"{P}e1"], name=f"{P}Add"),
            mk("Log", [f"{P}e1"], [f"{P}l"], name=f"{P}Log"),
            mk("Max", [f"{P}l", x], [y], name=f"{P}Max"),
        ]
        return nodes, [cst["c20"], cst["one"]]
    raise ValueError(f"unknown exact rewrite {op!r}")


def _node_count(r: Any) -> int:
    from rewriter.rational import emit_onnx

    return len(emit_onnx(r, "x", "y", prefix="n/", const_prefix="c/")[0])


def standard_nodes(
    op: str, x: str, y: str, prefix: str, dtype: int = TensorProto.FLOAT
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Native nodes computing the standard activation ``op`` from x into y: relu, relu6,
    hardswish, hardsigmoid, leaky_relu, quickgelu (x * Sigmoid(1.702 x), which ORT fuses), or
    gelu (ORT's fusable erf-GELU chain)."""
    npd = helper.tensor_dtype_to_np_dtype(dtype)

    def const(name: str, v: float) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(v, dtype=npd), f"{prefix}{name}")

    if op == "relu":
        return [helper.make_node("Relu", [x], [y], name=f"{prefix}Relu")], []
    if op == "relu6":
        lo, hi = const("zero", 0.0), const("six", 6.0)
        return [helper.make_node("Clip", [x, lo.name, hi.name], [y], name=f"{prefix}Clip")], [
            lo,
            hi,
        ]
    if op == "leaky_relu":
        return [helper.make_node("LeakyRelu", [x], [y], name=f"{prefix}LeakyRelu", alpha=0.01)], []
    if op == "quickgelu":
        k = const("k", 1.702)
        return [
            helper.make_node("Mul", [x, k.name], [f"{prefix}kx"], name=f"{prefix}Mul"),
            helper.make_node("Sigmoid", [f"{prefix}kx"], [f"{prefix}s"], name=f"{prefix}Sigmoid"),
            helper.make_node("Mul", [x, f"{prefix}s"], [y], name=f"{prefix}Mul2"),
        ], [k]
    if op == "hardswish":
        return [helper.make_node("HardSwish", [x], [y], name=f"{prefix}HardSwish")], []
    if op == "hardsigmoid":
        return [
            helper.make_node(
                "HardSigmoid", [x], [y], name=f"{prefix}HardSigmoid", alpha=1.0 / 6.0, beta=0.5
            )
        ], []
    if op == "gelu":
        npd = helper.tensor_dtype_to_np_dtype(dtype)
        c = {
            k: numpy_helper.from_array(np.array(v, dtype=npd), f"{prefix}{k}")
            for k, v in (("sqrt2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5))
        }
        nodes = [
            helper.make_node("Div", [x, c["sqrt2"].name], [f"{prefix}d"], name=f"{prefix}Div"),
            helper.make_node("Erf", [f"{prefix}d"], [f"{prefix}e"], name=f"{prefix}Erf"),
            helper.make_node(
                "Add", [f"{prefix}e", c["one"].name], [f"{prefix}a"], name=f"{prefix}Add"
            ),
            helper.make_node("Mul", [x, f"{prefix}a"], [f"{prefix}m"], name=f"{prefix}Mul"),
            helper.make_node("Mul", [f"{prefix}m", c["half"].name], [y], name=f"{prefix}Mul2"),
        ]
        return nodes, list(c.values())
    raise ValueError(f"unknown standard activation {op!r}")


def emit_choice(
    c: Any, site: Site, rule: Any, g: Any
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any]]:
    """What a site becomes for a chosen option ``c`` (a ``Candidate`` or the budget search's
    ``Choice``: anything with ``kind``, ``degrees``, ``form``, ``rational`` and ``op``)."""
    from rewriter.passes.pau import RationalReplacement

    if c.kind == "rational":
        return RationalReplacement(c.degrees or (5, 4), c.form or "auto", {site.name: c.rational})(
            site, rule, g
        )
    vi = g.info(site.input)
    dtype = vi.elem_type if vi is not None and vi.elem_type else TensorProto.FLOAT
    emit = exact_nodes if c.kind == "exact" else standard_nodes
    nodes, inits = emit(
        c.op or ("" if c.kind == "exact" else "relu"),
        site.input,
        site.output,
        f"pau/{site.name}/",
        dtype,
    )
    if nodes:
        nodes[-1].doc_string = f"pau-rewriter {rule.name}: {c.kind} {c.op} replaces {site.function}"
    info: dict[str, Any] = {"form": c.kind, "op": c.op, "describe": f"{c.kind} {c.op}"}
    error = getattr(c, "error", None)
    if error is not None:
        info.update(max_error=error, global_error=error)
    return nodes, inits, info


class ChoiceReplacement:
    """``engine.Options.replacement`` emitting, per site output value, the chosen candidate."""

    def __init__(self, choices: dict[str, Candidate]) -> None:
        self.choices = choices

    def __call__(
        self, site: Site, rule: Any, g: Any
    ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any]]:
        return emit_choice(self.choices[site.output], site, rule, g)


def build_candidate(model: onnx.ModelProto, choices: dict[str, Candidate]) -> onnx.ModelProto:
    """A copy of ``model`` with the sites whose output is a key of ``choices`` replaced.

    ``keep`` choices are skipped. Works for any mix of rationals and standard activations.
    """
    from rewriter.match.rules import all_rules

    m = onnx.ModelProto()
    m.CopyFrom(model)
    live = {k: v for k, v in choices.items() if v.kind != "keep"}
    if not live:
        return m
    opts = Options(replacement=ChoiceReplacement(live), select=lambda s: s.output in live)
    run(m, all_rules(), opts)
    return m
