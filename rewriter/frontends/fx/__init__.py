"""torch.fx front end: find activation sites in PyTorch modules and replace them with PAUs.

    >>> from rewriter.frontends.fx import rewrite_module
    >>> gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,))

Sites are found by the same rules and matcher as ONNX models (``rewriter.patterns`` plus every
rule registered with ``@rule``/``register_rule``, rule files or plugins): the traced graph is
lowered to an ONNX view for the matcher (:mod:`._adapter`, table in :mod:`._lower`).

Public API (stable): :func:`rewrite_module`, :func:`replace_with_standard`, :func:`find_sites`,
:func:`parse_pipeline`, :class:`FxSite`, :class:`FxTraceError`, :class:`FxFallbackWarning`.
Modules starting with ``_`` are the engine (lowering, adapter, tracing) and may change.
"""

from rewriter.frontends.fx._trace import FxFallbackWarning, FxTraceError
from rewriter.frontends.fx.plan import FxSiteDecision, ModulePlan, plan_module
from rewriter.frontends.fx.rewrite import (
    STANDARD_REPLACEMENTS,
    FxSite,
    find_sites,
    parse_pipeline,
    replace_with_standard,
    rewrite_module,
)

__all__ = [
    "FxFallbackWarning",
    "FxSite",
    "FxSiteDecision",
    "FxTraceError",
    "ModulePlan",
    "STANDARD_REPLACEMENTS",
    "find_sites",
    "parse_pipeline",
    "plan_module",
    "replace_with_standard",
    "rewrite_module",
]
