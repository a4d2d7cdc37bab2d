"""Accuracy: data-aware fits, the per-site sensitivity map, and the budgeted search.

Public API::

    from rewriter.accuracy import (site_rationals, Study, sensitivity_map, SiteMap, write_map,
                                   budgeted_rewrite, BudgetResult, print_budget, Budget,
                                   TableLatency, MeasuredLatency)

Modules: ``fits`` (each site's rational fitted on the inputs it sees), ``evaluate`` (choices,
building an assignment, output deviation), ``latency`` (measured or synthetic per-site costs),
``study`` (everything known about one model's sites), ``search`` (exhaustive/greedy budgeted
search, Pareto set), ``budget`` (``budgeted_rewrite``), ``sitemap`` (the map's numbers),
``report`` (the offline HTML page), ``cli`` (``rewrite map`` and the budget options).
"""

from .budget import BudgetResult, budgeted_rewrite, print_budget
from .evaluate import Choice, Evaluator, build
from .fits import fit_observed, safe_form, site_rationals
from .latency import MeasuredLatency, TableLatency, WholeLatency
from .search import Budget, Point, pareto_front, search, sweep
from .study import DEGREES_SET, Study

__all__ = [
    "site_rationals",
    "fit_observed",
    "safe_form",
    "Choice",
    "Evaluator",
    "build",
    "TableLatency",
    "MeasuredLatency",
    "WholeLatency",
    "Study",
    "DEGREES_SET",
    "Budget",
    "Point",
    "search",
    "sweep",
    "pareto_front",
    "budgeted_rewrite",
    "BudgetResult",
    "print_budget",
]
