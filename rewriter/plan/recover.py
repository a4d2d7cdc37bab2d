"""The recover strategy: replace beyond the budget, retrain the network, keep what comes back.

    rewrite model.onnx --target ort-cpu:threads=1 --calibration data.npz --min-cosine 0.999 \\
        --allow-standard --recover -o out.onnx

    plan = rewriter.plan(model, target="ort-cpu:threads=1", calibration="data.npz",
                         min_cosine=0.999, allow_standard=True, recover=True)

The accuracy budget is a contract on data the plan never saw. The calibration data are split
(``rewriter.calibrate.holdout``): the *fit* part drives the ``Study`` (observed ranges, fits,
every candidate's solo deviation, in-context latency) and the retraining; the *check* part is
where the budget is verified, before and after retraining. Retraining's early stopping holds out
its own part of the *fit* batches (``finetune_e2e``'s ``val_fraction``, seeded): two splits on
purpose, so that the check part never steers training and the contract is verified on data
neither the search nor the training saw.

1. Options per site: ``keep`` plus every candidate faster than it beyond noise, fastest first
   (``search.options_for`` without a budget: a candidate that alone breaks the budget may be
   chosen, because retraining may win it back). What earlier runs learned orders them: a
   (site, candidate) that did not recover before on a model of the same family on the same
   runtime, under a budget no stricter, with at least as many calibration samples, the same
   retraining settings and the same retraining code (``failure_stands``, ``retraining_key``),
   is skipped (``rewriter.cost.db.Trial``); one that recovered is tried first.
2. Rank the sites by what their fastest option saves (in-context ms) per unit of budget it
   uses alone, sites that recovered before on this family first. An attempt replaces a
   prefix of that ranking: when the model is inside the budget on the check data as it is, no
   retraining; else it is retrained towards the original on the fit data
   (``rewriter.tune.e2e.finetune_e2e``, every weight by default: one retraining run) and
   verified again.
3. The whole ranking is tried first (one run when everything recovers), or, for a family
   tried before, the sites that recovered then plus one (``first_size``); then the longest
   prefix that recovers is found by bisection (about log2(sites) runs: walking back one site
   at a time spent two runs per site on a MobileNet whose all-ReLU model was 200x over
   budget).
4. The longest prefix inside the budget is measured against the original on the target; when
   it is not faster beyond noise, nothing is replaced. At most ``max_runs`` retraining runs.

Every tried (site, candidate) is recorded with its budget usage before and after retraining in
the latency database's ``trials`` table, and the plan says how many runs the records saved.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.accuracy.evaluate import Evaluator, finite
from rewriter.accuracy.study import DEGREES_SET, Study, budget_labels
from rewriter.calibrate import CalibrationSplit, as_calibration, holdout
from rewriter.candidates import KEEP, Candidate
from rewriter.cost.db import LatencyDB, Trial
from rewriter.cost.model import ModelCosts, WholeResult
from rewriter.emit import emit_result
from rewriter.errors import ModelError, UsageError
from rewriter.ir import load_model
from rewriter.ir.runtime import run_values
from rewriter.verify import Deviation, check
from rewriter.version import source_digest

from .decide import whole_or_note
from .planner import progress_log
from .search import Budget, options_for
from .types import BudgetSummary, Plan, SiteDecision

__all__ = [
    "plan_recover",
    "family_of",
    "failure_stands",
    "nearest_miss",
    "describe_nearest",
    "first_size",
    "RecoverSummary",
    "Attempt",
    "retraining_key",
]

MAX_RUNS = 8

# what retraining's outcome depends on besides its settings: the training loop, the
# distillation, and the ONNX-to-torch interpreter the student runs in
RETRAINING_MODULES = (
    "rewriter.tune.e2e",
    "rewriter.tune.distill",
    "rewriter.cost.torch_convert",
    "rewriter.cost.torch_ops",
    "rewriter.cost.torch_recurrent",
    "rewriter.cost.torch_control",
    "rewriter.cost.torch_attention",
)


def retraining_key(train: str, augment: str, schedule: str, epochs: int, lr: float) -> str:
    """How a replacement was retrained, as a ``Trial`` records it: the settings and ``code=``,
    a digest of ``RETRAINING_MODULES`` and torch's version, so that a failure recorded by other
    retraining code (an earlier release, a fix) is tried again (``failure_stands``)."""
    import torch

    code = source_digest(RETRAINING_MODULES, torch.__version__)[:12]
    return (
        f"train={train} augment={augment} epochs={epochs} lr={lr:g}"
        + (f" schedule={schedule}" if schedule != "constant" else "")
        + f" code={code}"
    )


def family_of(model: onnx.ModelProto, functions: list[str]) -> str:
    """A model family's key: the sorted op types of the main graph and the sequence of site
    functions. Two widths or input sizes of one architecture share it; another architecture
    does not."""
    ops = sorted({n.op_type for n in model.graph.node})
    text = ",".join(ops) + "|" + ",".join(functions)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class Attempt:
    """One model tried: its assignment, usage of the budget before/after retraining (None when
    not retrained), the whole-model measurement when inside the budget, and the outcome."""

    assignment: dict[str, str]
    before: Deviation
    after: Deviation | None
    usage_before: float
    usage_after: float | None
    whole: WholeResult | None
    outcome: str  # "accepted" | "slower" | "over budget" | "out of runs"
    blamed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": dict(self.assignment),
            "retrained": self.after is not None,
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after is not None else None,
            "usage_before": finite(self.usage_before),
            "usage_after": finite(self.usage_after),
            "whole": self.whole.to_dict() if self.whole is not None else None,
            "outcome": self.outcome,
            "blamed": self.blamed,
        }


@dataclass
class RecoverSummary:
    """What ``--recover`` did: the runs it took, what earlier runs saved, where it verified."""

    heldout: str
    runs: int
    skipped: list[str]  # "site=candidate" not tried because an earlier run did not recover
    family: str
    train: str
    attempts: list[Attempt] = field(default_factory=list)
    cannot_retrain: str | None = None  # why the model could not be retrained (then none was)
    before: Deviation | None = None  # the written model's assignment, before retraining
    after: Deviation | None = None  # ... and the written model itself (None: not retrained)
    history: list[dict[str, Any]] = field(default_factory=list)
    nearest: dict[str, Any] | None = None  # when nothing was kept: the attempt closest to it

    @property
    def retrained(self) -> bool:
        return self.after is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "heldout": self.heldout,
            "retraining_runs": self.runs,
            "skipped_from_earlier_runs": list(self.skipped),
            "family": self.family,
            "train": self.train,
            "retrained": self.retrained,
            "cannot_retrain": self.cannot_retrain,
            "before_retraining": self.before.to_dict() if self.before is not None else None,
            "after_retraining": self.after.to_dict() if self.after is not None else None,
            "attempts": [a.to_dict() for a in self.attempts],
            "nearest_miss": self.nearest,
        }


def nearest_miss(
    attempts: list[Attempt], budget: Budget, base_accuracy: float | None
) -> dict[str, Any] | None:
    """The over-budget attempt (or one left untried for want of runs) that came closest (least
    budget used, after retraining where it was retrained), and the budget it would have met:
    ``{"attempt", "assignment", "usage", "retrained", "would_meet"}``, ``would_meet`` the CLI
    flags (``--min-cosine 0.9978``), ``speedup`` [x, lo, hi] when that attempt's model was
    measured (``_recover`` measures it when nothing was kept). None when no attempt was over
    budget."""
    over = [
        (k, a, a.after if a.after is not None else a.before)
        for k, a in enumerate(attempts, 1)
        if a.outcome in ("over budget", "out of runs")
    ]
    if not over:
        return None
    k, a, d = min(over, key=lambda t: (budget.usage(t[2], base_accuracy), -len(t[1].assignment)))
    flags = []
    if budget.min_cosine is not None:
        flags.append(f"--min-cosine {math.floor(d.cosine * 1e5) / 1e5:.5f}")
    if budget.max_rel_error is not None:
        flags.append(f"--max-rel-error {math.ceil(d.rel_l2 * 1e4) / 1e4:.4f}")
    if budget.max_drop is not None and base_accuracy is not None and d.accuracy is not None:
        flags.append(
            f"--max-drop {max(0.0, math.ceil((base_accuracy - d.accuracy) * 100) / 100):.2f}"
        )
    return {
        "attempt": k,
        "assignment": dict(a.assignment),
        "usage": finite(budget.usage(d, base_accuracy)),
        "retrained": a.after is not None,
        "would_meet": " ".join(flags),
        "speedup": _speedup(a.whole),
    }


def _speedup(w: WholeResult | None) -> list[float] | None:
    return None if w is None else [w.speedup, w.speedup_lo, w.speedup_hi]


def first_size(past: list[Trial], ranked: list[str], budget: Budget) -> int:
    """How many top-ranked sites the first attempt replaces: all of them, unless this family
    was tried before under as strict a budget (``Budget.covers``): then the sites that
    recovered then (ranked first) plus one. Where a MobileNet kept nothing, its wider sibling
    tries one site (1 run) instead of bisecting down from all 14 (4 runs). The bisection goes
    on from there either way, up when it recovers, down when not."""
    prior = [t for t in past if budget.covers(json.loads(t.budget))]
    if not prior or not ranked:
        return len(ranked)
    kept = {t.site for t in prior if t.recovered} & set(ranked)
    return min(len(ranked), len(kept) + 1)


class PrefixSearch:
    """Which prefix of the ranked sites to try next: the longest that recovers is wanted.

    ``lo`` recovered (0: nothing yet), ``hi`` is the largest size not known to fail. The first
    size is ``start`` (``first_size``). Started from a family's record (``start`` below ``n``),
    the next guess is the record's neighbour: everything when the record's size recovered again
    (a sibling that recovers all costs 2 runs, not a bisection up), the record itself when one
    more site broke it (2 runs, not a bisection down); then the midpoint, as from scratch.
    """

    def __init__(self, n: int, start: int) -> None:
        self.n, self.lo, self.hi = n, 0, n
        self.k = start
        self.guess: int | None = None
        self.from_record = start < n

    def done(self) -> bool:
        return self.k <= self.lo

    def record(self, ok: bool) -> None:
        """The attempt at ``self.k`` recovered (``ok``) or not; choose the next size."""
        if self.from_record and self.guess is None:
            self.guess = self.n if ok else self.k - 1
        if ok:
            self.lo = self.k
        else:
            self.hi = self.k - 1
        g, self.guess = self.guess, -1  # one guess, then bisection
        self.k = g if g is not None and self.lo < g <= self.hi else (self.lo + self.hi + 1) // 2


def describe_nearest(n: dict[str, Any]) -> str:
    """One line for ``nearest_miss``'s result (the terminal report and the HTML page)."""
    what = ", ".join(f"{k}={v}" for k, v in n["assignment"].items())
    if len(n["assignment"]) > 3:
        what = f"{len(n['assignment'])} sites"
    return (
        f"closest: attempt {n['attempt']} ({what}) used {n['usage']:.2f}x the budget"
        f"{' after retraining' if n['retrained'] else ''}; it would meet {n['would_meet']}"
        + (
            " (its speed was not measured)"
            if n.get("speedup") is None
            else " and measured x{:.3f} (95% CI {:.3f}-{:.3f})".format(*n["speedup"])
        )
    )


