"""The planner: per site, the candidate with the largest gain within the error budget; then the
whole model, backed off until it is measurably faster (or untouched).

    import rewriter
    plan = rewriter.plan(onnx.load("m.onnx"), target="ort-cpu:threads=1")
    onnx.save(plan.model, "m.fast.onnx")

Steps of ``plan_sites`` (the per-site strategy; ``budget.plan_budget`` is the other):

1. The pipeline's sites (``rewriter.find_sites``, found by ``rewriter.emit``); ``pau_learned``
   regions with their fit on the feeds.
2. Per site, its micro-model (``cost.micro.cut_site``: producer + activation, real weights,
   concrete shapes); sites with the same signature (repeated blocks) share one measurement.
3. Per site, its candidates within the error bound (``rewriter.candidates.candidates_for``; a
   region's is its own fit),
   optionally narrowed by a ``candidate_filter`` (``prune.TopK``: the predicted best K), then
   their costs: measured against ``keep`` by the ``CostModel`` (or read from its database), or
   predicted (``prune.Predicted``: nothing measured).
4. ``decide``: the candidate with the largest speed-up whose ratio CI lies below 1 (faster
   beyond noise) and whose error is within ``max_site_error``; otherwise keep.
5. ``rewriter.emit`` builds the model; ``back_off`` measures it against the original and undoes
   the least-gain replacements until it is faster beyond noise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

import onnx

from rewriter.candidates import KEEP, LEARNED, Candidate, candidates_for
from rewriter.cost.db import LatencyDB, Record
from rewriter.cost.micro import Micro
from rewriter.cost.model import HarnessOptions, ModelCosts
from rewriter.cost.targets import Target
from rewriter.emit import emit_result
from rewriter.ir import load_model
from rewriter.match.engine import Site

from .decide import back_off, decide, whole_or_note
from .types import Plan, SiteDecision

__all__ = ["plan_sites", "progress_log", "SiteCosts"]

WHOLE_HARNESS = HarnessOptions(precision=0.02, time_cap=20.0, min_rounds=10, warmup_cap=3.0)


class SiteCosts(Protocol):
    """Where a site's candidate records come from: measured (``ModelCosts``) or predicted."""

    def records(self, micro: Micro, candidates: list[Candidate]) -> dict[str, Record]: ...


def progress_log(
    progress: bool | Callable[[str], None], tag: str = "plan"
) -> Callable[[str], None]:
    """``progress`` as a line printer: a callable as is, True prints ``[tag] ...`` on stderr
    (stdout holds tables and results), False prints nothing."""
    if callable(progress):
        return progress
    if not progress:
        return lambda s: None
    return lambda s: print(f"[{tag}] {s}", file=sys.stderr, flush=True)


