"""Choices per site, building a model from an assignment, and measuring its output deviation.

A ``Choice`` is what one site becomes: ``keep``, a rational (degrees, form, the data-aware
``Rational``) or a standard activation (``relu``, ``relu6``, ``hardswish``, ``hardsigmoid``,
``leaky_relu``, ``quickgelu`` = x * sigmoid(1.702 x)). An assignment maps site names to choices;
absent sites are kept.

``build(model, pipeline, assignment)`` rewrites: all-rational assignments through
``rewrite_onnx(select=..., rationals=...)`` (so a one-site assignment is exactly
``rewrite_onnx(model, pipeline, select=lambda s: s.name == site, rationals={site: r})``), others
through the engine with ``AssignmentReplacement`` on the pipeline's canonicalized model.

``Evaluator`` runs the original once on the calibration batches and then any assignment on the
same batches, and returns a ``Deviation``: per graph output, all batches concatenated and
flattened to float64, ``cosine = a.b / (|a| |b|)``, ``rel_l2 = |b - a| / |a|``, ``max_abs``;
the model's numbers are the worst over its outputs (min cosine, max rel_l2, max max_abs), as in
``rewriter.verify``. With labels, ``accuracy`` is the percentage of samples whose argmax over
the last axis of the first output equals the label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from rewriter.cost.candidates import emit_choice
from rewriter.ir.runtime import session
from rewriter.match.engine import Site
from rewriter.verify import Deviation, accuracy_of, deviation

__all__ = [
    "Choice",
    "KEEP",
    "Deviation",
    "Evaluator",
    "build",
    "STANDARD_OPS",
    "standard_choices",
    "standard_fn",
]

STANDARD_OPS = ("relu", "relu6", "hardswish", "hardsigmoid", "leaky_relu", "quickgelu")

# cheaper standard activations worth trying per function (the search measures the harm)
STANDARD_FOR: dict[str, tuple[str, ...]] = {
    "gelu": ("quickgelu", "hardswish", "relu", "leaky_relu"),
    "gelu_tanh": ("quickgelu", "hardswish", "relu", "leaky_relu"),
    "silu": ("hardswish", "relu", "relu6", "leaky_relu"),
    "swish": ("hardswish", "relu", "relu6", "leaky_relu"),
    "mish": ("hardswish", "relu", "relu6", "leaky_relu"),
    "sigmoid": ("hardsigmoid",),
    "softplus": ("relu",),
    "elu": ("relu", "leaky_relu"),
    "selu": ("relu", "leaky_relu"),
    "celu": ("relu", "leaky_relu"),
}
LEAKY_ALPHA = 0.01
QUICK_GELU = 1.702


def standard_fn(op: str) -> Callable[[np.ndarray], np.ndarray]:
    """numpy reference of a standard activation (float64)."""
    return {
        "relu": lambda x: np.maximum(x, 0.0),
        "relu6": lambda x: np.clip(x, 0.0, 6.0),
        "hardswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        "hardsigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "leaky_relu": lambda x: np.where(x >= 0, x, LEAKY_ALPHA * x),
        "quickgelu": lambda x: x / (1.0 + np.exp(-QUICK_GELU * np.clip(x, -80, 80))),
    }[op]


@dataclass(frozen=True, eq=False)
class Choice:
    """What one site becomes.

    Attributes:
        kind: "keep", "rational" or "standard".
        key: stable name: ``keep``, ``rational:5_4:gated``, ``standard:relu``.
        degrees, form, rational: of a rational choice.
        op: of a standard choice.
    """

    kind: str
    key: str
    degrees: tuple[int, int] | None = None
    form: str | None = None
    rational: Any = None
    op: str | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "rational":
            return np.asarray(self.rational(x), dtype=np.float64)
        return standard_fn(self.op or "relu")(np.asarray(x, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "degrees": list(self.degrees) if self.degrees else None,
            "form": self.form,
            "op": self.op,
        }


KEEP = Choice("keep", "keep")


def rational_choice(r: Any) -> Choice:
    return Choice(
        "rational", f"rational:{r.degrees[0]}_{r.degrees[1]}:{r.form}", tuple(r.degrees), r.form, r
    )


def standard_choices(function: str) -> list[Choice]:
    return [Choice("standard", f"standard:{op}", op=op) for op in STANDARD_FOR.get(function, ())]


class AssignmentReplacement:
    """``engine.Options.replacement``: emits each site's ``Choice`` (keyed by site name or output)."""

    def __init__(self, assignment: Mapping[str, Choice], by: str = "name") -> None:
        self.assignment = assignment
        self.by = by  # "name", or "output" (micro-models number their one site differently)

    def __call__(
        self, site: Site, rule: Any, g: Any
    ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any]]:
        c = self.assignment[site.name if self.by == "name" else site.output]
        return emit_choice(c, site, rule, g)


