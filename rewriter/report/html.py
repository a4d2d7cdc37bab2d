"""The map as one self-contained offline HTML page (plots as base64 PNG) plus ``map.json``.

``write_map(site_map, "map.html")`` writes both files atomically (``map.json`` beside the page,
same stem). The page has no external reference at all (no scripts, fonts or stylesheets from
the network): it opens from a USB stick on an air-gapped machine. Plots (matplotlib, Agg):

* per site: the function and its rational over the observed range, with the input histogram
  behind them, and the absolute error curve (log scale);
* gain vs sensitivity: per site, micro-model speed-up on the target against 1 - cosine of the
  model's outputs when only that site is replaced;
* the Pareto front: predicted whole-model speed-up vs accuracy (with labels) or cosine.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from typing import Any

import numpy as np

from rewriter.ir import write_atomic
from rewriter.plan.sitemap import SiteMap
from rewriter.report.tables import site_label

__all__ = ["write_map", "render_html", "json_path_for", "render_plan", "write_plan_page"]


def json_path_for(html_path: str) -> str:
    root, _ = os.path.splitext(html_path)
    return root + ".json"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # margins are set per figure (subplots_adjust): bbox_inches="tight" drew every figure twice,
    # 8 of MobileViT's 47 s map (34 sites); one draw takes 5 s
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return (
        '<img alt="plot" src="data:image/png;base64,'
        + base64.b64encode(buf.getvalue()).decode("ascii")
        + '">'
    )


# fewer site plots than this are drawn here: a worker takes ~1.5 s to start, a plot ~0.5-0.8 s
PARALLEL_PLOTS = 8


def _site_plot_data(st: Any, degrees: tuple[int, int]) -> dict[str, Any]:
    """What one site's plot shows, as plain arrays and strings (a worker draws it)."""
    o = st.observation
    main = st.main(degrees)
    f = st.reference  # a region's own nodes, or the catalogue function
    lo, hi = (o.min, o.max) if o.observed else (-6.0, 6.0)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    x = np.linspace(lo - pad, hi + pad, 1200)
    fx = f(x)
    errors = []
    for c in st.candidates[1:]:
        with np.errstate(all="ignore"):
            e = np.abs(c(x) - fx) + 1e-12
        label = c.name.replace("rational:", "").replace(":horner", "").replace("standard:", "")
        errors.append((label, e, c is main))
    return {
        "name": st.name,
        "function": st.function,
        "degrees": degrees,
        "range": (lo, hi),
        "samples": o.samples if o.observed else None,
        "x": x,
        "f": fx,
        "main": main(x),
        "errors": errors,
    }


