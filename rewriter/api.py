"""The Python API: ``find_sites`` and ``rewrite`` on ``onnx.ModelProto`` (or a path) and, through
``rewriter.frontends.fx``, on ``torch.nn.Module``.

Example:
    >>> import rewriter
    >>> out = rewriter.rewrite("model.onnx", pipeline="pau_all", degrees=(5, 4))
    >>> [s.name for s in rewriter.find_sites("model.onnx")]
    ['gelu_0', 'gelu_1']
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import onnx

from rewriter import __version__
from rewriter.errors import ModelError, UsageError
from rewriter.ir import load_model
from rewriter.match.engine import Options, Site, Stats, run
from rewriter.match.rules import Rule, all_rules, load_rule_file

__all__ = ["RewriteResult", "find_sites", "rewrite", "rewrite_onnx"]

MIN_OPSET = 11  # the emitted Clip takes min/max as inputs


@dataclass
class RewriteResult:
    """What one rewrite produced (crosses into reports and the CLI)."""

    model: onnx.ModelProto
    sites: list[Site]
    stats: Stats = field(default_factory=Stats)
    pipeline: str = "pau_all"

    @property
    def replaced(self) -> list[Site]:
        return [s for s in self.sites if s.replaced]


def _rules(rules: list[Rule] | None, patterns: list[str] | None) -> list[Rule]:
    for path in patterns or []:
        load_rule_file(os.fspath(path))
    return list(rules) if rules is not None else all_rules()


def _opset_of(m: onnx.ModelProto) -> int:
    return next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 1)


def _check_opset(m: onnx.ModelProto) -> None:
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < MIN_OPSET:
            raise ModelError(
                f"model uses opset {o.version}; opset >= {MIN_OPSET} is supported "
                "(convert with onnx.version_converter.convert_version first)"
            )


def find_sites(
    model: Any,
    pipeline: str = "pau_all",
    *,
    rules: list[Rule] | None = None,
    patterns: list[str] | None = None,
    rtol: float = 1e-4,
) -> list[Site]:
    """Sites of ``pipeline``'s functions in ``model``, in graph order, without changing it."""
    return rewrite_onnx(
        model, pipeline, dry_run=True, rules=rules, patterns=patterns, rtol=rtol
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
) -> RewriteResult:
    """Rewrite an ONNX model; the input (path or ModelProto) is never modified.

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

    Returns:
        A ``RewriteResult`` with the new model and the sites of the pipeline's functions.
    """
    from rewriter.passes import GRAPH_PASSES, parse_pipeline
    from rewriter.passes.pau import RationalReplacement

    p = parse_pipeline(pipeline)
    m = load_model(model)
    _check_opset(m)
    for name in p.before:
        GRAPH_PASSES[name](m)
    stats = Stats()
    sites: list[Site] = []
    if p.functions:
        replacement = None if dry_run else RationalReplacement(tuple(degrees), form, rationals)  # type: ignore[arg-type]

        def chosen(s: Site) -> bool:
            return s.function in p.functions and (select is None or select(s))

        opts = Options(
            dry_run=dry_run,
            rtol=rtol,
            replacement=replacement,
            select=chosen,
            max_iterations=max_iterations,
        )
        sites = [
            s for s in run(m, _rules(rules, patterns), opts, stats) if s.function in p.functions
        ]
    if p.learned:
        from rewriter.passes.learned import learned_rewrite

        # after the rules: regions a rule already replaced are named pau/... and skipped
        sites += learned_rewrite(
            m, degrees=(int(degrees[0]), int(degrees[1])), form=form, dry_run=dry_run
        )
    if not dry_run:
        for name in p.after:
            GRAPH_PASSES[name](m)
        if any(s.replaced for s in sites):
            _provenance(m, p.name, sites)
    return RewriteResult(m, sites, stats, p.name)


def _provenance(m: onnx.ModelProto, pipeline: str, sites: list[Site]) -> None:
    """Record what was replaced in the model's metadata (Netron shows it)."""
    summary = {
        "version": __version__,
        "pipeline": pipeline,
        "sites": [
            {
                "name": s.name,
                "function": s.function,
                "params": s.params,
                "rule": s.rule,
                **(s.rational or {}),
            }
            for s in sites
            if s.replaced
        ],
    }
    keep = [p for p in m.metadata_props if p.key != "pau_rewriter"]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    entry = m.metadata_props.add()
    entry.key = "pau_rewriter"
    entry.value = json.dumps(summary, sort_keys=True)


def rewrite(model: Any, pipeline: str = "pau_all", **options: Any) -> Any:
    """Rewrite ``model``: an ONNX path/ModelProto (returns ModelProto) or a ``torch.nn.Module``
    (returns ``torch.fx.GraphModule``; pass ``example_inputs=(x,)``).

    Example:
        >>> out = rewrite("model.onnx", "pau_gelu", degrees=(5, 4))
    """
    try:
        import torch

        is_module = isinstance(model, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_module = False
    if is_module:
        from rewriter.frontends.fx import rewrite_module

        gm, _ = rewrite_module(model, pipeline=pipeline, **options)
        return gm
    if not isinstance(model, (str, os.PathLike, onnx.ModelProto)):
        raise UsageError(
            f"rewrite() takes a path, an onnx.ModelProto or a torch.nn.Module, not {type(model).__name__}"
        )
    return rewrite_onnx(model, pipeline, **options).model
