"""Plan a torch module's rewrite on measured latencies: the torch twin of ``rewriter.plan``.

    >>> from rewriter.frontends.fx.plan import plan_module
    >>> p = plan_module(model, (x,), "torch-eager")  # doctest: +SKIP
    >>> [(d.name, d.decision, d.reason) for d in p.decisions]; p.whole; p.module  # doctest: +SKIP

Per site, the module with only that site replaced runs against the original (the whole module,
in context, on ``example_inputs``); a site is replaced only when the speed-up's CI lies entirely
above 1 (the rule of ``rewriter.plan.decide``). The module is traced once; each trial is built
from that graph. On torch-eager a site written as one native op is screened first: its rational
alone runs against that op on the site's shape (once per function, parameters, shape and
dtype), and a rational ``SCREEN`` times slower or more is kept without the measurement in
context (eager runs one kernel per op: what is slower alone is slower in context).

Then the module with every chosen site runs against the original, and the replacement with the
least gain is undone while it is not faster beyond noise (``rewriter.plan.decide.back_off``, the
one back-off loop, over GraphModules). ``torch-eager`` runs the GraphModule as is,
``torch-inductor`` through ``torch.compile(backend="inductor", dynamic=False)``, as the targets
of ``rewriter.cost.targets``.

With an accuracy budget (``min_cosine`` / ``max_rel_error``), each site's deviation with only it
replaced is measured on the calibration inputs before its timing in context (after the eager
screen; ``rewriter.verify.deviation``, worst over outputs and batches); a site that breaks the
budget alone is kept unmeasured. After the speed
back-off, while the whole module breaks the budget, the replaced site with the worst solo
deviation is kept (and the speed back-off runs again on what is left).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewriter.cost.harness import Ratio, compare
from rewriter.cost.model import WholeResult, speed_verdict
from rewriter.cost.targets import parse_target
from rewriter.errors import UsageError
from rewriter.frontends.fx.rewrite import FxSite, _apply, parse_pipeline
from rewriter.plan.decide import back_off
from rewriter.verify import Deviation, deviation

__all__ = ["ModulePlan", "FxSiteDecision", "plan_module", "TORCH_TARGETS"]

TORCH_TARGETS = ("torch-eager", "torch-inductor")
"""The targets a torch module is planned on (it is measured itself, not exported)."""


@dataclass
class FxSiteDecision:
    """What the planner chose for one site of a torch module, and why.

    Attributes:
        site: the site (of the original module).
        decision: "replace", "keep" or "backed-off".
        reason: one line: the measured speed-up and its CI, or why the site is kept.
        gain: measured speed-up of the whole module with only this site replaced
            (t_original / t_with_site; 1.0 when not measured).
        ratio_ci: 95% CI of that speed-up (lo, hi), when measured.
        error: the rational's max-abs error on the global range (NaN when unknown).
        cosine: worst output cosine of the module with only this site replaced against the
            original, on the calibration inputs (NaN when not measured).
        rel_l2: worst output relative L2 error of the same (NaN when not measured).
    """

    site: FxSite
    decision: str = "keep"
    reason: str = ""
    gain: float = 1.0
    ratio_ci: tuple[float, float] | None = None
    error: float = float("nan")
    cosine: float = float("nan")
    rel_l2: float = float("nan")

    @property
    def name(self) -> str:
        return self.site.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.name,
            "function": self.site.function,
            "shape": list(self.site.input_shape) if self.site.input_shape else None,
            "decision": self.decision,
            "reason": self.reason,
            "gain": self.gain,
            "ratio_ci": list(self.ratio_ci) if self.ratio_ci else None,
            "error": self.error,
            "cosine": self.cosine,
            "rel_l2": self.rel_l2,
        }


@dataclass
class ModulePlan:
    """The planned rewrite of a torch module.

    Attributes:
        module: the rewritten GraphModule (PAUs only at the replaced sites; none when every
            site is kept).
        decisions: one ``FxSiteDecision`` per site of the pipeline's functions, in graph order.
        target: "torch-eager" or "torch-inductor".
        whole: the final module against the original (None when nothing was replaced).
        backed_off: the sites whose replacement was undone because the whole was not faster.
        seconds: wall time of the planning.
        deviation: the final module against the original on the calibration inputs (worst over
            outputs and batches; None when nothing was replaced).
    """

    module: nn.Module  # a GraphModule; by parts, the module's class (rewrite_module)
    decisions: list[FxSiteDecision]
    target: str
    pipeline: str = "pau_all"
    whole: WholeResult | None = None
    backed_off: list[str] = field(default_factory=list)
    seconds: float = 0.0
    deviation: Deviation | None = None

    @property
    def replaced(self) -> list[FxSiteDecision]:
        return [d for d in self.decisions if d.decision == "replace"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pipeline": self.pipeline,
            "decisions": [d.to_dict() for d in self.decisions],
            "whole": self.whole.to_dict() if self.whole else None,
            "backed_off": list(self.backed_off),
            "seconds": self.seconds,
            "deviation": self.deviation.to_dict() if self.deviation else None,
        }


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _runner(module: nn.Module, inputs: tuple[Any, ...], target: str) -> Callable[[], Any]:
    module = module.eval()
    fn: Any = module
    if target == "torch-inductor":
        fn = torch.compile(module, backend="inductor", dynamic=False)

    def run() -> Any:
        with torch.inference_mode():
            return fn(*inputs)

    run()  # compile (inductor) and fail early
    return run


def _as_inputs(x: Any) -> tuple[Any, ...]:
    return (x,) if isinstance(x, torch.Tensor) else tuple(x)


def _leaves(out: Any) -> list[torch.Tensor]:
    """The tensors of a module's output (a tensor, or nested tuples/lists/dicts of them)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in out for t in _leaves(out[k])]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _leaves(o)]
    return []