def _draw_site_plot(d: dict[str, Any]) -> str:
    """The function and its rational over the observed range (the input histogram behind
    them), and every candidate's absolute error (log scale)."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":  # a worker process: no display
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    x, (lo, hi), degrees = d["x"], d["range"], d["degrees"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 2.9))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.1, top=0.9, wspace=0.18)
    if d["samples"] is not None:
        ax = a1.twinx()
        ax.hist(d["samples"], bins=60, color="#dddddd")
        ax.set_yticks([])
        a1.set_zorder(ax.get_zorder() + 1)
        a1.patch.set_visible(False)
    a1.plot(x, d["f"], color="black", lw=2.2, label=d["function"])
    a1.plot(
        x, d["main"], color="#d62728", lw=1.1, ls="--", label=f"rational {degrees[0]},{degrees[1]}"
    )
    a1.set_title(f"{d['name']}: {d['function']} on observed inputs", fontsize=9, y=1.0)
    a1.legend(fontsize=7, loc="upper left")
    for label, e, is_main in d["errors"]:
        a2.semilogy(
            x,
            e,
            lw=1.4 if is_main else 0.8,
            label=label,
            color="#d62728" if is_main else None,
        )
    a2.set_title("|approximation - function|", fontsize=9, y=1.0)
    a2.legend(fontsize=6, ncol=2)
    for a in (a1, a2):
        a.tick_params(labelsize=7)
        a.axvspan(lo, hi, color="#2ca02c", alpha=0.04)
    return _png(fig)


def _site_plots(sites: list[Any], degrees: tuple[int, int]) -> list[str]:
    """Every site's plot, drawn in worker processes (``rewriter.procs.worker_pool``) when there
    are at least ``PARALLEL_PLOTS`` of them and more than one core: the same bytes either way.
    The 58 plots of a YOLOv8n map were half of its time once its fits were stored."""
    from rewriter.procs import worker_count, worker_pool

    data = [_site_plot_data(st, degrees) for st in sites]
    workers = min(worker_count(), len(data))
    if len(data) < PARALLEL_PLOTS or workers < 2:
        return [_draw_site_plot(d) for d in data]
    with worker_pool(workers) as pool:
        return list(pool.map(_draw_site_plot, data))


def _gain_plot(mp: SiteMap) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.93)
    for row in mp.sites:
        sens = max(1.0 - row["output_deviation"]["cosine"], 1e-12)
        g = row["gain"] if row["gain"] is not None else 1.0
        ax.scatter([sens], [g], s=40)
        ax.annotate(row["name"], (sens, g), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("sensitivity: 1 - cosine of outputs, only this site replaced", fontsize=8)
    ax.set_ylabel(
        "gain: site speed-up on target" + ("" if mp.target else " (no target: 1)"), fontsize=8
    )
    ax.set_title(
        f"gain vs sensitivity, rational {mp.degrees[0]},{mp.degrees[1]}", fontsize=9, y=1.0
    )
    return _png(fig)


def _pareto_plot(mp: SiteMap) -> str:
    import matplotlib.pyplot as plt

    acc = mp.study.base_accuracy is not None
    fig, axes = plt.subplots(1, 2 if acc else 1, figsize=(11 if acc else 6.5, 4), squeeze=False)
    fig.subplots_adjust(left=0.09 if not acc else 0.06, right=0.98, bottom=0.12, top=0.9)
    pts = [p for p in mp.sweep if p.speedup is not None]
    fr = [p for p in mp.pareto if p.speedup is not None]
    panels = [("accuracy (%)", lambda p: p.deviation.accuracy)] if acc else []
    panels.append(("1 - cosine of outputs (log)", lambda p: max(1.0 - p.deviation.cosine, 1e-12)))
    for ax, (label, q) in zip(axes[0], panels, strict=True):
        ax.scatter(
            [p.speedup for p in pts],
            [q(p) for p in pts],
            color="#bbbbbb",
            s=18,
            label="measured plans",
        )
        ax.plot(
            [p.speedup for p in fr],
            [q(p) for p in fr],
            "o-",
            color="#1f77b4",
            ms=4,
            label="Pareto front",
        )
        if label.startswith("1 -"):
            ax.set_yscale("log")
        ax.set_xlabel("predicted whole-model speed-up on target", fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle("whole-model latency vs accuracy", fontsize=9)
    return _png(fig)


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return html.escape(str(v))


def render_html(mp: SiteMap) -> str:
    """The page's text (see the module doc)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    d = mp.to_dict()
    e = html.escape
    rows = []
    for r in mp.sites:
        od = r["output_deviation"]
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    e(r["name"]),
                    e(r["function"]),
                    f"[{_fmt(r['observed_range'][0])}, {_fmt(r['observed_range'][1])}]",
                    _fmt(r["approx_error"]["max_abs"], ".2e"),
                    _fmt(od["cosine"], ".6f"),
                    _fmt(od["rel_l2"], ".2e"),
                    _fmt(od["accuracy_drop"], ".2f"),
                    _fmt(r["gain"], ".2f"),
                    e(r["rational"]),
                )
            )
            + "</tr>"
        )
    mapped = [st for st in mp.study.sites if st.mapped]
    plots = _site_plots(mapped, mp.degrees)
    sites = "".join(f"<h3>{e(st.name)}</h3>{p}" for st, p in zip(mapped, plots, strict=True))
    pareto = (
        _pareto_plot(mp) if mp.sweep else "<p>No target given: no latencies, no Pareto front.</p>"
    )
    prows = "".join(
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                _fmt(p.speedup, ".3f"),
                _fmt(p.deviation.cosine, ".6f"),
                _fmt(p.deviation.rel_l2, ".2e"),
                _fmt(p.deviation.accuracy, ".2f"),
                e(", ".join(f"{k}={v}" for k, v in sorted(p.assignment.items())) or "(none)"),
            )
        )
        + "</tr>"
        for p in mp.pareto
    )
    style = (
        "body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}img{max-width:100%}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pau-rewriter map: {e(d["model"])}</title>
<style>{style}</style></head><body>
<h1>Sensitivity map: {e(d["model"])}</h1>
<p>pipeline <b>{e(d["pipeline"])}</b>; target <b>{e(str(d.get("device") or d["target"]))}</b>; calibration <b>{e(str(d["calibration"]))}</b>;
rational degrees {mp.degrees[0]},{mp.degrees[1]}; base accuracy {_fmt(d["base_accuracy"], ".2f")}; base latency {_fmt(d["base_ms"], ".3f")} ms.
Output deviation is measured with only that site replaced; every number is in the JSON beside this page.</p>
<h2>Sites</h2>
<table><tr><th>site</th><th>function</th><th>observed range</th><th>approx. error (observed)</th><th>cosine</th>
<th>rel L2</th><th>accuracy drop</th><th>gain</th><th>rational</th></tr>{"".join(rows)}</table>
<h2>Gain vs sensitivity</h2>{_gain_plot(mp)}
<h2>Pareto front</h2>{pareto}
<table><tr><th>predicted speed-up</th><th>cosine</th><th>rel L2</th><th>accuracy</th><th>replaced</th></tr>{prows}</table>
<h2>Functions and their rationals on the observed inputs</h2>{sites}
</body></html>
"""


def write_map(mp: SiteMap, html_path: str, json_path: str | None = None) -> tuple[str, str]:
    """Write the page and ``map.json`` (default: beside the page); returns both paths."""
    json_path = json_path or json_path_for(html_path)
    page = render_html(mp)
    data = json.dumps(mp.to_dict(), indent=2, sort_keys=True, default=float, allow_nan=False)
    write_atomic(json_path, data + "\n")
    write_atomic(html_path, page)
    return html_path, json_path


def render_plan(plan: Any) -> str:
    """A plan as one offline HTML page: per site the choice, its solo cosine, the cosine of the
    site's output to the original's before and after retraining (``--recover``), its measured
    speed in context; then the attempts and the whole-model result. Same numbers as the JSON."""
    e = html.escape
    b, r, w = plan.budget, plan.recover, plan.whole
    rows = []
    for d in plan.decisions:
        a = d.accuracy
        rep = d.decision == "replace"
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    e(d.site.name),
                    e(site_label(d.site)),
                    e(d.candidate.name if rep else d.decision),
                    _fmt(a.get("solo_cosine"), ".6f"),
                    _fmt(a.get("site_cosine_before"), ".6f") if rep else "-",
                    _fmt(a.get("site_cosine_after"), ".6f") if rep and r and r.retrained else "-",
                    _fmt(d.original_ms, ".4f"),
                    _fmt(d.candidate_ms, ".4f") if rep else "-",
                    f"x{d.gain:.2f}" if rep else "-",
                )
            )
            + "</tr>"
        )
    attempts = ""
    if r is not None:
        attempts = "".join(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    str(k),
                    e(", ".join(f"{s}={c}" for s, c in at.assignment.items())),
                    _fmt(at.usage_before, ".3f"),
                    _fmt(at.usage_after, ".3f"),
                    _fmt(at.whole.speedup if at.whole else None, ".3f"),
                    e(at.outcome + (f" ({at.blamed})" if at.blamed else "")),
                )
            )
            + "</tr>"
            for k, at in enumerate(r.attempts, 1)
        )
        attempts = (
            f"<h2>Attempts ({r.runs} retraining run(s), train {e(r.train)})</h2>"
            "<table><tr><th>#</th><th>replaced</th><th>budget used before retraining</th>"
            "<th>after</th><th>measured speed-up</th><th>outcome</th></tr>"
            f"{attempts}</table>"
        )
        if r.nearest is not None:
            from rewriter.plan.recover import describe_nearest

            attempts += f"<p>{e(describe_nearest(r.nearest))}</p>"
    speed = (
        f"measured x{w.speedup:.3f} (95% CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f}) on {e(str(plan.target))}"
        if w is not None
        else f"whole model not measured: {e(plan.whole_note)}"
        if plan.whole_note
        else "speed not measured (nothing replaced)"
    )
    verified = (
        f"budget verified on {e(b.heldout)}: cosine {b.check.cosine:.6f}, rel L2 {b.check.rel_l2:.3g}"
        + (f", accuracy {b.check.accuracy:.2f}%" if b.check.accuracy is not None else "")
        + (f"; {e(b.check.picked())}" if b.check.picked() else "")
        if b is not None and b.check is not None
        else ""
    )
    style = (
        "body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pau-rewriter plan</title>
<style>{style}</style></head><body>
<h1>Plan on {e(str(plan.target))} ({e(plan.strategy)})</h1>
<p>{len(plan.replaced)} of {len(plan.decisions)} site(s) replaced; {speed}. {verified}</p>
<h2>Sites</h2>
<table><tr><th>site</th><th>function</th><th>choice</th><th>solo cosine (before retraining)</th>
<th>site cosine before retraining</th><th>site cosine after</th><th>keep ms</th><th>choice ms</th>
<th>speed-up in context</th></tr>{"".join(rows)}</table>
{attempts}
</body></html>
"""


def write_plan_page(plan: Any, path: str) -> str:
    """Write ``render_plan(plan)`` atomically to ``path``."""
    write_atomic(path, render_plan(plan))
    return path
