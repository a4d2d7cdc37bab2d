"""The planner: per site, the candidate with the largest measured gain within the error budget;
then the whole model, backed off until it is measurably faster (or untouched).

    from rewriter.cost import plan_rewrite, print_plan
    res = plan_rewrite(onnx.load("m.onnx"), "pau_all", "ort-cpu:threads=1")
    print_plan(res, rich.console.Console())
    onnx.save(res.model, "m.fast.onnx")

Steps:

1. Find the pipeline's sites (``rewriter.find_sites``).
2. Per site, cut its micro-model (``micro.cut_site``: producer + activation, real weights,
   concrete shapes); sites with the same signature (repeated blocks) share one measurement.
3. Per micro-model, the candidates within the error bound (``candidates.candidates_for``) are
   measured against ``keep``, interleaved, or read from the latency database.
4. ``decide``: a site takes the candidate with the largest speed-up whose ratio CI lies below 1
   (faster beyond measured noise) and whose error is within ``max_site_error``; otherwise keeps.
5. The rewritten model is built with ``rewrite_onnx(select=..., rationals=...)`` when every
   choice is a rational; with exact rewrites or standard activations among the choices, through
   the engine with ``candidates.ChoiceReplacement`` (same site names, node names, provenance
   in node doc strings; no ``pau_rewriter`` metadata entry).
6. Whole model, original vs rewritten, interleaved. If the rewritten model is not faster beyond
   noise, the replacement with the least gain is backed off and the model re-measured, until it
   is faster or nothing is replaced: with a target the result is never slower beyond noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx

from rewriter.match.engine import Site

from .candidates import KEEP, Candidate, build_candidate, candidates_for
from .db import LatencyDB, Record
from .harness import Comparison, compare
from .micro import Micro, cut_site, random_feeds, resolve_dims
from .model import CostModel, HarnessOptions
from .targets import Target, get_target

__all__ = ["Decision", "WholeResult", "PlanResult", "plan_rewrite", "decide", "print_plan"]


@dataclass
class Decision:
    """What the planner chose for one site, and why."""

    site: Site
    shape: list[int] | None
    signature: str
    original_ms: float | None
    best: Candidate
    best_ms: float | None
    gain: float  # speed-up of the micro-model: t_original / t_best (1.0 when kept)
    ratio_ci: tuple[float, float] | None
    decision: str  # "replace" | "keep" | "backed-off"
    reason: str
    measured: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.name,
            "function": self.site.function,
            "shape": self.shape,
            "signature": self.signature,
            "original_ms": self.original_ms,
            "best": self.best.to_dict(),
            "best_ms": self.best_ms,
            "gain": self.gain,
            "ratio_ci": list(self.ratio_ci) if self.ratio_ci else None,
            "decision": self.decision,
            "reason": self.reason,
            "measured": self.measured,
        }


@dataclass
class WholeResult:
    """Whole model, original vs rewritten (one interleaved run): speed-up and its CI."""

    original_ms: float
    original_iqr_ms: float
    rewritten_ms: float
    rewritten_iqr_ms: float
    speedup: float
    speedup_lo: float
    speedup_hi: float
    rounds: int
    backed_off: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PlanResult:
    model: onnx.ModelProto
    sites: list[Site]
    decisions: list[Decision]
    whole: WholeResult | None
    target: str
    fingerprint: dict[str, Any]
    seconds: float = 0.0
    measured: int = 0
    reused: int = 0

    @property
    def replaced(self) -> list[Decision]:
        return [d for d in self.decisions if d.decision == "replace"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "fingerprint": self.fingerprint,
            "decisions": [d.to_dict() for d in self.decisions],
            "whole": self.whole.to_dict() if self.whole else None,
            "seconds": self.seconds,
            "micro_models_measured": self.measured,
            "micro_models_reused": self.reused,
        }


def decide(
    site: Site,
    candidates: list[Candidate],
    records: dict[str, Record],
    max_error: float | None,
    min_gain: float = 1.0,
) -> tuple[Candidate, str, Record | None]:
    """The best candidate of one site from measured records (pure: tests feed synthetic tables).

    A candidate qualifies when its error is within ``max_error`` (None: any candidate offered)
    and its ratio CI to ``keep`` lies entirely below ``1 / min_gain`` (faster beyond noise).
    Among qualifying candidates the one with the smallest median ratio wins.
    """
    keep = records.get("keep")
    best: tuple[float, Candidate, Record] | None = None
    why_not: list[str] = []
    for c in candidates:
        if c.kind == "keep" or c.name not in records:
            continue
        r = records[c.name]
        if max_error is not None and c.error > max_error:
            why_not.append(f"{c.name} error {c.error:.1e} > {max_error:.1e}")
            continue
        if not r.ratio_hi < 1.0 / min_gain:
            why_not.append(
                f"{c.name} x{1 / r.ratio:.2f} (CI {1 / r.ratio_hi:.2f}-{1 / r.ratio_lo:.2f}) not faster beyond noise"
            )
            continue
        if best is None or r.ratio < best[0]:
            best = (r.ratio, c, r)
    if best is None:
        return KEEP, ("; ".join(why_not[:3]) or "no candidate") if keep else "not measured", None
    r = best[2]
    return (
        best[1],
        f"x{1 / r.ratio:.2f} in context (CI {1 / r.ratio_hi:.2f}-{1 / r.ratio_lo:.2f})",
        r,
    )


def _whole(
    target: Target,
    a: onnx.ModelProto,
    b: onnx.ModelProto,
    feeds: dict[str, Any],
    opts: HarnessOptions,
) -> Comparison:
    ra, rb = target.session(a), target.session(b)
    return compare(
        {"original": lambda: ra(feeds), "rewritten": lambda: rb(feeds)}, "original", **opts.kwargs()
    )


def _whole_result(c: Comparison, backed: list[str]) -> WholeResult:
    so, sr, r = c.stats["original"], c.stats["rewritten"], c.ratios["rewritten"]
    return WholeResult(
        so.median * 1e3,
        so.iqr * 1e3,
        sr.median * 1e3,
        sr.iqr * 1e3,
        r.speedup,
        1.0 / r.hi,
        1.0 / r.lo,
        c.rounds,
        list(backed),
    )


def plan_rewrite(
    model: onnx.ModelProto,
    pipeline: str = "pau_all",
    target: str | Target = "ort-cpu",
    *,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    db: str | LatencyDB | None = None,
    max_site_error: float | None = None,
    allow_standard: bool = False,
    measure_whole: bool = True,
    progress: bool | Callable[[str], None] = True,
    batch: int = 1,
    dims: dict[str, int] | None = None,
    harness: HarnessOptions | None = None,
    whole_harness: HarnessOptions | None = None,
    max_backoff: int = 12,
    candidate_filter: Callable[[Site, Micro, list[Candidate]], list[Candidate]] | None = None,
) -> PlanResult:
    """Choose, per site, the fastest candidate on ``target`` within the error budget; rewrite.

    Args:
        model: the model (not modified).
        pipeline: which functions' sites may be replaced (``rewriter.passes``).
        target: ``"ort-cpu:threads=1"``, ``"openvino-cpu"``, ... or a ``Target``.
        degrees, form: the requested rational (its error is the default per-site bound).
        db: latency database path (default ``db.default_db_path()``), a ``LatencyDB``, or
            ``":memory:"`` for no persistence.
        max_site_error: max-abs error a site's candidate may have on [-40, 40]; default the
            requested rational's own global error.
        allow_standard: also consider standard activations (ReLU, HardSwish, ...): they change
            the function, use them with fine-tuning or a ``max_site_error`` that admits them.
        measure_whole: measure original vs rewritten and back off until faster beyond noise.
        progress: print progress lines (True), a callable taking lines, or False.
        candidate_filter: ``(site, micro, candidates) -> candidates`` to measure (``keep`` is
            always measured): how ``rewrite plan --prune K`` measures only the predicted top K.
        batch, dims: sizes of dynamic dimensions for the micro-models and whole-model runs.

    Returns:
        ``PlanResult`` with ``.model``, ``.sites``, ``.decisions``, ``.whole``, ``.to_dict()``.

    Example:
        >>> res = plan_rewrite(onnx.load("resnet_mish.onnx"), target="ort-cpu:threads=1")  # doctest: +SKIP
        >>> [(d.site.name, d.best.name, round(d.gain, 2)) for d in res.decisions]           # doctest: +SKIP
        [('mish_0', 'rational:5_4:gated_x:horner', 2.41), ...]
    """
    from rewriter.api import find_sites, rewrite_onnx

    t0 = time.perf_counter()
    log: Callable[[str], None] = (
        progress
        if callable(progress)
        else ((lambda s: print(f"[plan] {s}", flush=True)) if progress else (lambda s: None))
    )
    tgt = get_target(target)
    if isinstance(db, LatencyDB):
        store: LatencyDB | None = db
    elif db == ":memory:":
        store = None
    else:
        store = LatencyDB(db)
    cm = CostModel(tgt, store, harness)
    sites = find_sites(model, pipeline)
    log(f"{len(sites)} site(s) on {tgt}")
    resolved = resolve_dims(model, batch, dims) if sites else model
    decisions: list[Decision] = []
    for s in sites:
        try:
            micro = cut_site(model, s, batch=batch, dims=dims, resolved=resolved)
        except Exception as e:  # a site we cannot cut is kept, with the reason
            decisions.append(
                Decision(s, None, "", None, KEEP, None, 1.0, None, "keep", f"not measurable: {e}")
            )
            continue
        cands = candidates_for(
            s, degrees, form, allow_standard=allow_standard, max_error=max_site_error
        )
        if candidate_filter is not None:
            kept = candidate_filter(s, micro, cands)
            cands = [KEEP, *[c for c in kept if c.kind != "keep"]]
        recs = cm.site_costs(micro, cands, log)
        best, reason, rec = decide(s, cands, recs, max_site_error)
        keep = recs.get("keep")
        decisions.append(
            Decision(
                s,
                micro.output_shape,
                micro.signature,
                keep.median * 1e3 if keep else None,
                best,
                rec.median * 1e3 if rec else None,
                1.0 / rec.ratio if rec else 1.0,
                (1.0 / rec.ratio_hi, 1.0 / rec.ratio_lo) if rec else None,
                "replace" if best.kind != "keep" else "keep",
                reason,
                {
                    k: {"ms": v.median * 1e3, "ratio": v.ratio, "lo": v.ratio_lo, "hi": v.ratio_hi}
                    for k, v in recs.items()
                },
            )
        )
        log(f"{s.name}: {decisions[-1].decision} {best.name} ({reason})")

    def build(ds: list[Decision]) -> onnx.ModelProto:
        chosen = {d.site.name: d.best for d in ds if d.decision == "replace"}
        if any(c.kind in ("standard", "exact") for c in chosen.values()):
            m = build_candidate(
                model, {d.site.output: d.best for d in ds if d.decision == "replace"}
            )
            _note_provenance(m, pipeline, ds)
            return m
        return rewrite_onnx(
            model,
            pipeline,
            degrees=degrees,
            form=form,
            select=lambda st: st.name in chosen,
            rationals={k: c.rational for k, c in chosen.items()},
        ).model

    out = build(decisions)
    whole = None
    if measure_whole and any(d.decision == "replace" for d in decisions):
        wh = whole_harness or HarnessOptions(
            precision=0.02, time_cap=20.0, min_rounds=10, warmup_cap=3.0
        )
        feeds = random_feeds(resolved)
        backed: list[str] = []
        while True:
            c = _whole(tgt, model, out, feeds, wh)
            whole = _whole_result(c, backed)
            log(
                f"whole model: x{whole.speedup:.3f} (CI {whole.speedup_lo:.3f}-{whole.speedup_hi:.3f}), {len(decisions) - len(backed)} replaced"
            )
            live = sorted((d for d in decisions if d.decision == "replace"), key=lambda d: d.gain)
            if c.ratios["rewritten"].faster or not live:
                break
            n = (
                1 if len(backed) < max_backoff else len(live)
            )  # beyond the cap: drop the rest at once
            for d in live[:n]:
                d.decision, d.reason = (
                    "backed-off",
                    d.reason + "; backed off: whole model not faster beyond noise",
                )
                backed.append(d.site.name)
            out = build(decisions)
            if not any(d.decision == "replace" for d in decisions):
                whole.backed_off = list(backed)
                break
    if store is not None and not isinstance(db, LatencyDB):
        store.close()
    return PlanResult(
        out,
        sites,
        decisions,
        whole,
        tgt.spec,
        tgt.fingerprint(),
        time.perf_counter() - t0,
        cm.measured,
        cm.reused,
    )


def _note_provenance(m: onnx.ModelProto, pipeline: str, ds: list[Decision]) -> None:
    """The ``pau_rewriter`` metadata entry ``rewrite_onnx`` writes, for engine-built models."""
    try:
        from rewriter.api import _provenance
    except ImportError:  # pragma: no cover
        return
    sites = []
    for d in ds:
        if d.decision == "replace":
            s = Site(**{**d.site.to_dict(), "replaced": True})
            c = d.best
            s.rational = {
                "form": c.form or c.kind,
                "op": c.op,
                "degrees": list(c.degrees) if c.degrees else None,
                "global_error": c.error,
                "candidate": c.name,
            }
            sites.append(s)
    _provenance(m, pipeline, sites)


def print_plan(result: PlanResult, console: Any = None) -> None:
    """A rich table of the decisions and the whole-model result."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"plan on {result.target}", show_lines=False)
    for col in (
        "site",
        "shape",
        "original ms",
        "best candidate",
        "best ms",
        "gain",
        "decision",
        "reason",
    ):
        t.add_column(col, overflow="fold")
    for d in result.decisions:
        t.add_row(
            d.site.name,
            "x".join(str(v) for v in d.shape) if d.shape else "?",
            f"{d.original_ms:.3f}" if d.original_ms is not None else "-",
            d.best.name,
            f"{d.best_ms:.3f}" if d.best_ms is not None else "-",
            f"x{d.gain:.2f}",
            d.decision,
            d.reason,
        )
    console.print(t)
    w = result.whole
    if w is not None:
        console.print(
            f"whole model: {w.original_ms:.2f} ms (IQR {w.original_iqr_ms:.2f}) -> {w.rewritten_ms:.2f} ms (IQR {w.rewritten_iqr_ms:.2f}): "
            f"x{w.speedup:.3f} (95% CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f}, {w.rounds} rounds)"
            + (f"; backed off {', '.join(w.backed_off)}" if w.backed_off else "")
        )
    console.print(
        f"{len(result.replaced)}/{len(result.decisions)} site(s) replaced; {result.measured} micro-model(s) measured, {result.reused} reused; {result.seconds:.1f} s"
    )
