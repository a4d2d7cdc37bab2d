"""Pruned and predicted plans: the planner with its candidates narrowed, or its costs predicted.

    plan = pruned_plan(model, "openvino-cpu", "lat.sqlite", k=2)   # keep + top-2 measured per site
    plan = predict_plan(model, "openvino-cpu", "lat.sqlite")       # nothing measured but probes

Both are ``planner.plan_sites`` with a strategy: ``TopK`` is its ``candidate_filter`` (measure
only the K candidates ranked best by ``rewriter.cost.predict.Ranker``), ``Predicted`` its cost
source (records whose ratio is the predicted one, with a CI of width 0: ``decide`` then
replaces a site when the predicted ratio is below ``1 / min_gain``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rewriter.candidates import Candidate
from rewriter.cost.db import LatencyDB, Record
from rewriter.cost.micro import Micro
from rewriter.cost.predict.rank import Ranker
from rewriter.cost.targets import Target
from rewriter.match.engine import Site

from .planner import plan_sites
from .types import Plan

__all__ = ["TopK", "Predicted", "pruned_plan", "predict_plan"]


class TopK:
    """``candidate_filter``: the ``k`` best predicted candidates per site (keep is always
    measured); remembers each site's ranking and how many candidates were measured."""

    def __init__(self, ranker: Ranker, k: int, db: LatencyDB | None = None) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.ranker, self.k, self.db = ranker, k, db
        self.rankings: dict[str, tuple[list[tuple[Candidate, float]], str]] = {}
        self.counts = {"measured": 0, "full": 0}

    def __call__(self, site: Site, micro: Micro, cands: list[Candidate]) -> list[Candidate]:
        ranking, source = self.ranker.rank(micro, cands, self.db)
        self.rankings[site.name] = (ranking, source)
        top = [c for c, _ in ranking if c.kind != "keep"][: self.k]
        self.counts["measured"] += 1 + len(top)
        self.counts["full"] += len(cands)
        return top


class Predicted:
    """Cost source of predicted plans: one record per candidate, ratio = the predicted one."""

    def __init__(self, ranker: Ranker, db: LatencyDB | None = None) -> None:
        self.ranker, self.db = ranker, db
        self.rankings: dict[str, tuple[list[tuple[Candidate, float]], str]] = {}

    def records(self, micro: Micro, candidates: list[Candidate]) -> dict[str, Record]:
        ranking, source = self.ranker.rank(micro, candidates, self.db)
        self.rankings[micro.site.output] = (ranking, source)
        return {
            c.name: Record(
                "",
                "",
                "",
                "",
                0,
                micro.signature,
                "",
                c.name,
                "",
                math.nan,
                math.nan,
                math.nan,
                r,
                r,
                r,
                0,
            )  # fmt: skip
            for c, r in ranking
        }


def _attach(
    plan: Plan, rankings: dict[str, tuple[list[tuple[Candidate, float]], str]], by: str
) -> None:
    for d in plan.decisions:
        got = rankings.get(d.site.name if by == "name" else d.site.output)
        if got is not None:
            d.predicted = {c.name: r for c, r in got[0]}
            d.source = got[1]


def pruned_plan(
    model: Any,
    target: str | Target,
    db_path: str,
    k: int,
    *,
    log: Callable[[str], None] = lambda s: None,
    **options: Any,
) -> Plan:
    """Measure keep + the top-``k`` predicted candidates per site, decide, emit, back off
    (options as ``plan_sites``). ``plan.counts``: candidates measured vs a full search."""
    ranker = Ranker(target, db_path, log=log)
    db = LatencyDB(db_path)
    try:
        top = TopK(ranker, k, db)
        plan = plan_sites(
            model, target, db=db, candidate_filter=top, progress=log, strategy="pruned", **options
        )
    finally:
        db.close()
    _attach(plan, top.rankings, "name")
    plan.counts = dict(top.counts)
    return plan


def predict_plan(
    model: Any,
    target: str | Target,
    db_path: str,
    *,
    log: Callable[[str], None] = lambda s: None,
    **options: Any,
) -> Plan:
    """Predicted decision per site; measures nothing but the target's probes (once).

    Example:
        >>> for d in predict_plan(onnx.load("m.onnx"), "openvino-cpu", "lat.sqlite").decisions:  # doctest: +SKIP
        ...     print(d.site.name, d.candidate.name, round(d.gain, 2), d.source)
    """
    ranker = Ranker(target, db_path, log=log)
    db = LatencyDB(db_path)
    try:
        costs = Predicted(ranker, db)
        plan = plan_sites(
            model,
            target,
            db=":memory:",
            costs=costs,
            measure_whole=False,
            progress=log,
            strategy="predicted",
            **options,
        )
    finally:
        db.close()
    _attach(plan, costs.rankings, "output")
    for d in plan.decisions:
        d.ratio_ci = None
        if d.decision == "replace":
            d.reason = f"predicted x{d.gain:.2f}"
        elif d.predicted:
            name, r = min(
                ((n, r) for n, r in d.predicted.items() if n != "keep"),
                key=lambda nr: nr[1],
                default=("keep", 1.0),
            )
            d.reason = f"best predicted {name} x{1 / r:.2f}: not faster"
    return plan