def _outputs(module: nn.Module, batches: list[tuple[Any, ...]]) -> list[np.ndarray]:
    """Every output tensor of every batch, as numpy arrays, in order."""
    module = module.eval()
    with torch.inference_mode():
        return [t.detach().cpu().numpy() for b in batches for t in _leaves(module(*b))]


# each function as one native torch op (what a site written as a module, a function, a method
# or an ATen op runs), for the eager screen; keyword parameters are the site's
_NATIVE: dict[str, Callable[..., torch.Tensor]] = {
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "swish": lambda x, beta=1.0: F.silu(x) if beta == 1.0 else x * torch.sigmoid(beta * x),
    "mish": F.mish,
    "softplus": lambda x, beta=1.0: F.softplus(x, beta),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "elu": lambda x, alpha=1.0: F.elu(x, alpha),
    "selu": F.selu,
    "celu": lambda x, alpha=1.0: F.celu(x, alpha),
    "softsign": F.softsign,
}
SCREEN = 1.25
"""On torch-eager a site whose rational alone takes this many times the native op's time (the
lower end of the 95% CI) is kept without a measurement in context."""


def _ci(r: Ratio) -> tuple[float, float]:
    return (1.0 / r.hi, 1.0 / r.lo) if r.lo > 0 else (1.0 / r.hi, float("inf"))


