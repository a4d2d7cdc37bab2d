"""The budget strategy: the fastest plan on a target within an accuracy budget.

    import rewriter
    plan = rewriter.plan(onnx.load("m.onnx"), target="ort-cpu:threads=1", calibration="data.npz",
                         max_drop=0.5, labels="labels", allow_standard=True)
    onnx.save(plan.model, "m.fast.onnx")

Steps: a ``Study`` (``rewriter.accuracy``: observe the sites on the calibration data, fit
data-aware rationals at each of ``degrees_set``, measure each candidate's solo output deviation
and in-context latency), then ``search.search`` (exhaustive or greedy, see there), then the
chosen plan is emitted, checked (``onnx.checker`` full check) and handed to the planner's one
``back_off`` loop, ordered by predicted saving: while the whole model is not faster beyond noise
than the original on the target, the replacement that saves least is undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import onnx

from rewriter.accuracy.evaluate import Evaluator, finite
from rewriter.accuracy.study import DEGREES_SET, Study, budget_labels
from rewriter.calibrate import CalibrationSplit, as_calibration, holdout
from rewriter.candidates import KEEP
from rewriter.cost.model import ModelCosts
from rewriter.emit import emit_result
from rewriter.errors import UsageError
from rewriter.ir import load_model
from rewriter.verify import check

from .decide import back_off, whole_or_note
from .planner import progress_log
from .search import Budget, pareto_front, search, sweep
from .types import BudgetSummary, Plan, SiteDecision

__all__ = ["plan_budget"]


def plan_budget(
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
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    progress: bool | Callable[[str], None] = True,
    study: Study | None = None,
    split: CalibrationSplit | None = None,
) -> Plan:
    """The fastest rewrite whose measured deviation on ``calibration`` is within the budget.

    Args:
        model: path or ModelProto (not modified).
        pipeline: which functions' sites may change (``pau_all``...).
        target: where latency matters (``"ort-cpu:threads=1"``, a ``Target``); None only with
            ``latency``.
        calibration: .npz / folder / feed dicts / None (generated inputs: ranges are guesses);
            its first batch is also what sites are measured on.
        shapes, ranges: ``--input-shapes`` / ``--val-range`` when inputs are generated.
        max_drop: accuracy points (percent) the model may lose; needs ``labels``.
        min_cosine: smallest cosine similarity of the outputs to the original's.
        max_rel_error: largest relative L2 error of the outputs.
        allow_standard: also consider ReLU, ReLU6, HardSwish, HardSigmoid, LeakyReLU, QuickGELU.
        degrees_set: degrees of the data-aware rational candidates.
        labels: an array, or the name of an array in the calibration .npz (default ``"labels"``
            when ``max_drop`` is given and the .npz has one).
        db: latency database (``rewriter.cost.LatencyDB``, path, ``":memory:"``).
        latency: a ``LatencyModel`` replacing measurements (tests: ``TableLatency``); default
            ``rewriter.cost.ModelCosts`` on ``target``.
        measure_whole: measure the chosen model against the original on the target.
        study: a ``Study`` already made (one study serving several budgets, as in
            ``tools/budget_table.py``); it was made on ``split.fit`` when ``split`` is given, and
            the budget is then verified on ``split.check``, as without a study; with a study
            and no split, on the study's own data.
        split: the ``rewriter.calibrate.holdout`` split the given ``study`` was made on.

    Returns:
        A ``Plan`` (strategy "budget") whose ``budget`` holds the search, its Pareto set and
        the chosen model's measured deviation.

    Raises:
        UsageError: no budget, ``max_drop`` without labels, bad calibration data, bad target.
    """
    t0 = time.perf_counter()
    log = progress_log(progress, "budget")
    budget = Budget(max_drop, min_cosine, max_rel_error)
    m = load_model(model)
    own = None
    if study is None and split is not None:
        raise UsageError("plan_budget: split= is the split a given study= was made on")
    if study is None:
        cal = as_calibration(calibration, m, shapes=shapes, ranges=ranges)
        # the budget is a contract on data the search never saw
        split = holdout(cal, budget_labels(labels, max_drop, cal))
        log(f"budget verified on {split.describe}")
        cal, labels = split.fit, split.fit_labels
        if latency is None:
            if target is None:
                raise UsageError("budgeted search needs a target (e.g. --target ort-cpu:threads=1)")
            # the calibration data are the inputs: sites measured at the shapes they have on it
            latency = own = ModelCosts(m, target, db, feeds=cal.batches[0], log=log)
        study = Study(
            m,
            pipeline,
            cal,
            labels=labels,
            degrees_set=degrees_set,
            form=form,
            allow_standard=allow_standard,
            latency=latency,
            log=log,
        )
    elif max_drop is not None and study.labels is None:
        raise UsageError(
            "--max-drop needs labels; pass --labels NAME (an array of the calibration .npz)"
        )
    latency = study.latency
    try:
        out = search(study, budget, exhaustive_limit=exhaustive_limit, log=log)
        points = list(out.evaluated) + sweep(study, budget)
        decisions = []
        for st in study.sites:
            c = out.assignment.get(st.name, KEEP)
            solo = st.solo.get(c.name)
            decisions.append(
                SiteDecision(
                    st.site,
                    c,
                    "replace" if c.kind != "keep" else "keep",
                    f"solo cosine {solo.cosine:.6f}"
                    if solo is not None and c.kind != "keep"
                    else "",
                    st.gain(c.name) or 1.0,
                    st.saved_ms(c.name),
                    shape=st.site.input_shape,  # the shape on the calibration data
                    original_ms=st.costs.get("keep"),
                    candidate_ms=st.costs.get(c.name),
                    accuracy={
                        "observed_range": [finite(st.observation.min), finite(st.observation.max)],
                        "approx_error": st.approx_error.get(c.name, {"max_abs": 0.0, "rms": 0.0}),
                        "solo_cosine": solo.cosine if solo else None,
                        "solo_rel_l2": solo.rel_l2 if solo else None,
                        "solo_accuracy": solo.accuracy if solo else None,
                    },
                    source="budget",
                )
            )
        emitted: dict[str, Any] = {}

        def build() -> onnx.ModelProto:
            chosen = {d.site.name: d.candidate for d in decisions if d.decision == "replace"}
            emitted["result"] = r = emit_result(study.model, chosen, pipeline)
            if chosen:
                check(r.model, study.model)
            return r.model

        contract = None
        if split is not None and split.check is not None:
            contract = Evaluator(study.model, pipeline, split.check, split.check_labels)
            held_off = _hold_contract(study, budget, decisions, contract, log)
        else:
            held_off = []
        unmeasured: list[str] = []
        if measure_whole and latency is not None:
            new, whole, backed = back_off(
                decisions,
                build,
                whole_or_note(lambda new: latency.whole(study.model, new), unmeasured, log),
                order=lambda d: d.saved_ms or 0.0,
                max_backoff=None,
                log=log,
            )
        else:
            new, whole, backed = build(), None, []
        backed = held_off + backed
        live = {d.site.name: d.candidate for d in decisions if d.decision == "replace"}
        deviation = study.evaluator.deviation(live) if backed else out.deviation
        predicted = study.predicted_ms(live) if latency is not None else None
        base = latency.base_ms() if latency is not None else None
        summary = BudgetSummary(
            budget,
            deviation,
            study.base_accuracy,
            (base / predicted) if base and predicted else None,
            out.mode,
            out.space,
            len({tuple(sorted(p.assignment.items())) for p in points}),
            study.cal.source,
            pareto_front(points),
            points,
            heldout=split.describe if split is not None else None,
            check=contract.deviation(live) if contract is not None else None,
        )
        target_spec = getattr(getattr(latency, "target", None), "spec", None)
        return Plan(
            new,
            emitted["result"].sites,
            decisions,
            target_spec,
            pipeline,
            whole,
            backed,
            "budget",
            budget=summary,
            seconds=time.perf_counter() - t0,
            whole_note=unmeasured[0] if unmeasured else None,
        )
    finally:
        if own is not None:
            own.close()


def _hold_contract(
    study: Study,
    budget: Budget,
    decisions: list[SiteDecision],
    contract: Evaluator,
    log: Callable[[str], None],
) -> list[str]:
    """Keep sites, the most harmful alone first, until the plan is inside the budget on the
    held-out data too (the search saw only the fit part). Returns the sites kept."""
    kept: list[str] = []
    while True:
        live = {d.site.name: d for d in decisions if d.decision == "replace"}
        dev = contract.deviation({k: d.candidate for k, d in live.items()})
        if not live or budget.feasible(dev, contract.base_accuracy):
            return kept
        worst = max(
            live,
            key=lambda k: budget.usage(
                study.site(k).solo[live[k].candidate.name], study.base_accuracy
            ),
        )
        log(f"over budget on the held-out data: {worst} kept")
        live[worst].decision = "backed-off"
        live[worst].reason = "over budget on held-out data"
        kept.append(worst)
