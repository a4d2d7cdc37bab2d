"""Accuracy: what replacing sites does to a model's outputs on calibration data.

Public API::

    from rewriter.accuracy import (Study, Evaluator, site_rationals, fit_observed,
                                   TableLatency, DEGREES_SET)

Modules: ``fits`` (each site's rational fitted on the inputs it sees), ``evaluate`` (an
assignment's model, emitted by ``rewriter.emit``, and its output deviation), ``latency`` (the
latency inputs of a study; ``TableLatency``, a synthetic table), ``study`` (everything known
about one model's sites: candidates, solo deviations, costs). The map (``rewrite map``) and the
budgeted search that use a study are strategies of ``rewriter.plan`` (``sitemap``, ``search``,
``budget``); their HTML and tables are in ``rewriter.report``.
"""

from .evaluate import Evaluator
from .fits import fit_observed, safe_form, site_rationals
from .latency import LatencyModel, TableLatency
from .study import DEGREES_SET, Study

__all__ = [
    "site_rationals",
    "fit_observed",
    "safe_form",
    "Evaluator",
    "LatencyModel",
    "TableLatency",
    "Study",
    "DEGREES_SET",
]