def plan_module(
    module: nn.Module,
    example_inputs: Sequence[Any] | torch.Tensor,
    target: str = "torch-eager",
    *,
    pipeline: str = "pau_all",
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    max_site_error: float | None = None,
    progress: Callable[[str], None] | None = None,
    time_cap: float = 1.0,
    precision: float = 0.02,
    max_backoff: int = 12,
    calibration: Iterable[Any] | None = None,
    min_cosine: float | None = None,
    max_rel_error: float | None = None,
    dynamic_shapes: Any = None,
) -> ModulePlan:
    """Rewrite ``module``'s sites into PAUs only where that measurably pays on ``target``.

    Every measurement is one interleaved run of ``rewriter.cost.harness.compare`` (medians of
    per-round ratios, 95% CI) on ``example_inputs``, with one thread (``torch.set_num_threads(1)``,
    restored after; ``target`` may say ``torch-eager:threads=4``). Time is bounded: each
    comparison stops at ``time_cap`` seconds (default 1 s, after a warm-up of at most
    ``time_cap`` too) or once the CI is narrower than ``precision``; so a plan takes about
    ``2 * time_cap`` per site plus the same per whole-model step (at most ``max_backoff``
    single back-off steps, then the rest is undone at once), plus compile time on inductor; on
    torch-eager a site whose rational is slower than its native op alone (module docstring)
    costs one short comparison per distinct shape instead.

    Args:
        module: any ``nn.Module`` (not modified).
        example_inputs: the inputs the module is measured on (a tensor or a tuple).
        target: "torch-eager" or "torch-inductor" (``:threads=N`` optional).
        pipeline, degrees, form: as in :func:`rewriter.frontends.fx.rewrite_module`.
        max_site_error: keep a site whose rational's global max-abs error exceeds this.
        progress: called with one line per measurement.
        time_cap, precision: per comparison, passed to the harness.
        max_backoff: single back-off steps before the rest is undone at once.
        calibration: input tuples (or tensors) the accuracy is measured on (default:
            ``[example_inputs]``).
        min_cosine: accuracy budget: the least output cosine against the original (worst over
            outputs and calibration batches, ``rewriter.verify.Deviation``).
        max_rel_error: accuracy budget: the largest output relative L2 error, likewise.
        dynamic_shapes: torch.export's, for a module symbolic_trace cannot take (see
            ``rewrite_module``).

    Returns:
        A ``ModulePlan``: the GraphModule, the decisions, the whole-model result.

    Raises:
        UsageError: for a target other than torch-eager/torch-inductor.
    """
    t0 = time.perf_counter()
    log = progress or (lambda s: None)
    name, options = parse_target(target)
    if name not in TORCH_TARGETS:
        raise UsageError(
            "a torch module is planned on torch-eager or torch-inductor; "
            "export to ONNX for ort-cpu/openvino-cpu"
        )
    threads = int(options.get("threads", 1))
    inputs = _as_inputs(example_inputs)
    batches = [_as_inputs(b) for b in calibration] if calibration is not None else [inputs]
    if not batches:
        raise UsageError("calibration: no inputs")
    budget = min_cosine is not None or max_rel_error is not None
    selected = parse_pipeline(pipeline)
    cache: dict[tuple[Any, ...], Any] = {}

    def rational(site: FxSite) -> Any:
        from rewriter.rational import table_rational

        key = (site.function, tuple(sorted(site.params.items())))
        if key not in cache:
            cache[key] = table_rational(site.function, degrees=degrees, form=form, **site.params)
        return cache[key]

    def build(chosen: set[str]) -> nn.Module:
        """The module with the sites ``chosen`` replaced: from the traced graph (traced once;
        torch.export of a transformer takes seconds), copied each time."""
        from rewriter.rational import PAU

        def select(site: FxSite) -> str | None:
            return None if site.name in chosen else "kept by the plan"

        gm, _ = _apply(original, select, lambda s: PAU(rational(s)), "pau", inputs)
        meta = getattr(gm, "meta", None)
        if isinstance(meta, dict) and traced_by is not None:
            meta["pau_rewriter"] = traced_by  # how the module was traced, not the copy
        return gm

    original, sites = _apply(
        module, lambda s: "dry run", lambda s: nn.Identity(), "pau", inputs, None, dynamic_shapes
    )
    meta = getattr(original, "meta", None)
    traced_by = dict(meta["pau_rewriter"]) if isinstance(meta, dict) else None
    decisions = [FxSiteDecision(s) for s in sites if s.function in selected]
    reference = _outputs(original, batches)

    def accuracy(gm: nn.Module) -> Deviation:
        got = _outputs(gm, batches)
        labels = [f"output_{k}" for k in range(len(got))]
        return deviation(reference, got, labels)

    def breaks(dev: Deviation) -> str | None:
        """Why ``dev`` breaks the budget (None when it holds)."""
        if min_cosine is not None and not dev.cosine >= min_cosine:
            return f"cosine {dev.cosine:.12g} < min_cosine {min_cosine:.12g}"
        if max_rel_error is not None and not dev.rel_l2 <= max_rel_error:
            return f"rel_l2 {dev.rel_l2:.3g} > max_rel_error {max_rel_error:.3g}"
        return None

    screens: dict[tuple[Any, ...], Ratio] = {}

    def screen(site: FxSite) -> Ratio | None:
        """On torch-eager, the site's rational alone against the native op, on the site's own
        shape (once per function, parameters, shape and dtype). Eager runs one kernel per op, so
        what the replacement costs alone it costs in context: a rational that is slower alone
        cannot make the module faster. Formula sites (several ops) are not screened."""
        if name != "torch-eager" or site.kind == "formula" or not site.input_shape:
            return None
        native = _NATIVE.get(site.function)
        if native is None:
            return None
        key = (site.function, tuple(sorted(site.params.items())), site.input_shape, site.dtype)
        if key not in screens:
            from rewriter.rational import PAU

            x = torch.randn(site.input_shape, dtype=getattr(torch, site.dtype or "float32"))
            pau, params = PAU(rational(site)).eval(), dict(site.params)

            def alone(f: Callable[[torch.Tensor], Any]) -> Callable[[], Any]:
                def run() -> Any:
                    with torch.inference_mode():
                        return f(x)

                return run

            # eager kernels need no long warm-up (nothing compiles), and the question is only
            # whether the rational is SCREEN times slower: a short run, a 10% interval
            c = compare(
                {"native": alone(lambda t: native(t, **params)), "rational": alone(pau)},
                "native",
                precision=max(precision, 0.1),
                time_cap=min(time_cap, 0.5),
                warmup_cap=min(time_cap, 0.02),
            )
            screens[key] = c.ratios["rational"]
        return screens[key]

    with _threads(threads):
        base = _runner(original, inputs, name)

        def measure(gm: nn.Module) -> tuple[Ratio, Any]:
            c = compare(
                {"original": base, "rewritten": _runner(gm, inputs, name)},
                "original",
                precision=precision,
                time_cap=time_cap,
                warmup_cap=time_cap,
            )
            return c.ratios["rewritten"], c

        for d in decisions:
            d.site.reason = ""
            d.error = float(getattr(rational(d.site), "global_error", float("nan")))
            if max_site_error is not None and not d.error <= max_site_error:
                d.reason = f"rational error {d.error:.1e} > {max_site_error:.1e}"
                log(f"{d.name}: {d.reason}")
                continue
            alone = screen(d.site)
            if alone is not None and alone.lo > SCREEN:
                lo, hi = _ci(alone)
                shape = "x".join(map(str, d.site.input_shape or ()))
                d.reason = (
                    f"x{alone.speedup:.2f} of {d.site.function} alone at {shape} (CI "
                    f"{lo:.2f}-{hi:.2f}): slower on torch-eager, one kernel per op; not "
                    "measured in context"
                )
                log(f"{d.name}: {d.reason}")
                continue
            solo = build({d.name})
            dev = accuracy(solo)
            d.cosine, d.rel_l2 = dev.cosine, dev.rel_l2
            why = breaks(dev) if budget else None
            if why is not None:
                d.reason = f"alone breaks the accuracy budget: {why}"
                log(f"{d.name}: {d.reason}")
                continue
            r, _ = measure(solo)
            d.gain, d.ratio_ci = r.speedup, _ci(r)
            lo, hi = d.ratio_ci
            said = f"x{d.gain:.2f} in context (CI {lo:.2f}-{hi:.2f})"
            if r.faster:
                d.decision, d.reason = "replace", said
            else:
                slower = speed_verdict(lo, hi) == "slower"
                d.reason = f"{said}: {'slower' if slower else 'not faster'} beyond noise"
            log(f"{d.name}: {d.reason}")

        def build_live() -> nn.Module:
            return build({d.name for d in decisions if d.decision == "replace"})

        def measure_whole(gm: nn.Module) -> WholeResult:
            return WholeResult.of(measure(gm)[1])

        whole: WholeResult | None = None
        backed: list[str] = []
        final_dev: Deviation | None = None
        while any(d.decision == "replace" for d in decisions):
            _, whole, more = back_off(
                decisions, build_live, measure_whole, max_backoff=max_backoff, log=log
            )
            backed += more
            live = [d for d in decisions if d.decision == "replace"]
            if not live:
                break
            final_dev = accuracy(build_live())
            why = breaks(final_dev) if budget else None
            if why is None:
                break
            # keep sites worst solo deviation first until the whole module holds the budget
            live.sort(
                key=lambda d: (d.cosine, -d.rel_l2) if min_cosine is not None else (-d.rel_l2,)
            )
            for d in live:
                d.decision = "keep"
                d.reason += (
                    f"; kept: whole module breaks the accuracy budget ({why}), "
                    "worst solo deviation first"
                )
                log(f"{d.name}: {d.reason}")
                rest = [e for e in decisions if e.decision == "replace"]
                if not rest:
                    final_dev = None
                    break
                final_dev = accuracy(build_live())
                why = breaks(final_dev)
                if why is None:
                    break
            # fewer sites: the speed back-off runs again on what is left
    chosen = {d.name for d in decisions if d.decision == "replace"}
    if not chosen:
        whole = None
    final = build(chosen)
    if chosen and final_dev is None:
        final_dev = accuracy(final)
    return ModulePlan(
        final.eval(),
        decisions,
        name,
        pipeline,
        whole,
        backed,
        time.perf_counter() - t0,
        final_dev if chosen else None,
    )