def build(
    model: onnx.ModelProto, pipeline: str, assignment: Mapping[str, Choice]
) -> onnx.ModelProto:
    """A rewritten copy of ``model``: each site named in ``assignment`` becomes its choice."""
    from rewriter.api import rewrite_onnx

    live = {k: c for k, c in assignment.items() if c.kind != "keep"}
    if all(c.kind == "rational" for c in live.values()):
        return rewrite_onnx(
            model,
            pipeline,
            select=lambda s: s.name in live,
            rationals={k: c.rational for k, c in live.items()},
        ).model
    from rewriter.api import _provenance
    from rewriter.match.engine import Options, run
    from rewriter.match.rules import all_rules
    from rewriter.passes import GRAPH_PASSES, parse_pipeline

    p = parse_pipeline(pipeline)
    m = rewrite_onnx(model, pipeline, dry_run=True).model  # the canonicalized copy
    opts = Options(
        replacement=AssignmentReplacement(live),
        select=lambda s: s.function in p.functions and s.name in live,
    )
    sites = [s for s in run(m, all_rules(), opts) if s.function in p.functions]
    for name in p.after:
        GRAPH_PASSES[name](m)
    _provenance(m, p.name, [s for s in sites if s.replaced])
    return m


def run_batches(
    model: onnx.ModelProto, batches: list[Mapping[str, np.ndarray]]
) -> list[np.ndarray]:
    """Every graph output over all batches, concatenated along axis 0 (flattened when ranks differ)."""
    sess = session(model)
    per: list[list[np.ndarray]] = []
    for b in batches:
        outs = sess.run(None, dict(b))
        per.append([np.asarray(o) for o in outs])
    res = []
    for k in range(len(per[0]) if per else 0):
        parts = [p[k] for p in per]
        if all(a.ndim >= 1 for a in parts) and len({a.shape[1:] for a in parts}) == 1:
            res.append(np.concatenate(parts, axis=0))
        else:
            res.append(np.concatenate([a.ravel() for a in parts]))
    return res


class Evaluator:
    """Runs assignments of one model on fixed calibration batches and caches their deviation.

    Args:
        model: the original model (ModelProto).
        pipeline: the pipeline whose sites the assignments name.
        batches: feed dicts (a ``Calibration`` iterates as such).
        labels: one label per sample (with ``accuracy``), or None.
    """

    def __init__(
        self, model: onnx.ModelProto, pipeline: str, batches: Any, labels: np.ndarray | None = None
    ) -> None:
        self.model, self.pipeline = model, pipeline
        self.batches = list(batches)
        self.labels = labels
        self.reference = run_batches(model, self.batches)
        self.base_accuracy = accuracy_of(self.reference[0], labels) if labels is not None else None
        self.runs = 0
        self._cache: dict[tuple[tuple[str, str], ...], Deviation] = {}

    @staticmethod
    def key(assignment: Mapping[str, Choice]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, c.key) for k, c in assignment.items() if c.kind != "keep"))

    def build(self, assignment: Mapping[str, Choice]) -> onnx.ModelProto:
        return build(self.model, self.pipeline, assignment)

    def deviation(self, assignment: Mapping[str, Choice]) -> Deviation:
        k = self.key(assignment)
        if k not in self._cache:
            if not k:
                self._cache[k] = Deviation([], self.base_accuracy)
            else:
                got = run_batches(self.build(assignment), self.batches)
                self.runs += 1
                self._cache[k] = deviation(self.reference, got, labels=self.labels)
        return self._cache[k]


def finite(v: float | None) -> float | None:
    """JSON-safe float: None for None/NaN/inf."""
    return None if v is None or not math.isfinite(v) else float(v)
