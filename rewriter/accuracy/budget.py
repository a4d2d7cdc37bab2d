"""``budgeted_rewrite``: the fastest rewrite of a model on a target within an accuracy budget.

    from rewriter.accuracy import budgeted_rewrite, print_budget
    res = budgeted_rewrite(onnx.load("m.onnx"), "pau_all", "ort-cpu:threads=1", "data.npz",
                           max_drop=0.5, labels="labels", allow_standard=True)
    print_budget(res)
    onnx.save(res.model, "m.fast.onnx")

Steps: a ``Study`` (observe the sites on the calibration data, fit data-aware rationals at each
of ``degrees_set``, measure each choice's solo output deviation and in-context latency), then
``search.search`` (exhaustive or greedy, see there), then the chosen model is built, checked
(``onnx.checker`` full check) and its whole-model speed-up measured against the original on the
target (interleaved, ``rewriter.cost`` harness). Per-site savings need not add up in the whole model
(a replacement can break a fusion the micro-model did not show): while the whole model is not
faster beyond noise, the replacement with the least predicted saving is backed off and the model
re-measured, as ``plan_rewrite`` does, so with a target the result is never slower beyond noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx

from rewriter.match.engine import Site

from .evaluate import Deviation, finite
from .latency import MeasuredLatency, WholeLatency
from .search import Budget, Point, pareto_front, search, sweep
from .study import DEGREES_SET, Study

__all__ = ["BudgetResult", "budgeted_rewrite", "print_budget"]


@dataclass
class BudgetResult:
    """The chosen plan and what it costs.

    Attributes:
        model: the rewritten model (the original when nothing fits the budget).
        sites: the pipeline's sites (``replaced`` set on the chosen ones).
        plan: one row per site: choice, its solo deviation, approximation error, gain.
        pareto: non-dominated measured plans (predicted latency vs accuracy/cosine).
        deviation: the chosen model's measured deviation on the calibration data.
        base_accuracy: the original's accuracy (percent) with labels.
        predicted_speedup: base / predicted whole-model time.
        whole: measured whole-model comparison on the target (None with synthetic latencies).
    """

    model: onnx.ModelProto
    sites: list[Site]
    plan: list[dict[str, Any]]
    pareto: list[Point]
    deviation: Deviation
    budget: Budget
    base_accuracy: float | None
    predicted_speedup: float | None
    whole: WholeLatency | None
    mode: str
    space: int
    evaluated: int
    target: str | None
    calibration: str
    seconds: float = 0.0
    points: list[Point] = field(default_factory=list, repr=False)
    backed_off: list[str] = field(default_factory=list)

    @property
    def replaced(self) -> list[dict[str, Any]]:
        return [r for r in self.plan if r["choice"] != "keep"]

    @property
    def accuracy_drop(self) -> float | None:
        if self.base_accuracy is None or self.deviation.accuracy is None:
            return None
        return self.base_accuracy - self.deviation.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "calibration": self.calibration,
            "budget": self.budget.to_dict(),
            "base_accuracy": self.base_accuracy,
            "accuracy": self.deviation.accuracy,
            "accuracy_drop": self.accuracy_drop,
            "cosine": self.deviation.cosine,
            "rel_l2": self.deviation.rel_l2,
            "max_abs": self.deviation.max_abs,
            "predicted_speedup": self.predicted_speedup,
            "whole": self.whole.to_dict() if self.whole else None,
            "mode": self.mode,
            "space": self.space,
            "evaluated": self.evaluated,
            "plan": self.plan,
            "pareto": [p.to_dict() for p in self.pareto],
            "backed_off": self.backed_off,
            "seconds": self.seconds,
        }


def _log(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    if callable(progress):
        return progress
    return (lambda s: print(f"[budget] {s}", flush=True)) if progress else (lambda s: None)


def budgeted_rewrite(
    model: Any,
    pipeline: str = "pau_all",
    target: Any = "ort-cpu:threads=1",
    calibration: Any = None,
    *,
    max_drop: float | None = None,
    min_cosine: float | None = None,
    max_rel_error: float | None = None,
    allow_standard: bool = False,
    degrees_set: tuple[tuple[int, int], ...] = DEGREES_SET,
    form: str = "auto",
    labels: Any = None,
    db: Any = None,
    latency: Any = None,
    measure_whole: bool = True,
    exhaustive_limit: int = 4096,
    progress: bool | Callable[[str], None] = True,
    study: Study | None = None,
) -> BudgetResult:
    """The fastest rewrite whose measured deviation on ``calibration`` is within the budget.

    Args:
        model: path or ModelProto (not modified).
        pipeline: which functions' sites may change (``pau_all``...).
        target: where latency matters (``"ort-cpu:threads=1"``, a ``Target``); None only with
            ``latency``.
        calibration: .npz / folder / feed dicts / None (generated inputs: ranges are guesses).
        max_drop: accuracy points (percent) the model may lose; needs ``labels``.
        min_cosine: smallest cosine similarity of the outputs to the original's.
        max_rel_error: largest relative L2 error of the outputs.
        allow_standard: also consider ReLU, ReLU6, HardSwish, HardSigmoid, LeakyReLU, QuickGELU.
        degrees_set: degrees of the data-aware rational choices.
        labels: an array, or the name of an array in the calibration .npz (default ``"labels"``
            when ``max_drop`` is given and the .npz has one).
        db: latency database (``rewriter.cost.LatencyDB``, path, ``":memory:"``).
        latency: a ``LatencyModel`` replacing measurements (tests: ``TableLatency``).
        measure_whole: measure the chosen model against the original on the target.
        study: a ``Study`` already made (reused by ``rewrite map`` and the demo).

    Returns:
        ``BudgetResult`` (``.model``, ``.sites``, ``.plan``, ``.pareto``, ``.to_dict()``).

    Raises:
        UsageError: no budget, ``max_drop`` without labels, bad calibration data, bad target.
    """
    import os

    import numpy as np

    from rewriter.errors import UsageError
    from rewriter.ir import load_model
    from rewriter.verify import check

    t0 = time.perf_counter()
    log = _log(progress)
    budget = Budget(max_drop, min_cosine, max_rel_error)
    m = load_model(model)
    if (
        labels is None
        and max_drop is not None
        and isinstance(calibration, (str, os.PathLike))
        and str(calibration).endswith(".npz")
    ):
        with np.load(calibration) as d:
            labels = "labels" if "labels" in d.files else None
    if max_drop is not None and labels is None and (study is None or study.labels is None):
        raise UsageError(
            "--max-drop needs labels; pass --labels NAME (an array of the calibration .npz)"
        )
    own = None
    if study is None:
        if latency is None:
            if target is None:
                raise UsageError("budgeted search needs a target (e.g. --target ort-cpu:threads=1)")
            latency = own = MeasuredLatency(m, target, db, log=log)
        study = Study(
            m,
            pipeline,
            calibration,
            labels=labels,
            degrees_set=degrees_set,
            form=form,
            allow_standard=allow_standard,
            latency=latency,
            log=log,
        )
    latency = study.latency
    out = search(study, budget, exhaustive_limit=exhaustive_limit, log=log)
    points = list(out.evaluated) + sweep(study, budget)
    chosen = out.assignment
    live = {k: c for k, c in chosen.items() if c.kind != "keep"}
    new = study.evaluator.build(live) if live else _copy(study.model)
    if live:
        check(new)
    whole = (
        latency.whole(study.model, new)
        if (measure_whole and live and latency is not None)
        else None
    )
    backed: list[str] = []
    deviation = out.deviation
    while whole is not None and not whole.speedup_lo > 1.0 and live:
        # per-site savings did not add up in the whole model (fusions, overheads): back off the
        # replacement that saves least, until the model is faster beyond noise or untouched
        worst = min(live, key=lambda k: study.site(k).saved_ms(live[k].key))
        del live[worst]
        backed.append(worst)
        log(
            f"whole model x{whole.speedup:.3f} (CI {whole.speedup_lo:.3f}-{whole.speedup_hi:.3f}) not faster; backing off {worst}"
        )
        new = study.evaluator.build(live) if live else _copy(study.model)
        if live:
            check(new)
        deviation = study.evaluator.deviation(live)
        whole = latency.whole(study.model, new) if live else None
    chosen = {k: chosen[k] for k in live} if backed else chosen
    predicted = study.predicted_ms(dict(live)) if latency is not None else None
    base = latency.base_ms() if latency is not None else None
    plan = []
    for st in study.sites:
        c = chosen.get(st.name)
        key = c.key if c is not None else "keep"
        solo = st.solo.get(key)
        plan.append(
            {
                "site": st.name,
                "function": st.function,
                "choice": key,
                "observed_range": [finite(st.observation.min), finite(st.observation.max)],
                "approx_error": st.approx_error.get(key, {"max_abs": 0.0, "rms": 0.0}),
                "solo_cosine": solo.cosine if solo else None,
                "solo_rel_l2": solo.rel_l2 if solo else None,
                "solo_accuracy": solo.accuracy if solo else None,
                "keep_ms": st.costs.get("keep"),
                "choice_ms": st.costs.get(key),
                "gain": st.gain(key),
                "backed_off": st.name in backed,
            }
        )
    sites = []
    for st in study.sites:
        s = Site(**{**st.site.to_dict(), "replaced": st.name in live})
        sites.append(s)
    res = BudgetResult(
        new,
        sites,
        plan,
        pareto_front(points),
        deviation,
        budget,
        study.base_accuracy,
        (base / predicted) if base and predicted else None,
        whole,
        out.mode,
        out.space,
        len({tuple(sorted(p.assignment.items())) for p in points}),
        getattr(getattr(latency, "target", None), "spec", None),
        study.cal.source,
        time.perf_counter() - t0,
        points,
        backed,
    )
    if own is not None and not hasattr(db, "put"):  # a database this call opened
        own.close()
    return res


def _copy(m: onnx.ModelProto) -> onnx.ModelProto:
    c = onnx.ModelProto()
    c.CopyFrom(m)
    return c


def print_budget(result: BudgetResult, console: Any = None) -> None:
    """Rich tables: the plan per site, the Pareto set, and one summary line."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"budgeted plan on {result.target or 'synthetic latencies'}")
    for col in (
        "site",
        "function",
        "observed",
        "choice",
        "err (obs)",
        "solo cos",
        "solo acc",
        "gain",
    ):
        t.add_column(col, overflow="fold")
    for r in result.plan:
        lo, hi = r["observed_range"]
        t.add_row(
            r["site"],
            r["function"],
            f"[{lo:.2g}, {hi:.2g}]" if lo is not None else "-",
            r["choice"],
            f"{r['approx_error']['max_abs']:.1e}",
            f"{r['solo_cosine']:.6f}" if r["solo_cosine"] is not None else "-",
            f"{r['solo_accuracy']:.2f}" if r["solo_accuracy"] is not None else "-",
            f"x{r['gain']:.2f}" if r["gain"] else "-",
        )
    console.print(t)
    p = Table(title="Pareto set (predicted latency vs measured quality)")
    for col in ("predicted speed-up", "cosine", "rel L2", "accuracy", "replaced"):
        p.add_column(col, overflow="fold")
    for pt in result.pareto:
        p.add_row(
            f"x{pt.speedup:.3f}" if pt.speedup else "-",
            f"{pt.deviation.cosine:.6f}",
            f"{pt.deviation.rel_l2:.2e}",
            f"{pt.deviation.accuracy:.2f}" if pt.deviation.accuracy is not None else "-",
            ", ".join(f"{k}={v}" for k, v in sorted(pt.assignment.items())) or "(none)",
        )
    console.print(p)
    d, w = result.deviation, result.whole
    acc = (
        f", accuracy {d.accuracy:.2f}% (base {result.base_accuracy:.2f}%)"
        if d.accuracy is not None and result.base_accuracy is not None
        else ""
    )
    speed = (
        f"measured x{w.speedup:.3f} (95% CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f})"
        if w
        else f"predicted x{result.predicted_speedup:.3f}"
        if result.predicted_speedup
        else "no latency"
    )
    if result.backed_off:
        console.print(
            f"backed off (whole model not faster beyond noise): {', '.join(result.backed_off)}"
        )
    console.print(
        f"{len(result.replaced)}/{len(result.plan)} site(s) replaced; cosine {d.cosine:.6f}, rel L2 {d.rel_l2:.2e}{acc}; "
        f"{speed}; {result.mode} search over {result.space} assignment(s), {result.evaluated} measured; {result.seconds:.1f} s"
    )
