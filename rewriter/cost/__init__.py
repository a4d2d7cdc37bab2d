"""Targets, measured costs and their prediction (DESIGN.md section 6).

Public API::

    from rewriter.cost import (get_target, Target, compare, LatencyDB, cut_site,
                               CostModel, ModelCosts, HarnessOptions, WholeResult)

Modules: ``targets`` (runtimes + hardware fingerprint), ``torch_convert`` (ONNX -> torch for
the torch targets), ``harness`` (interleaved measurement with uncertainty), ``micro`` (sites cut
with their producer), ``db`` (SQLite latency database), ``model`` (the cost model: measure or
reuse; a model's sites, whole-model comparisons), ``bench`` (benchmark helpers of
``rewrite bench|profile``), ``predict`` (latency prediction, ranking, database sharing). What a
site can become is ``rewriter.candidates``; choosing is ``rewriter.plan``.
"""

from .db import LatencyDB, Record, default_db_path
from .harness import Comparison, Ratio, Stats, compare
from .micro import Micro, cut_site, resolve_dims
from .model import CostModel, HarnessOptions, ModelCosts, WholeResult
from .targets import Target, get_target, hardware_fingerprint, installed_targets, parse_target

__all__ = [
    "Target",
    "get_target",
    "parse_target",
    "installed_targets",
    "hardware_fingerprint",
    "compare",
    "Comparison",
    "Stats",
    "Ratio",
    "Micro",
    "cut_site",
    "resolve_dims",
    "LatencyDB",
    "Record",
    "default_db_path",
    "CostModel",
    "ModelCosts",
    "HarnessOptions",
    "WholeResult",
]
