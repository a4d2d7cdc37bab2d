"""Reports for people: the sensitivity map as one offline HTML page (``html``) and the terminal
tables of plans (``tables``). JSON for machines is each result's ``to_dict()``.

Public API::

    from rewriter.report import write_map, print_plan, print_budget, print_recover,
    print_predictions
"""

from .html import json_path_for, render_html, render_plan, write_map, write_plan_page
from .tables import print_budget, print_plan, print_predictions, print_recover

__all__ = [
    "write_map",
    "render_html",
    "render_plan",
    "write_plan_page",
    "json_path_for",
    "print_plan",
    "print_budget",
    "print_predictions",
    "print_recover",
]
