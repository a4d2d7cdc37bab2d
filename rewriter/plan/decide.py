"""The two decisions every plan makes: per site, the best candidate from its costs (``decide``);
for the whole model, which replacements to undo until it is measurably faster (``back_off``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from rewriter.candidates import KEEP, Candidate
from rewriter.cost.db import Record
from rewriter.cost.model import WholeResult, speed_verdict

__all__ = ["decide", "back_off"]


class Decision(Protocol):
    """What ``back_off`` reads and updates: ``rewriter.plan.types.SiteDecision`` (ONNX) and the
    torch front end's ``FxSiteDecision`` both are one."""

    site: Any
    decision: str
    reason: str
    gain: float


D = TypeVar("D", bound=Decision)
M = TypeVar("M")  # the model: an onnx.ModelProto, or a torch.fx.GraphModule


def decide(
    candidates: list[Candidate],
    records: dict[str, Record],
    max_error: float | None,
    min_gain: float = 1.0,
) -> tuple[Candidate, str, Record | None]:
    """The best of one site's candidates from their records (pure: tests feed synthetic tables).

    A candidate qualifies when its error is within ``max_error`` (None: any candidate offered)
    and its ratio CI to ``keep`` lies entirely below ``1 / min_gain`` (faster beyond noise;
    predicted records have a CI of width 0). Among qualifying candidates the one with the
    smallest median ratio wins.
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
            why_not.append(f"{c.name} {_verdict(r, min_gain)}")
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


def _verdict(r: Record, min_gain: float) -> str:
    """Why a measured candidate is not taken, in the words a reader checks against its
    interval: slower beyond noise, within noise, or faster but by less than ``min_gain``."""
    lo, hi = 1 / r.ratio_hi, 1 / r.ratio_lo
    speed = f"x{1 / r.ratio:.2f} (CI {lo:.2f}-{hi:.2f})"
    verdict = speed_verdict(lo, hi)
    if verdict == "slower":
        return f"{speed} slower beyond noise"
    if verdict == "faster":
        return f"{speed} faster, by less than the minimum gain x{min_gain:.2f}"
    return f"{speed} not faster beyond noise"


def whole_or_note(
    measure: Callable[[M], WholeResult | None], notes: list[str], log: Callable[[str], None]
) -> Callable[[M], WholeResult | None]:
    """``measure``, where a target that cannot run the whole model (torch-inductor on a Loop:
    ``ModelError``) gives None and its reason is appended to ``notes``: the plan keeps what its
    sites measured and says the whole model was not measured (``Plan.whole_note``)."""
    from rewriter.errors import ModelError

    def f(model: M) -> WholeResult | None:
        try:
            return measure(model)
        except ModelError as e:
            notes.append(str(e))
            log(f"whole model not measured: {e}")
            return None

    return f


def back_off(
    decisions: Sequence[D],
    build: Callable[[], M],
    measure: Callable[[M], WholeResult | None],
    *,
    order: Callable[[D], float] = lambda d: d.gain,
    max_backoff: int | None = 12,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[M, WholeResult | None, list[str]]:
    """Measure the whole model; while it is not faster beyond noise, undo the replacement with
    the least expected gain (``order``) and measure again, until it is faster or untouched.

    Per-site gains need not add up in the whole model (a replacement can break a fusion the
    micro-model did not show), so with a target the result is never slower beyond noise. Past
    ``max_backoff`` single steps the rest is undone at once. ``decisions`` are updated in place
    (``decision`` "backed-off"); ``build`` emits the model of their current state; ``measure``
    returning None (synthetic latencies) ends the loop.

    Returns:
        (the model, the last whole-model result, the names of the sites backed off).
    """
    model = build()
    backed: list[str] = []
    whole: WholeResult | None = None
    while any(d.decision == "replace" for d in decisions):
        whole = measure(model)
        if whole is None:  # synthetic latencies: nothing to measure
            break
        live = sorted((d for d in decisions if d.decision == "replace"), key=order)
        log(
            f"whole model: x{whole.speedup:.3f} (CI {whole.speedup_lo:.3f}-{whole.speedup_hi:.3f}), "
            f"{len(live)} replaced"
        )
        if whole.faster:
            break
        n = 1 if max_backoff is None or len(backed) < max_backoff else len(live)
        for d in live[:n]:
            d.decision = "backed-off"
            d.reason += "; backed off: whole model not faster beyond noise"
            backed.append(d.site.name)
        model = build()
    return model, whole, backed
