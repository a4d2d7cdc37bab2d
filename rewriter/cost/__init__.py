"""Targets, measured costs and the planner (DESIGN.md section 6).

Public API::

    from rewriter.cost import (get_target, Target, compare, LatencyDB, cut_site,
                               candidates_for, plan_rewrite, print_plan, PlanResult)

Modules: ``targets`` (runtimes + hardware fingerprint), ``torch_convert`` (ONNX -> torch for
the torch targets), ``harness`` (interleaved measurement with uncertainty), ``micro`` (sites cut
with their producer), ``candidates`` (what a site could become), ``db`` (SQLite latency
database), ``model`` (the cost model: measure or reuse), ``plan`` (choose, rewrite, verify the
whole model), ``cli`` (``rewrite bench|profile|db``).
"""

from .candidates import Candidate, build_candidate, candidates_for
from .db import LatencyDB, Record, default_db_path
from .harness import Comparison, Ratio, Stats, compare
from .micro import Micro, cut_site, resolve_dims
from .model import CostModel, HarnessOptions
from .plan import Decision, PlanResult, WholeResult, decide, plan_rewrite, print_plan
from .targets import Target, get_target, hardware_fingerprint, installed_targets, parse_target

__all__ = [
    "Target", "get_target", "parse_target", "installed_targets", "hardware_fingerprint",
    "compare", "Comparison", "Stats", "Ratio",
    "Micro", "cut_site", "resolve_dims",
    "Candidate", "candidates_for", "build_candidate",
    "LatencyDB", "Record", "default_db_path",
    "CostModel", "HarnessOptions",
    "plan_rewrite", "print_plan", "PlanResult", "Decision", "WholeResult", "decide",
]
