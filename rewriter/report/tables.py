"""Terminal tables of a ``Plan`` (rich): per-site decisions, a budgeted plan with its Pareto set,
predicted rankings; each ends with one summary line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewriter.plan.types import Plan

__all__ = ["print_plan", "print_budget", "print_predictions", "print_recover"]


def _console(console: Any) -> Any:
    from rich.console import Console

    return console or Console()


def _shape(shape: Sequence[int | str | None] | None) -> str:
    return "x".join("?" if v is None else str(v) for v in shape) if shape else "?"


def site_label(site: Any) -> str:
    """What a site computes, as tables say it (``2 x gelu`` where scaled; a torch.fx site has
    no scale)."""
    return str(getattr(site, "label", site.function))


def print_plan(plan: Plan, console: Any = None) -> None:
    """The decisions and the whole-model result of a measured (or pruned) plan."""
    from rich.table import Table

    console = _console(console)
    t = Table(title=f"plan on {plan.target}", show_lines=False)
    cols = (
        "site",
        "shape",
        "original ms",
        "candidate",
        "candidate ms",
        "gain",
        "decision",
        "reason",
    )
    for col in cols:
        t.add_column(col, overflow="fold")
    for d in plan.decisions:
        t.add_row(
            d.site.name,
            _shape(d.shape),
            f"{d.original_ms:.3f}" if d.original_ms is not None else "-",
            d.candidate.name,
            f"{d.candidate_ms:.3f}" if d.candidate_ms is not None else "-",
            f"x{d.gain:.2f}",
            d.decision,
            d.reason,
        )
    console.print(t)
    w = plan.whole
    if w is not None:
        console.print(
            f"whole model: {w.original_ms:.2f} ms (IQR {w.original_iqr_ms:.2f}) -> "
            f"{w.rewritten_ms:.2f} ms (IQR {w.rewritten_iqr_ms:.2f}): x{w.speedup:.3f} "
            f"(95% CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f}, {w.rounds} rounds)"
            + (f"; backed off {', '.join(plan.backed_off)}" if plan.backed_off else "")
        )
    elif plan.whole_note and plan.replaced:
        console.print(f"whole model not measured, so not known to be faster: {plan.whole_note}")
    console.print(
        f"{len(plan.replaced)}/{len(plan.decisions)} site(s) replaced; {plan.measured} "
        f"micro-model(s) measured, {plan.reused} reused; {plan.seconds:.1f} s"
    )


def print_budget(plan: Plan, console: Any = None) -> None:
    """A budgeted plan: per site, the Pareto set, and one summary line."""
    from rich.table import Table

    assert plan.budget is not None, "print_budget takes a plan made with an accuracy budget"
    b = plan.budget
    console = _console(console)
    t = Table(title=f"budgeted plan on {plan.target or 'synthetic latencies'}")
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
    for d in plan.decisions:
        a = d.accuracy
        lo, hi = a.get("observed_range", [None, None])
        t.add_row(
            d.site.name,
            site_label(d.site),
            f"[{lo:.2g}, {hi:.2g}]" if lo is not None else "-",
            d.candidate.name,
            f"{a['approx_error']['max_abs']:.1e}" if "approx_error" in a else "-",
            f"{a['solo_cosine']:.6f}" if a.get("solo_cosine") is not None else "-",
            f"{a['solo_accuracy']:.2f}" if a.get("solo_accuracy") is not None else "-",
            f"x{d.gain:.2f}" if d.gain != 1.0 else "-",
        )
    console.print(t)
    p = Table(title="Pareto set (predicted latency vs measured quality)")
    for col in ("predicted speed-up", "cosine", "rel L2", "accuracy", "replaced"):
        p.add_column(col, overflow="fold")
    for pt in b.pareto:
        p.add_row(
            f"x{pt.speedup:.3f}" if pt.speedup else "-",
            f"{pt.deviation.cosine:.6f}",
            f"{pt.deviation.rel_l2:.2e}",
            f"{pt.deviation.accuracy:.2f}" if pt.deviation.accuracy is not None else "-",
            ", ".join(f"{k}={v}" for k, v in sorted(pt.assignment.items())) or "(none)",
        )
    console.print(p)
    d, w = b.deviation, plan.whole
    acc = (
        f", accuracy {d.accuracy:.2f}% (base {b.base_accuracy:.2f}%)"
        if d.accuracy is not None and b.base_accuracy is not None
        else ""
    )
    speed = (
        f"measured x{w.speedup:.3f} (95% CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f})"
        if w
        else f"predicted x{b.predicted_speedup:.3f}"
        if b.predicted_speedup
        else "no latency"
    )
    if plan.backed_off:
        console.print(
            f"backed off (over budget on held-out data, or whole model not faster beyond noise): "
            f"{', '.join(plan.backed_off)}"
        )
    if b.check is not None:
        console.print(f"budget verified on {b.heldout}: {_usage_line(b, b.check)}")
    elif b.heldout:
        console.print(f"budget verified on {b.heldout}")
    console.print(
        f"{len(plan.replaced)}/{len(plan.decisions)} site(s) replaced; cosine {d.cosine:.6f}, "
        f"rel L2 {d.rel_l2:.2e}{acc}; {speed}; {b.mode} search over {b.space} assignment(s), "
        f"{b.evaluated} measured; {plan.seconds:.1f} s"
    )


def _usage_line(b: Any, d: Any) -> str:
    """``cosine 0.99952 >= 0.999, accuracy drop 0.10 <= 0.5 points: within budget``."""
    parts = []
    bud = b.budget
    if bud.min_cosine is not None:
        parts.append(
            f"cosine {d.cosine:.6f} {'>=' if d.cosine >= bud.min_cosine else '<'} {bud.min_cosine:g}"
        )
    if bud.max_rel_error is not None:
        ok = d.rel_l2 <= bud.max_rel_error
        parts.append(f"rel L2 {d.rel_l2:.3g} {'<=' if ok else '>'} {bud.max_rel_error:g}")
    if bud.max_drop is not None and d.accuracy is not None and b.base_accuracy is not None:
        drop = b.base_accuracy - d.accuracy
        parts.append(
            f"accuracy {d.accuracy:.2f}% (base {b.base_accuracy:.2f}%, drop {drop:.2f} "
            f"{'<=' if drop <= bud.max_drop else '>'} {bud.max_drop:g} points)"
        )
    ok = bud.feasible(d, b.base_accuracy)
    picked = d.picked() if hasattr(d, "picked") else ""  # NonMaxSuppression's boxes, labels
    return (
        ", ".join(parts)
        + (": within budget" if ok else ": OVER BUDGET")
        + (f"; {picked}" if picked else "")
    )


def print_recover(plan: Plan, console: Any = None) -> None:
    """A ``--recover`` plan: per site the choice, its accuracy before and after retraining and
    its measured speed; then the runs, the held-out data, and the whole model."""
    from rich.table import Table

    r, b = plan.recover, plan.budget
    assert r is not None and b is not None, "print_recover takes a plan made with --recover"
    console = _console(console)
    t = Table(title=f"recover plan on {plan.target}")
    for col in (
        "site",
        "function",
        "choice",
        "solo cos (before)",
        "site cos before",
        "site cos after",
        "speed (in context)",
    ):
        t.add_column(col, overflow="fold")
    for d in plan.decisions:
        a = d.accuracy

        def f(k: str, a: dict[str, Any] = a) -> str:
            return f"{a[k]:.6f}" if a.get(k) is not None else "-"

        t.add_row(
            d.site.name,
            site_label(d.site),
            d.candidate.name if d.decision == "replace" else d.decision,
            f("solo_cosine"),
            f("site_cosine_before") if d.decision == "replace" else "-",
            f("site_cosine_after") if d.decision == "replace" and r.retrained else "-",
            f"x{d.gain:.2f}" if d.decision == "replace" else "-",
        )
    console.print(t)
    for k, at in enumerate(r.attempts, 1):
        after = f" -> {at.usage_after:.2f} after retraining" if at.usage_after is not None else ""
        speed = f", measured x{at.whole.speedup:.3f}" if at.whole is not None else ""
        blamed = f" ({at.blamed})" if at.blamed else ""
        console.print(
            f"  attempt {k}: {len(at.assignment)} replaced, budget used {at.usage_before:.2f}"
            f"{after}{speed}: {at.outcome}{blamed}"
        )
    saved = (
        f"; {len(r.skipped)} replacement(s) that did not recover before were not tried again ({', '.join(r.skipped)})"
        if r.skipped
        else ""
    )
    console.print(f"{r.runs} retraining run(s) (train {r.train}){saved}")
    if r.before is not None and plan.replaced:
        console.print(f"before retraining, on {b.heldout}: {_usage_line(b, r.before)}")
        if r.after is not None:
            console.print(f"after retraining, on {b.heldout}: {_usage_line(b, r.after)}")
    elif not plan.replaced and not r.attempts:
        console.print(
            f"nothing replaced: no candidate measured faster than the original on {plan.target} "
            "at any site"
        )
    elif not plan.replaced:
        console.print(
            f"nothing replaced: no replacement recovered inside the budget on {b.heldout}"
        )
        if r.nearest is not None:
            from rewriter.plan.recover import describe_nearest

            console.print(describe_nearest(r.nearest))
    if r.cannot_retrain:
        console.print(f"not retrained: {r.cannot_retrain}")
    w = plan.whole
    console.print(
        f"{len(plan.replaced)}/{len(plan.decisions)} site(s) replaced; "
        + (
            f"measured x{w.speedup:.3f} (95% CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f}) on {plan.target}"
            if w is not None
            else f"whole model not measured: {plan.whole_note}"
            if plan.whole_note
            else "speed not measured (nothing replaced)"
        )
        + f"; {plan.seconds:.1f} s"
    )


def print_predictions(plan: Plan, title: str, console: Any = None, measured: bool = False) -> None:
    """Per site: the predicted ranking (top 3), its source, the decision and gain."""
    from rich.table import Table

    console = _console(console)
    t = Table(title=title)
    cols = ["site", "function", "shape", "predicted top 3 (speed-up vs keep)", "source"]
    cols += ["decision", "gain"] + (["measured / reason"] if measured else [])
    for c in cols:
        t.add_column(c, overflow="fold")
    for d in plan.decisions:
        ranked = sorted(((n, r) for n, r in d.predicted.items() if n != "keep"), key=lambda x: x[1])
        top = ", ".join(f"{n} x{1 / r:.2f}" for n, r in ranked[:3])
        row = [
            d.site.name,
            site_label(d.site),
            _shape(d.shape),
            top or "-",
            d.source,
            f"{d.decision} {d.candidate.name}" if d.decision == "replace" else d.decision,
            f"x{d.gain:.2f}",
        ]
        if measured:
            row.append(d.reason)
        t.add_row(*row)
    console.print(t)
