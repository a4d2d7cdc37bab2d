"""The Python API: ``find_sites`` and ``rewrite`` (``rewriter.plan`` plans) on ``onnx.ModelProto`` (or a path)
and, through ``rewriter.frontends.fx``, ``rewrite`` on ``torch.nn.Module``.

Example:
    >>> import rewriter
    >>> out = rewriter.rewrite("model.onnx", pipeline="pau_all", degrees=(5, 4))
    >>> [s.name for s in rewriter.find_sites("model.onnx")]
    ['gelu_0', 'gelu_1']
    >>> fast = rewriter.rewrite("model.onnx", target="ort-cpu:threads=1")  # measured plan
"""

from __future__ import annotations

import os
from typing import Any

import onnx

from rewriter.candidates import Candidate, rational_candidate, table_candidate
from rewriter.emit import RewriteResult, emit_result
from rewriter.errors import UsageError
from rewriter.frontends.common import shapes_for_conversion
from rewriter.match.engine import Site
from rewriter.match.rules import Rule

__all__ = ["RewriteResult", "find_sites", "rewrite", "rewrite_onnx"]


def find_sites(
    model: Any,
    pipeline: str = "pau_all",
    *,
    rules: list[Rule] | None = None,
    patterns: list[str] | None = None,
    rtol: float = 1e-4,
) -> list[Site]:
    """Sites of ``pipeline``'s functions in ``model``, in graph order, without changing it."""
    return emit_result(
        model, {}, pipeline, dry_run=True, rules=rules, patterns=patterns, rtol=rtol
    ).sites


def rewrite_onnx(
    model: str | os.PathLike[str] | onnx.ModelProto,
    pipeline: str = "pau_all",
    *,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    dry_run: bool = False,
    rules: list[Rule] | None = None,
    patterns: list[str] | None = None,
    rtol: float = 1e-4,
    rationals: dict[str, Any] | None = None,
    select: Any = None,
    max_iterations: int = 10,
    samples: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> RewriteResult:
    """Rewrite an ONNX model, every selected site into a rational; the input is never modified.

    Args:
        model: a path or an ``onnx.ModelProto``.
        pipeline: comma list of pipelines and passes (see ``rewriter.passes``).
        degrees: (m, n) degrees of the rationals.
        form: rational form (``auto``, ``pau``, ``pau_b``, or a gated form name).
        dry_run: find and report sites, change nothing.
        rules: the rules to match (default: the library plus registered rules).
        patterns: rule files (.py or .toml) to load first.
        rtol: relative tolerance of pattern constants.
        rationals: per-site Rationals (``site name -> Rational``), e.g. calibrated fits.
        select: ``site -> bool``: which sites to replace (default: all of the pipeline's).
        samples: the model's inputs (``name -> array``) that ``pau_learned`` regions are fitted
            on, each on the range its input takes there (default: [-8, 8]); or several such
            feeds, each region fitted on what it sees on all of them.

    Returns:
        A ``RewriteResult`` with the new model and the sites of the pipeline's functions.
    """
    m, n = int(degrees[0]), int(degrees[1])
    table = table_candidate((m, n), form)
    own = {k: rational_candidate(r) for k, r in (rationals or {}).items()}

    def choose(s: Site) -> Candidate | None:
        if select is not None and not select(s):
            return None
        return own.get(s.name, table)

    return emit_result(
        model,
        choose,
        pipeline,
        dry_run=dry_run,
        degrees=(m, n),
        form=form,
        rules=rules,
        patterns=patterns,
        rtol=rtol,
        max_iterations=max_iterations,
        samples=samples,
    )


def rewrite(model: Any, pipeline: str = "pau_all", **options: Any) -> Any:
    """Rewrite ``model``: an ONNX path/ModelProto (returns ModelProto; a saved ``torch.export``
    program's path is converted to ONNX first), or a ``torch.nn.Module`` (returns
    ``torch.fx.GraphModule``; pass ``example_inputs=(x,)``), or a ``torch.export``
    ``ExportedProgram`` (its module, at the program's example inputs; returns a GraphModule).

    ONNX models with ``target=`` are planned on measured latencies (``rewriter.plan``: per site
    the fastest candidate, backed off until the whole model is faster); torch modules with
    ``target="torch-eager"`` or ``"torch-inductor"`` likewise, measuring the module itself on
    ``example_inputs`` (``rewriter.frontends.fx.plan_module``). Both take an accuracy budget
    (``calibration=``, ``min_cosine=``, ``max_rel_error=``; for a module ``calibration`` is an
    iterable of input tuples, default ``[example_inputs]``). Without ``target``, every site of
    the pipeline becomes a rational.

    ``shapes={"x": (1, 3, 300, 300)}``: input shapes, as ``--input-shapes``: an ONNX model's
    sites are measured at them with ``target``, and a TorchScript archive (which records none)
    is converted at them.

    Example:
        >>> out = rewrite("model.onnx", "pau_gelu", degrees=(5, 4))
        >>> fast = rewrite("model.onnx", target="openvino-cpu")  # doctest: +SKIP
    """
    try:
        import torch

        if isinstance(model, torch.export.ExportedProgram):  # its module, at its example inputs
            args, kwargs = model.example_inputs or ((), {})
            if kwargs and "example_inputs" not in options:
                raise UsageError(
                    "rewrite(program): the program takes keyword inputs "
                    f"({', '.join(sorted(kwargs))}); pass example_inputs=(...) positionally"
                )
            options.setdefault("example_inputs", tuple(args))
            model = model.module()
        is_module = isinstance(model, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_module = False
    if is_module:
        from rewriter.frontends.fx import plan_module, rewrite_module

        target = options.pop("target", None)
        if target is not None:
            if "example_inputs" not in options:
                raise UsageError("rewrite(module, target=...) needs example_inputs=(x,)")
            inputs = options.pop("example_inputs")
            budget = {
                k: options.pop(k)
                for k in ("calibration", "min_cosine", "max_rel_error")
                if k in options
            }
            return plan_module(model, inputs, target, pipeline=pipeline, **budget, **options).module
        gm, _ = rewrite_module(model, pipeline=pipeline, **options)
        return gm
    if not isinstance(model, (str, os.PathLike, onnx.ModelProto)):
        raise UsageError(
            f"rewrite() takes a path, an onnx.ModelProto or a torch.nn.Module, not {type(model).__name__}"
        )
    if options.get("target") is not None:
        from rewriter.plan import plan  # the planner imports this module's callers' stages

        return plan(model, options.pop("target"), pipeline=pipeline, **options).model
    options.pop("target", None)
    with shapes_for_conversion(options.pop("shapes", None)):  # a TorchScript archive's example
        return rewrite_onnx(model, pipeline, **options).model
