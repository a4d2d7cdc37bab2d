"""Latency prediction (nn-Meter / HELP style): fingerprints, predictors, ranking, sharing.

Public API::

    from rewriter.cost.predict import (probe_fingerprint, static_fingerprint, load_samples,
                                       LogLinear, SimilarTargets, ProbeGBR, Ranker,
                                       export_db, import_db)

Modules: ``fingerprint`` (static facts + measured probes on a runtime, stored in a ``probes``
table beside the latency database), ``dataset`` (database rows as ``Sample``s), ``predictor``
(log-linear per target and candidate, probe-similarity transfer to new targets, gradient
boosting on probe features), ``rank`` (a site's candidates ranked by predicted ratio, what
``rewriter.plan.prune`` prunes and predicts plans with), ``evaluate`` (within-10%, Spearman per
site, pruning payoff, cross-validation over shapes and targets), ``share`` (export / merge
databases with provenance). Measurements go through ``rewriter.cost`` unchanged.
"""

from .dataset import Sample, load_samples
from .fingerprint import probe_fingerprint, probe_vector, static_fingerprint
from .predictor import LogLinear, ProbeGBR, SimilarTargets
from .rank import Ranker, rank_candidates
from .share import ImportStats, export_db, import_db

__all__ = [
    "probe_fingerprint",
    "static_fingerprint",
    "probe_vector",
    "Sample",
    "load_samples",
    "LogLinear",
    "SimilarTargets",
    "ProbeGBR",
    "Ranker",
    "rank_candidates",
    "export_db",
    "import_db",
    "ImportStats",
]
