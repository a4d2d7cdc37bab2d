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

from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562), as ``rewriter`` does: a device worker that only times models
# (``measure``, ``targets``, ``harness``) does not pay for ``model``'s emit/rational/torch (~4 s).
_LAZY = {
    "LatencyDB": "db",
    "Record": "db",
    "default_db_path": "db",
    "Comparison": "harness",
    "Ratio": "harness",
    "Stats": "harness",
    "compare": "harness",
    "Micro": "micro",
    "cut_site": "micro",
    "resolve_dims": "micro",
    "CostModel": "model",
    "HarnessOptions": "model",
    "ModelCosts": "model",
    "WholeResult": "model",
    "Target": "targets",
    "get_target": "targets",
    "hardware_fingerprint": "targets",
    "installed_targets": "targets",
    "parse_target": "targets",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
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
