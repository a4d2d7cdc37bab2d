"""The ``Plan``: per site the chosen ``Candidate``, its expected gain and accuracy impact, why;
the rewritten model; the measured whole-model result and what was backed off to get it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from rewriter.candidates import KEEP, Candidate
from rewriter.cost.model import WholeResult
from rewriter.match.engine import Site

__all__ = ["Plan", "SiteDecision", "BudgetSummary"]


@dataclass
class SiteDecision:
    """What the planner chose for one site, and why.

    Attributes:
        site: the site (of the original model).
        candidate: the chosen candidate (``KEEP`` when kept; a backed-off one stays named).
        decision: "replace", "keep" or "backed-off".
        reason: one line: the gain and its CI, or why nothing qualified.
        gain: expected speed-up of the site in context (t_keep / t_candidate; 1.0 when kept),
            measured, or predicted with ``source`` "predicted".
        saved_ms: expected whole-model saving (keep ms - candidate ms), when known.
        ratio_ci: 95% CI of the candidate's speed-up, when measured.
        accuracy: the candidate's accuracy impact: approximation error, and with calibration
            data the observed range and the output deviation when only this site is replaced.
        measured: ``candidate name -> {"ms", "ratio", "lo", "hi"}`` of what was measured.
        predicted: ``candidate name -> predicted ratio to keep`` (pruned and predicted plans).
    """

    site: Site
    candidate: Candidate = KEEP
    decision: str = "keep"
    reason: str = ""
    gain: float = 1.0
    saved_ms: float | None = None
    ratio_ci: tuple[float, float] | None = None
    shape: Sequence[int | str | None] | None = None
    signature: str = ""
    original_ms: float | None = None
    candidate_ms: float | None = None
    accuracy: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    predicted: dict[str, float] = field(default_factory=dict)
    source: str = "measured"

    @property
    def name(self) -> str:
        return self.site.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.name,
            "function": self.site.function,
            "shape": self.shape,
            "signature": self.signature,
            "candidate": self.candidate.to_dict(),
            "choice": self.candidate.name,
            "decision": self.decision,
            "reason": self.reason,
            "gain": self.gain,
            "saved_ms": self.saved_ms,
            "ratio_ci": list(self.ratio_ci) if self.ratio_ci else None,
            "original_ms": self.original_ms,
            "candidate_ms": self.candidate_ms,
            "accuracy": self.accuracy,
            "measured": self.measured,
            "predicted": self.predicted,
            "source": self.source,
        }


@dataclass
class BudgetSummary:
    """What a budgeted plan measured: the budget, the chosen model's output deviation on the
    calibration data, the search and its Pareto set (``rewriter.plan.search``)."""

    budget: Any
    deviation: Any
    base_accuracy: float | None
    predicted_speedup: float | None
    mode: str
    space: int
    evaluated: int
    calibration: str
    pareto: list[Any] = field(default_factory=list)
    points: list[Any] = field(default_factory=list)
    heldout: str | None = None  # which data the contract was verified on
    check: Any = None  # the written model's Deviation there

    @property
    def held(self) -> bool:
        """Whether the budget was verified on data the plan did not see."""
        return self.check is not None

    @property
    def accuracy_drop(self) -> float | None:
        if self.base_accuracy is None or self.deviation.accuracy is None:
            return None
        return self.base_accuracy - self.deviation.accuracy

    def to_dict(self) -> dict[str, Any]:
        d = self.deviation
        return {
            "budget": self.budget.to_dict(),
            "calibration": self.calibration,
            "base_accuracy": self.base_accuracy,
            "accuracy": d.accuracy,
            "accuracy_drop": self.accuracy_drop,
            "cosine": d.cosine,
            "rel_l2": d.rel_l2,
            "max_abs": d.max_abs,
            "predicted_speedup": self.predicted_speedup,
            "mode": self.mode,
            "space": self.space,
            "evaluated": self.evaluated,
            "pareto": [p.to_dict() for p in self.pareto],
            "verified_on": self.heldout,
            "verified": self.check.to_dict() if self.check is not None else None,
            "within_budget": (
                self.budget.feasible(self.check, self.base_accuracy)
                if self.check is not None
                else None
            ),
        }


@dataclass
class Plan:
    """The chosen candidate per site, the rewritten model, and what it measured.

    Attributes:
        model: the rewritten model (a copy of the original when nothing is replaced).
        sites: the pipeline's sites as emitted (``replaced`` set on the replaced ones).
        decisions: one ``SiteDecision`` per site, in graph order.
        target: the target spec (None with synthetic latencies).
        whole: the whole model measured against the original (None when not measured).
        backed_off: sites whose replacement was undone because the whole model was not faster.
        strategy: "measured", "pruned", "predicted" or "budget".
        budget: with an accuracy budget, what the search measured.
        recover: with ``--recover``, the retraining runs and what they verified.
    """

    model: onnx.ModelProto
    sites: list[Site]
    decisions: list[SiteDecision]
    target: str | None
    pipeline: str = "pau_all"
    whole: WholeResult | None = None
    backed_off: list[str] = field(default_factory=list)
    strategy: str = "measured"
    fingerprint: dict[str, Any] = field(default_factory=dict)
    budget: BudgetSummary | None = None
    seconds: float = 0.0
    measured: int = 0
    reused: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    recover: Any = None  # rewriter.plan.recover.RecoverSummary with --recover
    whole_note: str | None = None  # why the whole model was not measured, when sites were

    @property
    def replaced(self) -> list[SiteDecision]:
        return [d for d in self.decisions if d.decision == "replace"]

    def assignment(self) -> dict[str, Candidate]:
        """``site name -> Candidate`` of the replaced sites: what ``rewriter.emit`` builds."""
        return {d.site.name: d.candidate for d in self.replaced}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pipeline": self.pipeline,
            "strategy": self.strategy,
            "fingerprint": self.fingerprint,
            "decisions": [d.to_dict() for d in self.decisions],
            "whole": self.whole.to_dict() if self.whole else None,
            "whole_note": self.whole_note,
            "backed_off": list(self.backed_off),
            "budget": self.budget.to_dict() if self.budget else None,
            "seconds": self.seconds,
            "micro_models_measured": self.measured,
            "micro_models_reused": self.reused,
            **({"counts": self.counts} if self.counts else {}),
            **({"recover": self.recover.to_dict()} if self.recover is not None else {}),
        }