def _site_cosines(
    reference: onnx.ModelProto, model: onnx.ModelProto, outputs: dict[str, str], batches: Any
) -> dict[str, float]:
    """Per site, the cosine of the model's site output to the reference's on ``batches``."""
    names = sorted(set(outputs.values()))
    if not names:
        return {}
    acc: dict[str, list[float]] = {n: [0.0, 0.0, 0.0] for n in names}
    pairs = zip(
        run_values(reference, names, batches), run_values(model, names, batches), strict=True
    )
    for r, g in pairs:
        for n in names:
            a = np.asarray(r[n], np.float64).ravel()
            b = np.asarray(g[n], np.float64).ravel()
            s = acc[n]
            s[0] += float(a @ b)
            s[1] += float(a @ a)
            s[2] += float(b @ b)
    out = {}
    for site, n in outputs.items():
        ab, aa, bb = acc[n]
        out[site] = 1.0 if aa == 0 and bb == 0 else ab / max(np.sqrt(aa * bb), 1e-300)
    return out


def plan_recover(
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
    train: str = "all",
    augment: str = "none",
    schedule: str = "constant",
    epochs: int = 30,
    lr: float = 1e-3,
    seed: int = 0,
    max_runs: int = MAX_RUNS,
    learn: bool = True,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    progress: bool | Callable[[str], None] = True,
) -> Plan:
    """The fastest model inside the budget on held-out data, retraining where it has to.

    Args are those of ``plan_budget`` plus:
        train: what retraining trains: "all" (every float weight), "weights", "coefficients".
        augment: "none" (default), "mixup": retraining also matches the teacher on mixed
            pairs of calibration inputs, or "shift": on images moved by a random offset
            (``rewriter.tune.distill.distill``).
        schedule: "constant" (default) or "onecycle": each retraining run's rate, annealed
            over all its epochs (``distill``).
        epochs, lr, seed: of each retraining run (early stopping on the fit data's own split).
        max_runs: most retraining runs.
        learn: read and write the latency database's ``trials`` (False: neither).

    Returns:
        A ``Plan`` (strategy "recover"); ``plan.model`` is the retrained model when retraining
        was needed; ``plan.recover`` (a ``RecoverSummary``) what was tried.
    """
    t0 = time.perf_counter()
    log = progress_log(progress, "recover")
    budget = Budget(max_drop, min_cosine, max_rel_error)
    if max_runs < 0:
        raise UsageError(f"--recover-runs must be >= 0, got {max_runs}")
    m = load_model(model)
    cal = as_calibration(calibration, m, shapes=shapes, ranges=ranges)
    lab = budget_labels(labels, max_drop, cal)
    split = holdout(cal, lab)
    log(f"verifying on {split.describe}")
    own_latency = None
    if latency is None:
        if target is None:
            raise UsageError("--recover needs a target (e.g. --target ort-cpu:threads=1)")
        latency = own_latency = ModelCosts(m, target, db, feeds=split.fit.batches[0], log=log)
    try:
        study = Study(
            m,
            pipeline,
            split.fit,
            labels=split.fit_labels,
            degrees_set=degrees_set,
            form=form,
            allow_standard=allow_standard,
            latency=latency,
            log=log,
        )
        return _recover(
            m, study, split, budget, latency, db, pipeline, train, augment, schedule, epochs, lr,
            seed, max_runs, learn, log, t0,
        )  # fmt: skip
    finally:
        if own_latency is not None:
            own_latency.close()


