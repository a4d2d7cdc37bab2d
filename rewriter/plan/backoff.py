"""Back off instead of refusing: bring a rewrite whose outputs moved more than the tolerance back
inside it, keeping as many replacements as it can.

The whole-model deviation is judged by ``Deviation.exceeds(tolerance)`` (relative L2 above the
tolerance plus three times the model's own noise floor, or a non-negative output wrong by more
than its own value). When it is exceeded:

Every comparison below is on the verification inputs: one feed dict, or several (the draws of
generated inputs on which verification found the rewrite outside the tolerance,
``back_off_draws``), each output judged on its worst of them, each draw above its own noise
floor (``floors``).

1. Each replaced site's contribution is measured alone: the model with only that site replaced,
   on the same inputs (the worst output's relative L2). The largest contributor is named in the
   result, with the output it moves most.
2. A head on its tail (``tail_heads``, ``on_tail``: a sigmoid or softplus whose values a model
   output holds, going under 1e-3 of its range on the inputs seen) that alone takes the model
   outside keeps its better rational only where, alone, that brings its output three times
   inside the bar (``near_bar``): verification judges that output relative to its values,
   down where a draw of noise leaves it, further draws go further down, and no rational
   follows e^x there. Otherwise it is kept first (one emitted model per head, one for the
   model without them); inside the tolerance then, done.
3. Better rationals: the worst contributors, one at a time, get a (7,6) rational fitted on
   the inputs they actually see on every draw verification judged (``observe``;
   ``rational.fit(samples=...)``; the global (7,6) fit in Loop/Scan bodies and untaken If
   branches, whose values are not observed). After each, the whole model is compared again; an upgrade that helps stays;
   inside the tolerance, done. Sites in ``no_upgrade`` (no rational measured faster on the
   plan's target) skip this step. On a large model (``SWITCH_UPGRADES_FROM`` nodes) the
   upgrades after the first are fitted together and each tried as a run of one switch model
   (each site: its planned candidate or its better rational), which also serves step 4.
4. Then sites are kept (reverted to the original), worst contributor first (one that got a
   better rational by what it moves alone with it, one more run each): the fewest that bring
   the whole model inside the tolerance, found by bisection over that order (where the
   deviation does not grow with the sites replaced, it may keep more than the fewest). A
   rewrite of no site is the original itself, so this ends.
5. The model of the final choice is emitted and compared; should it be outside the tolerance
   (the switch model below rounds differently), one more site is kept at a time until inside.

Cost: the contributions are N runs of one switch model (``rewriter.emit.switch``: each site an If
over its original and its candidate, a graph input per site picks the branch; one emit, one
session); each better rational is fitted and emitted as its own model (a fit can cost more than
an emit: they are tried one at a time, until one brings the model inside), except on a large
model, where an emit costs more than a fit (D-FINE: 3.3 s against 1.7 s) and the upgrades after
the first are runs of one switch model; the sites kept take about log2(N) runs of a switch
model, then one emitted model. Before, every choice was a model
emitted and loaded (2.4 s each on a quantized D-FINE detector, 61 sites: 5 min 36 s in all).
``pau_learned`` regions (``LEARNED`` in the assignment, or a fit a plan chose) are contributors,
upgraded and kept like the rule sites: a region's better rational is a (7,6) fit to its own
nodes on its observed inputs.

Example:
    >>> r = back_off_accuracy(original, assignment, feeds, tolerance=1e-2)   # doctest: +SKIP
    >>> r.kept
    {'silu_3': 'kept: alone it moves output "logits" by rel-L2 2.1e-02'}
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import onnx

from rewriter.calibrate import observe_sites
from rewriter.candidates import Candidate, rational_candidate, site_function
from rewriter.emit import RewriteResult, chooser, emit_result
from rewriter.emit.switch import SwitchError, switch_model
from rewriter.errors import ModelError
from rewriter.functions import FUNCTIONS
from rewriter.ir.graph import all_nodes
from rewriter.ir.runtime import run_model, runner
from rewriter.match.engine import Site
from rewriter.rational import fit
from rewriter.verify import (
    Deviation,
    Pair,
    compare,
    compared,
    deviation,
    held_by_outputs,
    near_bar,
    pin_random_seeds,
    worst_of,
)

__all__ = ["AccuracyBackoff", "back_off_accuracy", "back_off_draws", "UPGRADE_DEGREES"]

Feeds = dict[str, np.ndarray]

UPGRADE_DEGREES = (7, 6)
MAX_UPGRADES = 8  # better rationals tried before sites are kept
# from this many nodes an emitted and loaded model costs more than a fit (D-FINE, 4056 nodes:
# 3.3 s against 1.7 s; the zoo's MobileNet, 67 nodes: 0.1 s against 1.5 s): the upgrades after
# the first are then fitted together and tried as runs of one switch model
SWITCH_UPGRADES_FROM = 2000


@dataclass
class AccuracyBackoff:
    """What the back-off did.

    Attributes:
        result: the final rewrite (model and sites, ``replaced`` set).
        deviation: its deviation from the original on the verification inputs.
        assignment: ``site name -> Candidate`` that built it.
        contributions: per replaced site, the worst output's relative L2 with only that site
            replaced (largest first).
        worst_site, worst_output: the largest contributor and the output it moves most.
        upgraded: site -> the better rational it got.
        kept: site -> why it was kept.
        steps: one line per step, in order.
    """

    result: RewriteResult
    deviation: Deviation
    assignment: dict[str, Candidate]
    contributions: dict[str, float] = field(default_factory=dict)
    worst_site: str | None = None
    worst_output: str | None = None
    upgraded: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    whole: Any = None  # the written model timed against the original (a plan on a target)

    def to_dict(self) -> dict[str, Any]:
        w = self.whole
        return {
            "contributions": self.contributions,
            "worst_site": self.worst_site,
            "worst_output": self.worst_output,
            "upgraded": self.upgraded,
            "kept": self.kept,
            "steps": self.steps,
            **({"whole": w.to_dict() if hasattr(w, "to_dict") else w} if w is not None else {}),
        }


def no_faster_rational(plan: Any) -> set[str]:
    """The replaced sites of a measured plan (``rewriter.plan.Plan``) that no rational was
    measured faster for on its target: backing them off to a better rational would make them
    slower than the original, so ``back_off_accuracy(no_upgrade=)`` keeps them instead."""
    return {
        d.site.name
        for d in plan.replaced
        if d.candidate.kind != "rational"
        and not any(k.startswith("rational") and v["hi"] < 1.0 for k, v in d.measured.items())
    }


def time_written(
    original: onnx.ModelProto,
    written: onnx.ModelProto,
    target: str,
    feeds: dict[str, np.ndarray],
    harness: Any = None,
) -> Any:
    """The written model (after a back-off) timed against the original on ``target``: a
    ``WholeResult``, so what is reported is what was written, not the plan before it."""
    from rewriter.cost import ModelCosts

    costs = ModelCosts(original, target, ":memory:", feeds=feeds, whole_harness=harness)
    try:
        return costs.whole(original, written)
    finally:
        costs.close()


def _side(d: Deviation, tolerance: float) -> str:
    """Whether ``d`` is inside the tolerance as verification judges it (each output against
    ``tolerance + 3 x`` its noise floor): a raw rel-L2 above it can be inside, and one below it
    outside, where a non-negative output is off by more than its own value somewhere (said)."""
    over = d.over(tolerance)
    if not over and d.rel_l2 > tolerance:  # each output within the tolerance above its floor
        return " (inside --tolerance above the noise floor)"
    if not over:
        return " (inside --tolerance)"
    if any(o.rel_l2 > tolerance + 3 * (o.floor or 0.0) for o in over):
        return " (outside --tolerance)"
    o = max(over, key=lambda o: o.rel_err or 0.0)
    return (
        f" (outside --tolerance: {o.name!r} is off by more than its own value somewhere, "
        f"rel-err {o.rel_err or 0.0:.3g})"
    )


def _tails_to_zero(function: str) -> bool:
    """A smooth catalogue function that is never negative and tends to 0 on the left
    (``sigmoid``, ``softplus``): relatively, its tail is e^x, which no rational follows."""
    f = FUNCTIONS.get(function)
    if f is None or not f.smooth or f.limits[0] != 0.0:
        return False
    return bool(np.all(f(np.linspace(-40.0, 40.0, 801)) >= 0.0))


def tail_heads(model: onnx.ModelProto, sites: Iterable[Site]) -> dict[str, str]:
    """``site name -> output``: the sites whose values a model output holds (through ops that
    only move them, or an If's branches) and whose function tends to 0 on a tail (a sigmoid's
    scores, a notes map).

    Verification judges such an output relative to its own values, down to the ``FLAT`` part
    of its range where a draw of noise leaves it near 0 (``rel_err`` as well where it is never
    negative): there the function is e^x, which no rational follows relatively (a sigmoid's
    0.5 + 0.5 R resolves 3e-8 in float32; a (7,6) fit on the draws of a notes CNN, inside on
    twelve, read rel-L2 0.03 to 0.42 on 6 of 20 further draws, where the scores peaked at 2e-6
    to 4e-5). The back-off gives them a better rational only with a margin (step 2)."""
    held = held_by_outputs(model)
    return {
        s.name: held[s.output] for s in sites if s.output in held and _tails_to_zero(s.function)
    }


TAIL = 1e-3  # a head's values reach its tail below this part of its range (or of its peak)


def on_tail(site: Site, seen: Any) -> bool:
    """Whether a head's function (``tail_heads``), on its inputs ``seen`` (a
    ``SiteObservation``: exact min and max), goes under ``TAIL`` of its range, or of its peak
    where the function is unbounded above (softplus): a (5,4) sigmoid's absolute error there is
    3% of the value, and further draws go on down the tail."""
    if not seen.count or not np.isfinite([seen.min, seen.max]).all():
        return False
    function, params = site_function(site)
    f = FUNCTIONS[function]
    low, peak = f(np.array([seen.min, seen.max]), **params)
    lo, hi = f.limits
    scale = hi - lo if lo is not None and hi is not None else peak
    return bool(low - (lo or 0.0) < TAIL * scale)


def _memo(memo: dict[Any, Any], key: Any, make: Callable[[], Any]) -> Any:
    """``memo[key]``, made by ``make()`` the first time."""
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _better(site: Site, samples: np.ndarray | None, model: onnx.ModelProto) -> Candidate | None:
    """A (7,6) rational for the site, fitted on its observed inputs when known; a
    ``pau_learned`` region's is fitted to its own nodes (cut out of ``model``, the canonical
    original) on its observed inputs, as the learned pass fits it (none where not observed)."""
    if site.function == "learned":
        from rewriter.candidates import region_candidate
        from rewriter.passes.learned import fit_region, site_region

        if samples is None or samples.size < 16:
            return None
        try:
            r = fit_region(site_region(model, site), samples, UPGRADE_DEGREES)
        except ValueError:  # not in the main graph
            return None
        return None if r is None else region_candidate(r)
    function, params = site_function(site)
    try:
        if samples is not None and samples.size >= 16:
            r = fit(function, degrees=UPGRADE_DEGREES, samples=samples, params=params)
        else:
            r = fit(function, -40, 40, degrees=UPGRADE_DEGREES, params=params)
    except Exception:  # a function the fitter cannot take (learned regions, exotic params)
        return None
    return rational_candidate(r)


def back_off_accuracy(
    original: onnx.ModelProto,
    assignment: Mapping[str, Candidate] | Callable[[Site], Candidate | None],
    feeds: Feeds | list[Feeds],
    tolerance: float,
    *,
    pipeline: str = "pau_all",
    source: str = "generated",
    max_upgrades: int = MAX_UPGRADES,
    emit_options: dict[str, Any] | None = None,
    full: Deviation | None = None,
    log: Callable[[str], None] = lambda s: None,
    no_upgrade: set[str] | frozenset[str] = frozenset(),
    floors: Sequence[Mapping[str, float | None]] | None = None,
    observe: Sequence[Feeds] | None = None,
    memo: dict[Any, Any] | None = None,
) -> AccuracyBackoff:
    """The rewrite of ``assignment`` brought inside ``tolerance`` (see the module docstring).

    Args:
        original: the original model.
        assignment: ``site name -> Candidate`` (or a chooser ``site -> Candidate | None``), as
            for ``rewriter.emit``.
        feeds: the verification inputs: one feed dict, or several (each output judged on its
            worst of them).
        tolerance: relative L2 allowed above the noise floor (``Deviation.exceeds``).
        pipeline: the pipeline the sites belong to.
        source: how the report names the inputs.
        max_upgrades: how many sites get a better rational before sites are kept.
        emit_options: more options for ``emit_result`` (degrees, form, rules, rtol).
        full: the rewrite's deviation when the caller has verified it already (saves a run).
        no_upgrade: sites that are kept rather than given a better rational (a plan on a
            target where no rational was measured faster there than the original).
        floors: per feed dict, each output's noise floor there (``Deviation.draw_floors``);
            else ``full``'s for every one.
        observe: the feeds better rationals are fitted on (the inputs each site sees there):
            every draw verification judged, so that a fit holds on those the rewrite was
            inside on as well; else ``feeds``.
        memo: what a later call on the same model, plan and draws (the same feed dicts: they
            are known by identity, and their noise floors must not change) reuses: the original's outputs,
            each draw's comparison of a switch model's choice, the sites' observations and
            their better rationals (``back_off_draws``: LEADER's four rounds made them again).
    """
    opts = dict(emit_options or {})
    batches = [feeds] if isinstance(feeds, Mapping) else list(feeds)
    first = emit_result(original, assignment, pipeline, **opts)
    choose = chooser(assignment)
    chosen: dict[str, Candidate] = {}
    for s in first.sites:
        c = choose(s) if s.replaced else None
        if c is not None:
            chosen[s.name] = c
    if full is None:
        pair = Pair(original, first.model)
        full = worst_of([compare(original, first.model, f, source, pair=pair) for f in batches])
    out = AccuracyBackoff(first, full, dict(chosen))
    if not full.exceeds(tolerance) or not chosen:
        return out

    same = {o.name: o.floor for o in full.outputs}
    per_batch = list(floors) if floors is not None else [same] * len(batches)
    # what verification does not judge (constant, chaotic: "not evidence") is not judged here
    # either: Gemma 2's genai export returns a cache ONNX Runtime fills differently on two runs
    # of the same inputs, and the sites kept changed from run to run with it
    unjudged = {o.name: o.note for o in full.outputs if not o.checked}
    cmp = compared(original)  # as ``verify.compare``: outputs that pick, on what they pick by
    # random ops draw the same numbers in every model compared, as in ``verify.compare``
    view = cmp.view(pin_random_seeds(original)[0])
    memo = {} if memo is None else memo
    reference = [_memo(memo, ("reference", id(f)), partial(run_model, view, f)) for f in batches]

    def per_draw(i: int, got: list[np.ndarray]) -> Deviation:
        """The deviation of ``got`` (the outputs on batch ``i``), above its noise floor there."""
        d = deviation(reference[i], got, inputs=source, compare=cmp)
        for o in d.outputs:
            o.floor = per_batch[i].get(o.name, same.get(o.name))
            if o.name in unjudged and o.checked:
                o.checked, o.note = False, unjudged[o.name]
        return d

    def judged(got: list[list[np.ndarray]]) -> Deviation:
        """The deviation of ``got`` (the outputs on each batch), each output on its worst,
        each batch's outputs judged above their noise floor there."""
        return worst_of([per_draw(i, g) for i, g in enumerate(got)])

    def measure(choice: dict[str, Candidate]) -> tuple[RewriteResult, Deviation]:
        """The model ``choice`` emits, and its deviation (what is returned is always this)."""
        res = emit_result(original, choice, pipeline, **opts)
        run = runner(cmp.view(pin_random_seeds(res.model)[0]))
        return res, judged([run(f) for f in batches])

    switchable = True  # the switch model builds and loads (not: a model drawing random numbers)

    def switched(alternatives: dict[str, list[Candidate]]) -> Callable[[dict[str, int]], Deviation]:
        """Deviation per choice of one switch model (``rewriter.emit.switch``): one emit and
        one session for every choice compared; each choice emitted where the switch model
        cannot be built (a model that draws random numbers among others) or loaded."""
        nonlocal switchable
        try:
            sw = switch_model(original, alternatives, pipeline, **opts)
            run = runner(cmp.view(sw.model))
            run(sw.feeds(batches[0], {}))
        except (SwitchError, ModelError):
            switchable = False
            return lambda choice: measure(
                {k: alternatives[k][v - 1] for k, v in choice.items() if v}
            )[1]
        signature = tuple((k, tuple(c.name for c in v)) for k, v in sorted(alternatives.items()))

        def choosing(choice: dict[str, int]) -> Deviation:
            """Each draw's comparison of ``choice`` made once, across rounds too (``memo``)."""

            def on(i: int) -> Deviation:
                return per_draw(i, run(sw.feeds(batches[i], choice)))

            devs = []  # copies: ``worst_of`` writes into the first
            for i, f in enumerate(batches):
                key = ("switch", signature, id(f), tuple(sorted(choice.items())))
                devs.append(copy.deepcopy(_memo(memo, key, partial(on, i))))
            return worst_of(devs)

        return choosing

    sites = {s.name: s for s in first.sites if s.name in chosen}
    alone = switched({k: [c] for k, c in chosen.items()})
    contrib: dict[str, tuple[float, str]] = {}
    outside_alone: set[str] = set()  # the sites that alone take the model outside
    for name in chosen:
        d = alone({name: 1})
        w = d.worst
        contrib[name] = (w.rel_l2, w.name) if w is not None else (0.0, "")
        if d.exceeds(tolerance):
            outside_alone.add(name)
    order = sorted(chosen, key=lambda k: -contrib[k][0])
    out.contributions = {k: contrib[k][0] for k in order}
    out.worst_site, out.worst_output = order[0], contrib[order[0]][1]
    over = full.worst
    said = (  # the output judged over: its own noise floor counts, as verification has it
        f"output {over.name!r} rel-L2 {over.rel_l2:.3g}"
        + (f" (noise floor {over.floor:.2g})" if over.floor else "")
        if over is not None
        else f"rel-L2 {full.rel_l2:.3g}"
    )
    log(
        f"{said} exceeds --tolerance {tolerance:g}: largest contributor "
        f"{out.worst_site} (moves {out.worst_output!r} by {contrib[order[0]][0]:.3g} alone)"
    )
    # the inputs each site sees, in the pipeline's canonical form of the original (where the
    # site names and values come from)
    canonical = emit_result(original, {}, pipeline, dry_run=True, **opts).model
    firsts = order[:max_upgrades]
    heads = tail_heads(canonical, [sites[k] for k in order])
    watched = [sites[k] for k in firsts] + [sites[k] for k in heads if k not in firsts]
    inputs = list(observe or batches)
    seen = _memo(
        memo,
        ("observe", tuple(w.name for w in watched), tuple(id(f) for f in inputs)),
        lambda: observe_sites(canonical, watched, inputs),
    )
    samples = {sites[k].input: o.samples for k, o in seen.items() if o.samples.size}

    def better(s: Site) -> Candidate | None:
        """``_better`` on the inputs the site was seen with, fitted once across rounds."""
        x = samples.get(s.input)
        seen_as = None if x is None else hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()
        return _memo(memo, ("fit", s.name, seen_as), lambda: _better(s, x, canonical))

    # the heads whose values reach their tail on the inputs seen (a draw of noise leaves a
    # wake word's score or a notes map there); the others are fitted like any site
    heads = {k: o for k, o in heads.items() if k in seen and on_tail(sites[k], seen[k])}

    def replacing(assignment: Mapping[str, Candidate], names: Iterable[str]) -> dict[str, int]:
        """The upgrades' switch model's choice replacing ``names`` as ``assignment`` does: 1
        the planned candidate, 2 its better rational."""
        return {k: 1 if assignment[k] is chosen[k] else 2 for k in names}

    # a site whose values a model output holds, on a tail no rational follows relatively, that
    # alone takes the model outside: its better rational, alone, must bring that output three
    # times inside the bar (a further draw goes further down the tail); else it is kept first
    held: list[str] = []
    for k in order:
        if k not in heads or k not in outside_alone or k in no_upgrade:
            continue
        upgrade, o = better(sites[k]), None
        if upgrade is not None:  # its output, with only this site replaced by its upgrade
            o = next((x for x in measure({k: upgrade})[1].outputs if x.name == heads[k]), None)
        if o is None or near_bar(o, tolerance):
            held.append(k)
            got = f" alone -> output {o.name!r} rel-L2 {o.rel_l2:.3g}" if o is not None else ""
            fit_name = upgrade.name if upgrade is not None else "no better rational"
            step = f"{k}: {fit_name}{got}, not three times inside (on its tail)"
            out.steps.append(step)
            log(step)
    current = {k: c for k, c in chosen.items() if k not in held}
    base = out.deviation  # of ``current``, as the trials are judged (emitted or switched)
    for name in held:
        out.kept[name] = (
            f"kept: output {heads[name]!r} is its values, judged relative to them down to its "
            f"tail, where no rational follows them far (alone it moves them by rel-L2 "
            f"{contrib[name][0]:.2g}; its better rational is not three times inside)"
        )
    if held:
        res, base = measure(current)
        out.result, out.deviation, out.assignment = res, base, current
        step = f"keeping {', '.join(held)} first (model outputs on their tail) -> rel-L2 {base.rel_l2:.3g}{_side(base, tolerance)}"
        out.steps.append(step)
        log(step)
        if not base.exceeds(tolerance) or not current:
            return out
    tries = [k for k in order[:max_upgrades] if k not in no_upgrade and k not in held]
    picks: Callable[[dict[str, int]], Deviation] | None = None  # the upgrades' switch model
    upgrades: dict[str, Candidate] = {}
    large = sum(1 for _ in all_nodes(original.graph)) >= SWITCH_UPGRADES_FROM
    for i, name in enumerate(tries):
        s = sites[name]
        up = upgrades.get(name) if picks is not None else better(s)
        if up is None or up.name == current[name].name:
            continue
        trial = {**current, name: up}
        if picks is None:
            res, d = measure(trial)
        else:  # a run of the switch model; emitted below once it brings the model inside
            d = picks(replacing(trial, trial))
        step = f"{name}: {up.name} (fit on {'observed inputs' if s.input in samples else '[-40, 40]'}) -> rel-L2 {d.rel_l2:.3g}{_side(d, tolerance)}"
        out.steps.append(step)
        log(step)
        if d.rel_l2 < base.rel_l2:  # an upgrade stays only when it helps
            current, base = trial, d
            out.upgraded[name] = up.name
            if picks is None:
                out.result, out.deviation, out.assignment = res, d, current
        if not d.exceeds(tolerance):
            if picks is not None:  # the emitted model decides
                res, d = measure(current)
                out.result, out.deviation = res, d
            if not d.exceeds(tolerance):
                out.assignment = current
                return out
            break
        if picks is None and i + 1 < len(tries) and large and switchable:
            # a large model: the remaining upgrades fitted now and tried as runs of one
            # switch model (each site: its candidate or its better rational)
            later = {k: better(sites[k]) for k in tries[i + 1 :]}
            upgrades = {k: c for k, c in later.items() if c is not None}
            upgrades.update({k: current[k] for k in out.upgraded})
            picks = switched(
                {k: [chosen[k], *([upgrades[k]] if k in upgrades else [])] for k in chosen}
            )
            base = picks(replacing(current, current))
    # then keep sites, worst contributor first, an upgraded site by what it moves alone with
    # its better rational (it moved the outputs more before): the fewest kept that bring the
    # whole inside, by bisection over that order (the deviation grows with the sites
    # replaced; where it does not, this still ends inside the tolerance, the emitted model
    # checked last)
    if picks is None and out.upgraded:  # upgrades tried as emitted models
        picks = switched(
            {k: [chosen[k], *([current[k]] if k in out.upgraded else [])] for k in chosen}
        )
    now = {k: contrib[k][0] for k in order if k in current}
    if picks is not None:
        for k in out.upgraded:
            w = picks({k: 2}).worst
            now[k] = w.rel_l2 if w is not None else 0.0
    queue = sorted(now, key=lambda k: -now[k])
    pick = picks or alone
    lo, hi = 0, len(queue)  # keeping queue[:lo] is outside the tolerance, queue[:hi] inside
    while hi - lo > 1:
        mid = (lo + hi) // 2
        d = pick(replacing(current, queue[mid:]))
        step = f"keeping the {mid} worst (to {queue[mid - 1]}) -> rel-L2 {d.rel_l2:.3g}{_side(d, tolerance)}"
        out.steps.append(step)
        log(step)
        lo, hi = (mid, hi) if d.exceeds(tolerance) else (lo, mid)
    while True:  # the emitted model decides; kept one more while it is outside
        final = {k: c for k, c in current.items() if k not in queue[:hi]}
        res, d = measure(final)
        out.result, out.deviation, out.assignment = res, d, final
        if not d.exceeds(tolerance) or hi >= len(queue):
            break
        hi += 1
        step = f"{queue[hi - 1]}: kept as well (the emitted model: rel-L2 {d.rel_l2:.3g})"
        out.steps.append(step)
        log(step)
    for name in queue[:hi]:
        out.upgraded.pop(name, None)
        out.kept[name] = (
            f"kept: alone it moves output {contrib[name][1]!r} by rel-L2 {contrib[name][0]:.2g}"
        )
    return out


def back_off_draws(
    original: onnx.ModelProto,
    assignment: Mapping[str, Candidate] | Callable[[Site], Candidate | None],
    draw: Callable[[int], Feeds],
    first: Deviation,
    tolerance: float,
    verify: Callable[[onnx.ModelProto], Deviation],
    unit: str = "draw",
    **options: Any,
) -> tuple[AccuracyBackoff, Deviation]:
    """``back_off_accuracy`` on the draws of the verification inputs where ``first`` (the
    rewrite's verification, each output on its worst draw: ``OutputDiff.draw``) is outside
    ``tolerance``; the model it ends with verified again (``verify``) on every draw. Where that
    finds another draw outside, the back-off starts again on those draws and that one, until
    every draw it judged outside has been backed off on (at most ``first.draws`` times). Each
    round reuses what the rounds before it made on the same draws (``back_off_accuracy(memo=)``).

    Args:
        draw: draw number -> its feeds (0: the verification inputs themselves).
        unit: what a draw is called in the lines logged ("draw", "batch").
        options: passed on to ``back_off_accuracy`` (``log`` too).
    """
    log = options.get("log", lambda s: None)

    def said(ks: list[int]) -> str:
        return f"{unit}{'s' if len(ks) > 1 else ''} {', '.join(str(k + 1) for k in ks)}"

    draws = sorted({o.draw for o in first.over(tolerance)}) or [0]
    if first.draws > 1:
        log(f"judged on {said(draws)} of {first.draws}, where the rewrite is outside")
    floors = dict(first.draw_floors)  # each draw judged against its own noise floors
    memo: dict[Any, Any] = {}  # what a round made that the next reuses (on the same draws)

    def fed(k: int) -> Feeds:  # each draw made once, however many rounds judge it
        return _memo(memo, ("draw", k), partial(draw, k))

    while True:
        bo = back_off_accuracy(
            original,
            assignment,
            [fed(k) for k in draws],
            tolerance,
            full=first,
            floors=[floors.get(k, {}) for k in draws],
            observe=[fed(k) for k in sorted({*first.draw_floors, *draws})],
            memo=memo,
            **options,
        )
        final = verify(bo.result.model)
        floors = {**final.draw_floors, **floors}
        more = sorted({o.draw for o in final.over(tolerance)} - set(draws))
        if not more:
            return bo, final
        draws = sorted(draws + more)
        log(f"the model it ends with is outside on {said(more)}: again, judged on {said(draws)}")
