"""Budgeted search: the fastest assignment of candidates to sites whose measured deviation is in budget.

Inputs (a ``Study``): per site, its candidates with in-context costs (ms) and their *solo* output
deviation (only that site replaced). A budget is any of ``max_drop`` (accuracy points, with
labels), ``min_cosine`` and ``max_rel_error`` (relative L2 of the outputs); its ``usage`` of a
deviation is the largest of ``drop / max_drop``, ``(1 - cos) / (1 - min_cosine)`` and
``rel_l2 / max_rel_error``: feasible means usage <= 1.

1. Options per site: ``keep`` plus the candidates that are faster than ``keep`` (beyond noise
   where the latency model says, ``faster``), alone within the
   budget (a candidate that alone breaks the budget is never part of a plan), and not dominated by
   a faster candidate that is also less harmful alone.
2. Whole-model latency of an assignment is predicted as the original's time minus the sum of
   the per-site savings (``keep_ms - candidate_ms``).
3. Exhaustive when the product of option counts is <= ``exhaustive_limit`` (4096): assignments
   are taken in order of predicted latency and measured (model built and run on the calibration
   data) until one is feasible: that is the fastest feasible plan. At most ``max_evals``
   measurements, then step 4 takes over.
4. Greedy otherwise: start from the fastest option of every site; while the measured deviation
   is over budget, move the site whose current candidate is the most harmful alone to its fastest
   option that is less harmful alone (``keep`` last).
5. The Pareto set (predicted latency vs measured quality: accuracy with labels, else cosine)
   comes from every measured assignment plus a sweep that adds, from all-``keep``, the move with
   the best saving per unit of solo harm, one at a time.

``search(study, budget)`` is pure given the study (tests give it a ``TableLatency``); the
whole-model ratio of the chosen plan is measured afterwards by ``budget.plan_budget``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rewriter.candidates import KEEP, Candidate
from rewriter.errors import UsageError
from rewriter.verify import Deviation

if TYPE_CHECKING:  # the study imports nothing from here; a type only
    from rewriter.accuracy.study import Study

__all__ = ["Budget", "Point", "SearchOutcome", "search", "sweep", "pareto_front", "options_for"]

EXHAUSTIVE_LIMIT = 4096
MAX_EVALS = 200


@dataclass(frozen=True)
class Budget:
    """Accuracy budget: ``max_drop`` in accuracy points (percent), ``min_cosine``, ``max_rel_error``."""

    max_drop: float | None = None
    min_cosine: float | None = None
    max_rel_error: float | None = None

    def __post_init__(self) -> None:
        if self.max_drop is None and self.min_cosine is None and self.max_rel_error is None:
            raise UsageError(
                "no accuracy budget; pass --max-drop (with labels), --min-cosine or --max-rel-error"
            )
        if self.max_drop is not None and self.max_drop < 0:
            raise UsageError(f"--max-drop must be >= 0 (accuracy points), got {self.max_drop}")
        if self.min_cosine is not None and not -1.0 <= self.min_cosine <= 1.0:
            raise UsageError(f"--min-cosine must be in [-1, 1], got {self.min_cosine}")
        if self.max_rel_error is not None and self.max_rel_error < 0:
            raise UsageError(f"--max-rel-error must be >= 0, got {self.max_rel_error}")

    def usage(self, d: Deviation, base_accuracy: float | None) -> float:
        """The largest fraction of any budget that ``d`` uses (feasible: <= 1)."""
        u = 0.0
        if self.max_drop is not None:
            if d.accuracy is None or base_accuracy is None:
                raise UsageError(
                    "--max-drop needs labels; pass --labels NAME (an array of the calibration .npz)"
                )
            u = max(u, _ratio(base_accuracy - d.accuracy, self.max_drop))
        if self.min_cosine is not None:
            u = max(u, _ratio(1.0 - d.cosine, 1.0 - self.min_cosine))
        if self.max_rel_error is not None:
            u = max(u, _ratio(d.rel_l2, self.max_rel_error))
        return u

    def feasible(self, d: Deviation, base_accuracy: float | None) -> bool:
        return self.usage(d, base_accuracy) <= 1.0

    def covers(self, other: dict[str, Any]) -> bool:
        """Whether this budget is at least as strict as ``other`` (a ``to_dict``) in every limit
        ``other`` sets, so what broke ``other`` breaks this one too."""
        mine = self.to_dict()
        for key, limit in other.items():
            if limit is None:
                continue
            if mine.get(key) is None:
                return False
            if (mine[key] < limit) if key == "min_cosine" else (mine[key] > limit):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_drop": self.max_drop,
            "min_cosine": self.min_cosine,
            "max_rel_error": self.max_rel_error,
        }


def _ratio(x: float, limit: float) -> float:
    if limit <= 0:
        return 0.0 if x <= 1e-12 else math.inf
    return max(x, 0.0) / limit


@dataclass
class Point:
    """One measured assignment: predicted whole-model ms and measured deviation."""

    assignment: dict[str, str]  # site -> candidate name (non-keep only)
    predicted_ms: float | None
    speedup: float | None  # predicted: base / predicted
    deviation: Deviation
    feasible: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": dict(self.assignment),
            "predicted_ms": self.predicted_ms,
            "predicted_speedup": self.speedup,
            **self.deviation.to_dict(),
            "feasible": self.feasible,
        }


@dataclass
class SearchOutcome:
    assignment: dict[str, Candidate]
    deviation: Deviation
    predicted_ms: float
    mode: str  # "exhaustive" | "greedy"
    space: int
    evaluated: list[Point] = field(default_factory=list)


def _harm(study: Study, budget: Budget | None, d: Deviation) -> tuple[float, float]:
    if budget is not None:
        return (budget.usage(d, study.base_accuracy), d.rel_l2)
    drop = (
        (study.base_accuracy - d.accuracy)
        if d.accuracy is not None and study.base_accuracy is not None
        else 0.0
    )
    return (max(drop, 0.0), d.rel_l2)


def options_for(study: Study, budget: Budget | None) -> dict[str, list[Candidate]]:
    """Per site, ``keep`` plus the useful candidates (step 1 of the module doc), fastest first."""
    out: dict[str, list[Candidate]] = {}
    for st in study.sites:
        if "keep" not in st.costs:
            out[st.name] = [KEEP]
            continue
        faster = getattr(study.latency, "faster", None)
        cands = [
            c
            for c in st.candidates
            if c.kind != "keep"
            and c.name in st.costs
            and st.costs[c.name] < st.costs["keep"]
            and (faster is None or faster(st.name, c.name))
        ]
        if budget is not None:
            cands = [c for c in cands if budget.feasible(st.solo[c.name], study.base_accuracy)]
        cands.sort(key=lambda c: (st.costs[c.name], _harm(study, budget, st.solo[c.name])))
        kept: list[Candidate] = []
        for c in cands:  # fastest first: keep c only if less harmful than every faster option
            h = _harm(study, budget, st.solo[c.name])
            if all(h < _harm(study, budget, st.solo[k.name]) for k in kept):
                kept.append(c)
        out[st.name] = kept + [KEEP]
    return out


def _point(study: Study, a: dict[str, Candidate], budget: Budget | None) -> Point:
    d = study.evaluator.deviation(a)
    ms = study.predicted_ms(a)
    base = study.latency.base_ms() if study.latency is not None else None
    sp = base / ms if ms and base else None
    return Point(
        {k: c.name for k, c in a.items() if c.kind != "keep"},
        ms,
        sp,
        d,
        budget.feasible(d, study.base_accuracy) if budget is not None else None,
    )


def search(
    study: Study,
    budget: Budget,
    *,
    exhaustive_limit: int = EXHAUSTIVE_LIMIT,
    max_evals: int = MAX_EVALS,
    log: Callable[[str], None] | None = None,
) -> SearchOutcome:
    """The fastest feasible assignment (see the module doc)."""
    log = log or (lambda s: None)
    if study.latency is None:
        raise UsageError("budgeted search needs latencies; pass --target (e.g. ort-cpu:threads=1)")
    opts = options_for(study, budget)
    names = [st.name for st in study.sites]
    space = math.prod(len(opts[n]) for n in names) if names else 1
    evaluated: list[Point] = []
    keep_all = {n: KEEP for n in names}
    if space <= exhaustive_limit:
        log(f"exhaustive search over {space} assignment(s)")
        combos = [
            dict(zip(names, cs, strict=True)) for cs in itertools.product(*(opts[n] for n in names))
        ]
        combos.sort(
            key=lambda a: (
                study.predicted_ms(a),
                sum(_harm(study, budget, study.site(k).solo[c.name])[0] for k, c in a.items()),
            )
        )
        for a in combos[:max_evals]:
            p = _point(study, a, budget)
            evaluated.append(p)
            if p.feasible:
                return SearchOutcome(
                    a, p.deviation, p.predicted_ms or 0.0, "exhaustive", space, evaluated
                )
        if len(combos) <= max_evals:  # nothing feasible but keep (all-keep is always feasible)
            p = _point(study, keep_all, budget)
            return SearchOutcome(
                keep_all, p.deviation, p.predicted_ms or 0.0, "exhaustive", space, evaluated
            )
        log(f"no feasible plan in the {max_evals} fastest; greedy search")
    else:
        log(f"{space} assignments: greedy search")
    cur = {n: opts[n][0] for n in names}
    while True:
        p = _point(study, cur, budget)
        evaluated.append(p)
        if p.feasible:
            return SearchOutcome(
                dict(cur), p.deviation, p.predicted_ms or 0.0, "greedy", space, evaluated
            )
        live = [n for n in names if cur[n].kind != "keep"]
        if not live:  # cannot happen: all-keep has no deviation
            return SearchOutcome(
                dict(cur), p.deviation, p.predicted_ms or 0.0, "greedy", space, evaluated
            )
        worst = max(live, key=lambda n: _harm(study, budget, study.site(n).solo[cur[n].name]))
        h = _harm(study, budget, study.site(worst).solo[cur[worst].name])
        better = [
            c for c in opts[worst] if _harm(study, budget, study.site(worst).solo[c.name]) < h
        ]
        cur[worst] = better[0] if better else KEEP
        log(f"over budget ({p.deviation.cosine:.5f} cos); {worst} -> {cur[worst].name}")


def sweep(study: Study, budget: Budget | None = None, *, max_steps: int = 64) -> list[Point]:
    """From all-keep, add the move with the best saving per unit of solo harm, one at a time."""
    names = [st.name for st in study.sites]
    opts = options_for(study, budget)
    cur = {n: KEEP for n in names}
    points = [_point(study, cur, budget)]
    for _ in range(max_steps):
        best: tuple[float, str, Candidate] | None = None
        for n in names:
            st = study.site(n)
            now_ms = st.costs.get(cur[n].name, st.costs.get("keep", 0.0))
            h0 = _harm(study, budget, st.solo[cur[n].name])
            for c in opts[n]:
                if c.kind == "keep" or st.costs[c.name] >= now_ms:
                    continue
                saved = now_ms - st.costs[c.name]
                dh = _harm(study, budget, st.solo[c.name])
                cost = max(dh[0] - h0[0], 0.0) + max(dh[1] - h0[1], 0.0) + 1e-9
                eff = saved / cost
                if best is None or eff > best[0]:
                    best = (eff, n, c)
        if best is None:
            break
        cur[best[1]] = best[2]
        points.append(_point(study, dict(cur), budget))
    return points


def quality(p: Point) -> float:
    return p.deviation.accuracy if p.deviation.accuracy is not None else p.deviation.cosine


def pareto_front(points: list[Point]) -> list[Point]:
    """Non-dominated points: lower predicted ms and higher quality (accuracy, else cosine)."""
    uniq: dict[tuple[tuple[str, str], ...], Point] = {}
    for p in points:
        if p.predicted_ms is not None:
            uniq.setdefault(tuple(sorted(p.assignment.items())), p)
    pts = sorted(uniq.values(), key=lambda p: (p.predicted_ms, -quality(p), -p.deviation.cosine))
    front: list[Point] = []
    for p in pts:
        if (
            not front
            or quality(p) > quality(front[-1])
            or (
                quality(p) == quality(front[-1]) and p.deviation.cosine > front[-1].deviation.cosine
            )
        ):
            front.append(p)
    return front
