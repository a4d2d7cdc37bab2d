"""Latency prediction for the planner (nn-Meter / HELP style): fingerprints, predictors, pruning, sharing.

Public API::

    from rewriter.predict import (probe_fingerprint, static_fingerprint, load_samples,
                                  LogLinear, SimilarTargets, ProbeGBR,
                                  predict_plan, pruned_plan, export_db, import_db)

Modules: ``fingerprint`` (static facts + measured probes on a runtime, stored in a ``probes``
table beside the latency database), ``dataset`` (database rows as ``Sample``s), ``predictor``
(log-linear per target and candidate, probe-similarity transfer to new targets, gradient
boosting on probe features), ``evaluate`` (within-10%, Spearman per site, pruning payoff,
cross-validation over shapes and targets), ``prune`` (predicted and pruned plans of a model),
``share`` (export / merge databases with provenance), ``cli`` (``rewrite plan``,
``rewrite db export|import``). Measurements go through ``rewriter.cost`` unchanged.
"""

from .dataset import Sample, load_samples
from .fingerprint import probe_fingerprint, probe_vector, static_fingerprint
from .predictor import LogLinear, ProbeGBR, SimilarTargets
from .prune import SitePrediction, predict_plan, pruned_plan
from .share import ImportStats, export_db, import_db

__all__ = [
    "probe_fingerprint", "static_fingerprint", "probe_vector",
    "Sample", "load_samples",
    "LogLinear", "SimilarTargets", "ProbeGBR",
    "SitePrediction", "predict_plan", "pruned_plan",
    "export_db", "import_db", "ImportStats",
]