def plan_sites(
    model: Any,
    target: str | Target = "ort-cpu",
    *,
    pipeline: str = "pau_all",
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    db: str | LatencyDB | None = None,
    max_site_error: float | None = None,
    allow_standard: bool = False,
    min_gain: float = 1.0,
    measure_whole: bool = True,
    progress: bool | Callable[[str], None] = True,
    feeds: dict[str, Any] | None = None,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    harness: HarnessOptions | None = None,
    whole_harness: HarnessOptions | None = None,
    max_backoff: int = 12,
    candidate_filter: Callable[[Site, Micro, list[Candidate]], list[Candidate]] | None = None,
    costs: SiteCosts | None = None,
    strategy: str = "measured",
) -> Plan:
    """Choose, per site, the fastest candidate on ``target`` within the error bound; emit.

    Args:
        model: path or ModelProto (not modified).
        target: ``"ort-cpu:threads=1"``, ``"openvino-cpu"``, ... or a ``Target``.
        pipeline: which functions' sites may be replaced (``rewriter.passes``).
        degrees, form: the requested rational (its error is the default per-site bound).
        db: latency database path (default ``cost.db.default_db_path()``), a ``LatencyDB``, or
            ``":memory:"`` for no persistence.
        max_site_error: max-abs error a site's candidate may have on [-40, 40].
        allow_standard: also standard activations (they change the function).
        measure_whole: measure the whole model and back off until faster beyond noise.
        candidate_filter: ``(site, micro, candidates) -> candidates`` to cost (``keep`` always).
        costs: where records come from (default: measured by the cost model).
        feeds: inputs the model accepts; each site is measured at the shape it has on a run with
            them, and the whole model is timed on them (default: generated, see
            ``rewriter.inputs.generate_inputs``; ``shapes``/``ranges`` shape those).

    Returns:
        A ``Plan`` with strategy ``strategy``.
    """
    t0 = time.perf_counter()
    log = progress_log(progress)
    model = load_model(model)
    mc = ModelCosts(
        model,
        target,
        db,
        feeds=feeds,
        shapes=shapes,
        ranges=ranges,
        harness=harness,
        whole_harness=whole_harness or WHOLE_HARNESS,
        log=log,
    )
    source = costs or mc
    try:
        # pau_learned regions are fitted on the feeds, as a rewrite on them fits them: the fit
        # is the region's candidate (``candidates.learned_candidate``), measured like the others
        def every(s: Site) -> Candidate:  # a dry run that fits each region (chosen, LEARNED)
            return LEARNED if s.function == "learned" else KEEP

        sites = emit_result(
            model, every, pipeline, dry_run=True, degrees=degrees, form=form, samples=mc.feeds
        ).sites
        log(f"{len(sites)} site(s) on {mc.target}")
        mc.prepare(sites)  # one run of the model gives every site's shapes
        decisions: list[SiteDecision] = []
        for s in sites:
            try:
                micro = mc.micro(s)
            except Exception as e:  # a site we cannot cut is kept, with the reason
                decisions.append(SiteDecision(s, reason=f"not measurable: {e}", source="-"))
                continue
            cands = candidates_for(
                s, degrees, form, allow_standard=allow_standard, max_error=max_site_error
            )
            if candidate_filter is not None:
                kept = candidate_filter(s, micro, cands)
                cands = [KEEP, *[c for c in kept if c.kind != "keep"]]
            recs = source.records(micro, cands)
            best, reason, rec = decide(cands, recs, max_site_error, min_gain)
            if s.function == "learned" and len(cands) == 1:  # a region with no fit to offer
                reason = f"no fit: {(s.rational or {}).get('skipped', 'none')}"
            keep = recs.get("keep")
            d = SiteDecision(
                s,
                best,
                "replace" if best.kind != "keep" else "keep",
                reason,
                1.0 / rec.ratio if rec else 1.0,
                (keep.median - rec.median) * 1e3 if rec and keep else None,
                (1.0 / rec.ratio_hi, 1.0 / rec.ratio_lo) if rec else None,
                micro.output_shape,
                micro.signature,
                keep.median * 1e3 if keep else None,
                rec.median * 1e3 if rec else None,
                {"error": best.error} if best.kind != "keep" else {},
                measured={
                    k: {"ms": v.median * 1e3, "ratio": v.ratio, "lo": v.ratio_lo, "hi": v.ratio_hi}
                    for k, v in recs.items()
                },
                source=strategy,
            )
            decisions.append(d)
            chosen = "" if best.name == d.decision else f" {best.name}"  # not "keep keep"
            log(f"{s.name}: {d.decision}{chosen} ({reason})")

        emitted: dict[str, Any] = {}

        def build() -> onnx.ModelProto:
            chosen = {d.site.name: d.candidate for d in decisions if d.decision == "replace"}
            emitted["result"] = emit_result(model, chosen, pipeline, degrees=degrees, form=form)
            return emitted["result"].model  # type: ignore[no-any-return]

        unmeasured: list[str] = []
        if measure_whole:

            def whole_of(m: onnx.ModelProto) -> Any:
                return mc.whole(model, m)

            measure = whole_or_note(whole_of, unmeasured, log)
            out, whole, backed = back_off(
                decisions, build, measure, max_backoff=max_backoff, log=log
            )
        else:
            out, whole, backed = build(), None, []
        return Plan(
            out,
            emitted["result"].sites,
            decisions,
            mc.target.spec,
            pipeline,
            whole,
            backed,
            strategy,
            mc.cm.device.fingerprint,  # the measuring device's (a cluster worker's)
            seconds=time.perf_counter() - t0,
            measured=mc.measured,
            reused=mc.reused,
            whole_note=unmeasured[0] if unmeasured else None,
        )
    finally:
        mc.close()
