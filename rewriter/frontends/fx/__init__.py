"""torch.fx front-end: find activation sites in PyTorch modules and replace them with PAUs.

    >>> from rewriter.frontends.fx import rewrite_module
    >>> gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,))

Public API (stable): :func:`rewrite_module`, :func:`replace_with_standard`, :func:`find_sites`,
:func:`parse_pipeline`, :class:`FxSite`, :class:`FxTraceError`. Modules starting with ``_``
are the engine (op vocabulary, formula matcher, tracing) and may change.
"""

from rewriter.frontends.fx._trace import FxTraceError
from rewriter.frontends.fx.rewrite import (
    STANDARD_REPLACEMENTS,
    FxSite,
    find_sites,
    parse_pipeline,
    replace_with_standard,
    rewrite_module,
)

__all__ = [
    "FxSite",
    "FxTraceError",
    "STANDARD_REPLACEMENTS",
    "find_sites",
    "parse_pipeline",
    "replace_with_standard",
    "rewrite_module",
]
