"""Emit: the one way a model is built from per-site choices.

    from rewriter.emit import emit
    out = emit(model, {"gelu_0": candidate, "mish_1": KEEP})       # site name -> Candidate
    out = emit(model, plan)                                          # a rewriter.plan.Plan

Steps, on a copy (the input is never modified): the pipeline's graph passes that run before
matching (``canonicalize``), the rule engine replacing each chosen site by its ``Candidate``'s
nodes (``nodes.SiteEmitter``: rational, exact or standard), and the same for the sites found by
their values (``rewriter.passes.identify``: regions no rule spells that compute a catalogue
function, numbered after the rule sites), the learned pass when the pipeline
asks for it, the passes after (``cleanup``), and provenance: the model metadata key
``pau_rewriter`` holds per replaced site its function, rule, candidate, form, degrees, errors.

``rewriter.rewrite_onnx``, the planner, the accuracy evaluator and the micro-models of the cost
model all build through here. Micro-models pass ``pipeline=None`` (every rule, no graph passes,
no metadata: the measured graph is exactly the cut one) and ``by="output"`` (their one site is
numbered differently from the whole model's, its output value is not).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from rewriter.candidates import Candidate
from rewriter.ir import MIN_OPSET, default_opset, load_model
from rewriter.match.engine import Options, Site, Stats
from rewriter.match.rules import Rule, all_rules, load_rule_file
from rewriter.passes import GRAPH_PASSES, identify, parse_pipeline
from rewriter.passes.learned import learned_rewrite
from rewriter.version import __version__

from .nodes import SiteEmitter, exact_nodes, rational_key, standard_nodes

__all__ = [
    "emit",
    "emit_result",
    "chooser",
    "RewriteResult",
    "provenance",
    "SiteEmitter",
    "rational_key",
    "exact_nodes",
    "standard_nodes",
    "MIN_OPSET",
]


Choices = Mapping[str, Candidate] | Callable[[Site], Candidate | None] | Any


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


def chooser(choices: Choices, by: str = "name") -> Callable[[Site], Candidate | None]:
    """``site -> Candidate | None`` for any spelling of choices (see ``emit_result``); None:
    the site is kept."""
    if callable(choices) and not isinstance(choices, Mapping):
        return choices  # type: ignore[no-any-return]
    if hasattr(choices, "assignment"):  # a Plan
        choices = choices.assignment()
    live = {k: c for k, c in choices.items() if c.kind != "keep"}
    if by == "output":
        return lambda s: live.get(s.output)
    return lambda s: live.get(s.name)


def emit_result(
    model: str | os.PathLike[str] | onnx.ModelProto,
    choices: Choices,
    pipeline: str | None = "pau_all",
    *,
    by: str = "name",
    dry_run: bool = False,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    rules: list[Rule] | None = None,
    patterns: list[str] | None = None,
    rtol: float = 1e-4,
    max_iterations: int = 10,
    replacement: Any = None,
    samples: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    wrap_learned: Callable[..., Any] | None = None,
) -> RewriteResult:
    """``emit`` returning the sites too (``replaced`` set, ``rational`` = what each became).

    A ``pau_learned`` region (``learned_<k>``) is a site like the others: replaced when
    ``choices`` choose it (``candidates.LEARNED``: the learned pass fits its rational; a
    rational candidate with its ``rational``: that one), kept when absent or ``keep``. A rule
    site that is kept stays as in the original: the learned pass does not take its nodes.

    Args:
        choices: ``site name -> Candidate`` (``by="output"``: output value -> Candidate), a
            ``Plan``, or ``site -> Candidate | None``; sites absent or ``keep`` are kept.
        pipeline: which functions' sites, and the graph passes around matching; None for every
            rule and no passes (micro-models).
        degrees, form: of the learned pass, when the pipeline has it.
        samples: of the learned pass: the model's inputs (``name -> array``) its regions are
            fitted on, on the range each region's input takes there (default: [-8, 8]); or
            several such feeds, each region fitted on what it sees on all of them.
        wrap_learned: of the learned pass (``learned_rewrite(wrap=)``): what enters the graph
            in a region's place (``switch.switch_model`` wraps it in an If).
        rules, patterns, rtol, max_iterations: of the engine (``rewriter.match``).
        replacement: what a chosen site becomes (the engine's ``Options.replacement``); default
            ``SiteEmitter(choose)``, its candidate's nodes (``switch.switch_model`` passes its
            own).
    """
    choose = chooser(choices, by)
    m = load_model(model)
    for path in patterns or []:
        load_rule_file(os.fspath(path))
    rule_list = list(rules) if rules is not None else all_rules()
    if replacement is None and not dry_run:
        replacement = SiteEmitter(choose, opset=default_opset(m))
    if pipeline is None:
        opts = Options(
            dry_run=dry_run,
            rtol=rtol,
            replacement=None if dry_run else replacement,
            select=lambda s: choose(s) is not None,
            max_iterations=max_iterations,
        )
        return RewriteResult(
            m, identify.rule_and_identified_sites(m, rule_list, opts, default_opset(m)), pipeline=""
        )
    p = parse_pipeline(pipeline)
    for name in p.before:
        GRAPH_PASSES[name](m)
    stats = Stats()
    sites: list[Site] = []
    if p.functions:
        opts = Options(
            dry_run=dry_run,
            rtol=rtol,
            replacement=None if dry_run else replacement,
            select=lambda s: s.function in p.functions and choose(s) is not None,
            max_iterations=max_iterations,
        )
        found = identify.rule_and_identified_sites(m, rule_list, opts, default_opset(m), stats)
        sites = [s for s in found if s.function in p.functions]
    if p.learned:
        # after the rules: regions a rule replaced are named pau/... and skipped; the nodes of
        # the rule sites not replaced (kept, or any in a dry run) are claimed: a kept site stays
        # as in the original, and a dry run counts the regions a real run counts
        claimed = {(s.graph, n) for s in sites if not s.replaced for n in s.nodes}
        sites += learned_rewrite(
            m,
            degrees=(int(degrees[0]), int(degrees[1])),
            form=form,
            dry_run=dry_run,
            claimed=claimed,
            samples=samples or None,
            select=lambda s: choose(s) is not None,
            wrap=wrap_learned,
            given=lambda s: getattr(choose(s), "rational", None),
        )
    if not dry_run:
        for name in p.after:
            GRAPH_PASSES[name](m)
        # stamped also when nothing was replaced: the model was still written by `rewrite`
        # (finetune reads it, and says there is nothing to tune)
        provenance(m, p.name, sites)
    return RewriteResult(m, sites, stats, p.name)


def emit(
    model: str | os.PathLike[str] | onnx.ModelProto,
    choices: Choices,
    pipeline: str | None = "pau_all",
    **options: Any,
) -> onnx.ModelProto:
    """A copy of ``model`` with each chosen site replaced by its ``Candidate`` (see the module
    doc; options as ``emit_result``).

    Example:
        >>> from rewriter.candidates import Candidate
        >>> relu = Candidate("standard", "standard:relu", op="relu")
        >>> out = emit("m.onnx", {"gelu_0": relu})  # doctest: +SKIP
    """
    return emit_result(model, choices, pipeline, **options).model


def provenance(m: onnx.ModelProto, pipeline: str, sites: list[Site]) -> None:
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