def failure_stands(t: Trial, budget: Budget, samples: int, retraining: str = "") -> bool:
    """Whether the recorded trial ``t`` settles that its replacement does not recover now: it
    did not recover, under a budget no stricter than ``budget`` (``Budget.covers``), with at
    least ``samples`` calibration samples to retrain on, retrained the same way by the same code
    (``retraining``: ``retraining_key``, ``train=all augment=none epochs=30 lr=0.001
    code=...``). More data, a looser budget, other retraining or other code tries it again
    (a row from before these were recorded has 0 samples and no retraining: tried again
    once)."""
    return (
        not t.recovered
        and samples <= t.samples
        and t.retraining == retraining
        and budget.covers(json.loads(t.budget))
    )


def _trial_db(latency: Any, db: Any) -> LatencyDB | None:
    got = getattr(latency, "db", None)
    if isinstance(got, LatencyDB):
        return got
    if isinstance(db, LatencyDB):
        return db
    if isinstance(db, str) and db != ":memory:":  # ":memory:": no database (``open_db``)
        return LatencyDB(db)
    return None


def _recover(
    m: onnx.ModelProto,
    study: Study,
    split: CalibrationSplit,
    budget: Budget,
    latency: Any,
    db: Any,
    pipeline: str,
    train: str,
    augment: str,
    schedule: str,
    epochs: int,
    lr: float,
    seed: int,
    max_runs: int,
    learn: bool,
    log: Callable[[str], None],
    t0: float,
) -> Plan:
    from rewriter.tune.e2e import finetune_e2e

    check_cal = split.check if split.check is not None else split.fit
    check_labels = split.check_labels if split.check is not None else split.fit_labels
    held = Evaluator(m, pipeline, check_cal, check_labels)
    base_acc = held.base_accuracy
    spec = getattr(getattr(latency, "target", None), "spec", None) or "custom"
    runtime = spec.split(":")[0]
    family = family_of(m, [st.site.function for st in study.sites])
    tdb = _trial_db(latency, db) if learn else None
    past = {(t.site, t.candidate): t for t in tdb.trials(family, runtime)} if tdb else {}

    def usage(d: Deviation) -> float:
        return budget.usage(d, base_acc)

    def solo_harm(site: str, c: Candidate) -> float:
        return budget.usage(study.site(site).solo[c.name], study.base_accuracy)

    def on_check(model: onnx.ModelProto) -> Deviation:
        return held.of(model)

    def attempt(
        live: dict[str, Candidate],
        before: Deviation,
        after: Deviation | None,
        outcome: str,
        whole: WholeResult | None = None,
    ) -> Attempt:
        u_after = usage(after) if after is not None else None
        return Attempt(_names(live), before, after, usage(before), u_after, whole, outcome)

    samples = split.fit.samples
    retraining = retraining_key(train, augment, schedule, epochs, lr)

    def final(t: Trial) -> bool:
        return failure_stands(t, budget, samples, retraining)

    budget_key = json.dumps(budget.to_dict(), sort_keys=True)

    def trial(
        site: str, c: Candidate, before: float, after: Deviation | None, recovered: bool
    ) -> Trial:
        """The ``trials`` row of ``site`` replaced by ``c`` (budget use capped for SQLite)."""
        return Trial(
            family,
            runtime,
            site,
            study.site(site).site.function,
            c.name,
            float(min(before, 1e9)),
            float(min(usage(after), 1e9)) if after is not None else None,
            recovered,
            spec,
            budget=budget_key,
            samples=samples,
            retraining=retraining,
        )

    options = options_for(study, None)
    skipped: list[str] = []
    again = sorted(
        f"{t.site}={t.candidate}" for t in past.values() if not t.recovered and not final(t)
    )
    if again:
        log(
            f"tried again (did not recover before, with less data, another budget or other "
            f"retraining): "
            f"{', '.join(again)}"
        )
    for name, opts in options.items():  # what did not recover before is not tried first
        failed = [
            c for c in opts if c.kind != "keep" and (t := past.get((name, c.name))) is not None
            and final(t)
        ]  # fmt: skip
        if failed:
            skipped += [f"{name}={c.name}" for c in failed]
            options[name] = [c for c in opts if c not in failed]
        won = [c for c in options[name] if (t := past.get((name, c.name))) and t.recovered]
        if won:
            options[name] = won[:1] + [c for c in options[name] if c is not won[0]]
    if skipped:
        log(f"not tried again (did not recover on this family before): {', '.join(skipped)}")
    # rank the sites by what their fastest option saves per unit of harm alone; then find the
    # longest prefix of that ranking that retraining brings inside the budget, by bisection
    first = {n: o[0] for n, o in options.items() if o[0].kind != "keep"}
    recovered = {n for n, c in first.items() if (t := past.get((n, c.name))) and t.recovered}
    ranked = sorted(  # what recovered on this family before comes first
        first,
        key=lambda n: (
            n not in recovered,
            -study.site(n).saved_ms(first[n].name) / (solo_harm(n, first[n]) + 0.01),
            n,
        ),
    )
    trials: list[Trial] = []
    attempts: list[Attempt] = []
    runs = 0
    history: list[dict[str, Any]] = []
    cannot_retrain: str | None = None
    emitted: Any = emit_result(m, {}, pipeline)
    best: tuple[Any, onnx.ModelProto, Deviation, Deviation | None, list[dict[str, Any]]] | None
    best = None
    failed_at = None
    search = PrefixSearch(len(ranked), first_size(list(past.values()), ranked, budget))
    if search.from_record:
        log(
            f"this family kept {search.k - 1} of these sites before: the search starts at "
            f"{search.k} site(s) instead of all {search.n}"
        )
    while not search.done():
        k = search.k
        live = {n: first[n] for n in ranked[:k]}
        r = emit_result(m, live, pipeline)
        check(r.model, m)
        before = on_check(r.model)
        after: Deviation | None = None
        model, hist = r.model, list[dict[str, Any]]()
        if usage(before) > 1.0 and cannot_retrain is None:
            if runs >= max_runs:
                attempts.append(attempt(live, before, None, "out of runs"))
                log(f"{max_runs} retraining run(s) spent")
                break
            runs += 1
            log(f"retraining run {runs}: {k} site(s) replaced (budget used {usage(before):.2f})")
            try:
                model, hist = finetune_e2e(
                    r.model,
                    m,
                    split.fit.batches,
                    train=train,
                    epochs=epochs,
                    lr=lr,
                    seed=seed,
                    labels=split.fit_labels,
                    augment=augment,
                    schedule=schedule,
                )
                after = on_check(model)
                log(f"retraining run {runs}: budget used {usage(before):.2f} -> {usage(after):.2f}")
            except ModelError as e:  # e.g. a Loop the interpreter cannot run: no retraining
                runs -= 1
                cannot_retrain = str(e).splitlines()[0]
                log(
                    f"cannot retrain this model ({cannot_retrain}); only replacements inside "
                    "the budget without retraining are kept"
                )
        ok = usage(after if after is not None else before) <= 1.0
        if ok:
            attempts.append(attempt(live, before, after, "inside budget"))
            best = (r, model, before, after, hist)
        else:
            attempts.append(attempt(live, before, after, "over budget"))
            failed_at = k if failed_at is None or k < failed_at else failed_at
        search.record(ok)
    lo = search.lo
    whole: WholeResult | None = None
    backed: list[str] = []
    final_model, final_before, final_after = emitted.model, Deviation([], base_acc), None
    near = nearest_miss(attempts, budget, base_acc) if best is None else None
    unmeasured: list[str] = []
    whole_of = whole_or_note(lambda new: latency.whole(m, new), unmeasured, log)
    if near is not None and latency is not None:  # what loosening the budget would buy
        at = attempts[near["attempt"] - 1]
        # speed does not depend on the weights: the replacement as emitted is measured
        at.whole = whole_of(emit_result(m, {n: first[n] for n in at.assignment}, pipeline).model)
        near["speedup"] = _speedup(at.whole)
        if at.whole is not None:
            log(f"closest miss measured x{at.whole.speedup:.3f} on {spec}")
    if best is not None:
        r, model, before, after, hist = best
        live = {n: first[n] for n in ranked[:lo]}
        whole = whole_of(model) if latency is not None else None
        if whole is not None and not whole.faster:
            log(f"not faster beyond noise (x{whole.speedup:.3f}): everything kept")
            attempts.append(attempt(live, before, after, "slower", whole))
            backed = sorted(live)
        else:
            attempts.append(attempt(live, before, after, "accepted", whole))
            emitted, final_model, final_before, final_after, history = r, model, before, after, hist
            trials += [trial(n, c, usage(before), after, True) for n, c in live.items()]
    # the sites past the longest prefix that recovered broke it; without retraining (the
    # interpreter cannot run the model) nothing was learnt about recovering: no row, so a
    # version that can retrain tries them
    if failed_at is not None and cannot_retrain is None:
        bad = next(
            a for a in attempts if a.outcome == "over budget" and len(a.assignment) == failed_at
        )
        trials += [
            trial(n, first[n], bad.usage_before, bad.after, False) for n in ranked[lo:failed_at]
        ]
    if tdb is not None and trials:
        tdb.put_trials(trials)
    space = int(np.prod([len(v) for v in options.values()] or [1]))
    plan = _plan(
        m, study, split, held, budget, emitted, final_model, final_before, final_after, history,
        whole, backed, attempts, runs, skipped, family, train, spec, t0, cannot_retrain, space,
        near,
    )  # fmt: skip
    plan.whole_note = unmeasured[0] if unmeasured else None
    return plan


