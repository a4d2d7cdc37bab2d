"""Plan: which candidate each site becomes, chosen on measured (or predicted) costs and, with
calibration data, measured accuracy; one ``Plan`` type, one ``decide``, one ``back_off`` loop.

Public API::

    from rewriter.plan import plan, Plan, SiteDecision, decide, back_off

Modules: ``types`` (``Plan``, ``SiteDecision``, ``BudgetSummary``), ``decide`` (per-site decision
from records; the whole-model back-off loop), ``planner`` (the per-site strategy: measure, decide,
emit, back off), ``budget`` (the accuracy-budget strategy over a ``rewriter.accuracy.Study``),
``search`` (its exhaustive/greedy search and Pareto set), ``prune`` (pruned and predicted plans:
a candidate filter and a predicted cost source for the planner).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from rewriter.frontends.common import with_requested_shapes

from .budget import plan_budget
from .decide import back_off, decide
from .planner import plan_sites
from .prune import predict_plan, pruned_plan
from .recover import plan_recover
from .search import Budget, Point
from .types import BudgetSummary, Plan, SiteDecision

__all__ = [
    "plan",
    "Plan",
    "SiteDecision",
    "BudgetSummary",
    "Budget",
    "Point",
    "decide",
    "back_off",
    "plan_sites",
    "plan_budget",
    "plan_recover",
    "pruned_plan",
    "predict_plan",
]


@with_requested_shapes  # shapes=: a TorchScript archive's example too
def plan(
    model: Any,
    target: Any = "ort-cpu:threads=1",
    *,
    pipeline: str = "pau_all",
    calibration: Any = None,
    labels: Any = None,
    max_drop: float | None = None,
    min_cosine: float | None = None,
    max_rel_error: float | None = None,
    allow_standard: bool = False,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    max_site_error: float | None = None,
    db: Any = None,
    measure_whole: bool = True,
    progress: bool | Callable[[str], None] = False,
    recover: bool = False,
    **options: Any,
) -> Plan:
    """Plan the rewrite of an ONNX model on ``target``: per site the fastest candidate, and the
    whole model measured against the original (replacements backed off until it is faster).

    With an accuracy budget (``max_drop`` with labels, ``min_cosine``, ``max_rel_error``) the
    plan is the fastest whose outputs on ``calibration`` stay within it (``plan_budget``);
    the budget is verified on a held-out part of ``calibration``. With ``recover=True`` the
    planner may go beyond the budget where retraining the network brings it back inside
    (``plan_recover``: options ``train``, ``augment``, ``schedule``, ``epochs``, ``max_runs``,
    ``seed``).
    Otherwise each site takes its fastest candidate within ``max_site_error`` (default: as
    accurate as the requested (5,4) rational) (``plan_sites``).

    Args:
        model: path or ``onnx.ModelProto`` (not modified); or a ``torch.nn.Module`` with
            ``example_inputs=(x,)`` and a torch target (``torch-eager``, ``torch-inductor``):
            planned by ``rewriter.frontends.fx.plan_module``, which returns a ``ModulePlan``
            (``.module``, ``.decisions``, ``.whole``).
        target: ``"ort-cpu:threads=1"``, ``"openvino-cpu"``, ``"torch-inductor"``, a ``Target``.
        calibration: .npz / folder of .npy / feed dicts, for the budget; without one, its
            first batch is what sites are measured on (default: generated inputs).
        db: latency database (path, ``LatencyDB``, ``":memory:"``; default the user cache).
        options: passed on (``feeds``, ``shapes``, ``ranges``, ``candidate_filter``, ``degrees_set`` ...).

    Returns:
        A ``Plan``: ``.model`` (rewritten), ``.decisions`` (one ``SiteDecision`` per site:
        ``.candidate``, ``.gain``, ``.accuracy``, ``.reason``), ``.whole``, ``.to_dict()``.

    Example:
        >>> import onnx, rewriter
        >>> p = rewriter.plan(onnx.load("resnet_mish.onnx"), target="ort-cpu:threads=1")  # doctest: +SKIP
        >>> [(d.site.name, d.candidate.name, round(d.gain, 2)) for d in p.decisions]       # doctest: +SKIP
        [('mish_0', 'exact:mish_exp', 2.41), ...]
        >>> p.whole.speedup, len(p.replaced)                                               # doctest: +SKIP
        (1.93, 10)
        >>> onnx.save(p.model, "resnet_mish.fast.onnx")                                    # doctest: +SKIP

    Gotchas: measurements take seconds per distinct site shape (cached in ``db`` for the next
    run); a budget needs representative ``calibration`` data, generated inputs only guess ranges.
    """
    onnx_only = {
        "max_drop": max_drop,
        "labels": labels,
        "allow_standard": allow_standard or None,
        "max_site_error": max_site_error,
        "db": db,
        "recover": recover or None,
    }
    module_plan = _plan_module(
        model, target, pipeline, calibration, min_cosine, max_rel_error, degrees, form, options,
        [k for k, v in onnx_only.items() if v is not None],
    )  # fmt: skip
    if module_plan is not None:
        return module_plan
    budgeted = {
        "max_drop": max_drop,
        "min_cosine": min_cosine,
        "max_rel_error": max_rel_error,
        "allow_standard": allow_standard,
        "form": form,
        "labels": labels,
        "db": db,
        "progress": progress,
    }
    if recover:  # replace beyond the budget, retrain, verify on held-out data
        return plan_recover(model, pipeline, target, calibration, **budgeted, **options)
    if max_drop is not None or min_cosine is not None or max_rel_error is not None:
        return plan_budget(
            model,
            pipeline,
            target,
            calibration,
            measure_whole=measure_whole,
            **budgeted,
            **options,
        )
    if calibration is not None and "feeds" not in options:  # the data are the inputs
        from rewriter.calibrate import as_calibration
        from rewriter.ir import load_model

        model = load_model(model)
        options["feeds"] = as_calibration(calibration, model).batches[0]
    return plan_sites(
        model,
        target,
        pipeline=pipeline,
        degrees=degrees,
        form=form,
        db=db,
        max_site_error=max_site_error,
        allow_standard=allow_standard,
        measure_whole=measure_whole,
        progress=progress,
        **options,
    )


class _CallablePackage(ModuleType):
    """``rewriter.plan(model, ...)`` calls ``rewriter.plan.plan``: the package and the public
    function share a name, and whichever one ``rewriter.plan`` resolves to, it plans."""

    def __call__(self, *args: Any, **kwargs: Any) -> Plan:
        return plan(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage


def _plan_module(
    model: Any,
    target: Any,
    pipeline: str,
    calibration: Any,
    min_cosine: float | None,
    max_rel_error: float | None,
    degrees: tuple[int, int],
    form: str,
    options: dict[str, Any],
    onnx_only: list[str],
) -> Any:
    """``plan`` of a torch module (``rewriter.frontends.fx.plan_module``); None for ONNX.
    ``onnx_only``: the options given that only the ONNX planner takes (refused, not ignored)."""
    import torch

    if not isinstance(model, torch.nn.Module):
        return None
    from rewriter.errors import UsageError
    from rewriter.frontends.fx import plan_module

    if "example_inputs" not in options:
        raise UsageError("plan(module, ...) needs example_inputs=(x,): what the module runs on")
    if onnx_only:
        raise UsageError(
            f"plan(module, ...): {', '.join(onnx_only)} apply to ONNX models; a torch module "
            "takes calibration, min_cosine and max_rel_error (or export it to ONNX)"
        )
    name = target if isinstance(target, str) else getattr(target, "name", str(target))
    if not name.startswith("torch-"):
        raise UsageError(
            f"plan(module, target={name!r}): a torch module is planned on torch-eager or "
            "torch-inductor; export it to ONNX for ONNX Runtime or OpenVINO targets"
        )
    return plan_module(
        model,
        options.pop("example_inputs"),
        name,
        pipeline=pipeline,
        degrees=degrees,
        form=form,
        calibration=calibration,
        min_cosine=min_cosine,
        max_rel_error=max_rel_error,
        **options,
    )