def _names(a: dict[str, Candidate]) -> dict[str, str]:
    return {k: c.name for k, c in sorted(a.items())}


def _plan(
    m: onnx.ModelProto,
    study: Study,
    split: CalibrationSplit,
    held: Evaluator,
    budget: Budget,
    emitted: Any,
    final_model: onnx.ModelProto,
    before: Deviation,
    after: Deviation | None,
    history: list[dict[str, Any]],
    whole: WholeResult | None,
    backed: list[str],
    attempts: list[Attempt],
    runs: int,
    skipped: list[str],
    family: str,
    train: str,
    spec: str,
    t0: float,
    cannot_retrain: str | None,
    space: int,
    nearest: dict[str, Any] | None,
) -> Plan:
    chosen = {s.name: s for s in emitted.sites if s.replaced}
    outputs = {st.name: st.site.output for st in study.sites if st.name in chosen}
    check_batches = held.batches
    site_before = _site_cosines(study.canonical, emitted.model, outputs, check_batches)
    site_after = (
        _site_cosines(study.canonical, final_model, outputs, check_batches)
        if after is not None
        else site_before
    )
    decisions = []
    accepted = attempts[-1].assignment if attempts and attempts[-1].outcome == "accepted" else {}
    for st in study.sites:
        name = accepted.get(st.name)
        c = next((x for x in st.candidates if x.name == name), KEEP)
        solo = st.solo.get(c.name)
        decisions.append(
            SiteDecision(
                st.site,
                c,
                "replace" if c.kind != "keep" else ("backed-off" if st.name in backed else "keep"),
                f"solo cosine {solo.cosine:.6f} before retraining"
                if solo is not None and c.kind != "keep"
                else "",
                st.gain(c.name) or 1.0,
                st.saved_ms(c.name),
                shape=st.site.input_shape,
                original_ms=st.costs.get("keep"),
                candidate_ms=st.costs.get(c.name),
                accuracy={
                    "observed_range": [finite(st.observation.min), finite(st.observation.max)],
                    "approx_error": st.approx_error.get(c.name, {"max_abs": 0.0, "rms": 0.0}),
                    "solo_cosine": solo.cosine if solo else None,
                    "solo_rel_l2": solo.rel_l2 if solo else None,
                    "site_cosine_before": finite(site_before.get(st.name)),
                    "site_cosine_after": finite(site_after.get(st.name)),
                },
                source="recover",
            )
        )
    final = after if after is not None else before
    predicted = study.predicted_ms(
        {d.site.name: d.candidate for d in decisions if d.decision == "replace"}
    )
    base = study.latency.base_ms() if study.latency is not None else None
    summary = BudgetSummary(
        budget,
        final,
        held.base_accuracy,
        (base / predicted) if base and predicted else None,
        "recover",
        space,
        len(attempts),
        split.fit.source,
        heldout=split.describe,
        check=final,
    )
    return Plan(
        final_model,
        emitted.sites,
        decisions,
        spec,
        study.pipeline,
        whole,
        backed,
        "recover",
        budget=summary,
        seconds=time.perf_counter() - t0,
        recover=RecoverSummary(
            split.describe,
            runs,
            skipped,
            family,
            train,
            attempts,
            cannot_retrain,
            before,
            after,
            history,
            nearest,
        ),
    )
