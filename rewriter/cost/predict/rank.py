"""Ranking a site's candidates without measuring them (nn-Meter / HELP style).

Per site, best source first: rows of the latency database for exactly this context (hardware,
target, runtime version, threads, micro-model signature); else ``SimilarTargets`` trained on the
whole database (the target's own log-linear fit when it has measurements for that function and
producer, else the probe-weighted mix of the known targets); else the reference-kernel ratio of
the target's probes (``predictor.probe_ratio``). The target's probe fingerprint is read from the
database, or measured once (a few seconds) and stored. ``rewriter.plan.prune`` turns rankings
into pruned and predicted plans.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from rewriter.candidates import Candidate
from rewriter.cost.db import LatencyDB, Record
from rewriter.cost.measure import current_measurer
from rewriter.cost.micro import Micro
from rewriter.cost.targets import Target, get_target

from .dataset import Sample, load_samples
from .fingerprint import load_probes, probe_fingerprint, store_probes, target_key
from .predictor import SimilarTargets, probe_ratio

__all__ = ["Ranker", "rank_candidates", "sample_for"]


def _elems(shape: list[int]) -> int:
    return int(np.prod([max(int(d), 1) for d in shape])) if shape else 1


def sample_for(micro: Micro, c: Candidate, tkey: str, target: Target) -> Sample:
    """A ``Sample`` (latency unknown) describing candidate ``c`` at ``micro`` on ``target``."""
    dtype = onnx.TensorProto.DataType.Name(
        micro.model.graph.output[0].type.tensor_type.elem_type
    ).lower()
    n_in = sum(_elems(v) for v in micro.input_shapes.values()) or _elems(micro.output_shape)
    return Sample(
        tkey,
        target.runtime,
        target.threads,
        micro.signature,
        micro.site.function,
        "+".join(micro.producer_ops) or "input",
        _elems(micro.output_shape),
        n_in,
        dtype,
        c.name,
        math.nan,
        math.nan,
    )


class Ranker:
    """Predicts candidate ratios on one target from a latency database (see module doc)."""

    def __init__(
        self,
        target: str | Target,
        db_path: str,
        *,
        probe: bool = True,
        log: Callable[[str], None] = lambda s: None,
    ) -> None:
        self.target = get_target(target)
        self.db_path = db_path
        m = current_measurer()  # probes and rows are the measuring device's (a cluster's)
        self.device = d = m.device(self.target)
        self.hw = d.hw
        t = self.target
        self.tkey = target_key(self.hw, d.spec, d.runtime, d.version, d.threads)
        self.probes = load_probes(db_path)
        if self.tkey not in self.probes and probe:
            log(f"probing {t} (reference kernels, a few seconds)")
            fp = m.run(t, probe_fingerprint, t.spec)
            store_probes(db_path, fp)
            self.probes[self.tkey] = fp
        samples = load_samples(db_path)
        self.model = SimilarTargets().fit(samples, self.probes) if samples else None
        self.known = {s.tkey for s in samples}

    def rank(
        self, micro: Micro, cands: list[Candidate], db: LatencyDB | None = None
    ) -> tuple[list[tuple[Candidate, float]], str]:
        t = self.target
        have: dict[str, Record] = {}
        if db is not None:
            dtype = onnx.TensorProto.DataType.Name(
                micro.model.graph.output[0].type.tensor_type.elem_type
            ).lower()
            d = self.device
            have = db.get(self.hw, d.spec, d.runtime, d.version, d.threads, micro.signature, dtype)
        samples = [sample_for(micro, c, self.tkey, t) for c in cands]
        if have and all(c.name in have for c in cands):
            pred, source = np.log([have[c.name].ratio for c in cands]), "measured"
        else:
            pred = (
                self.model.log_ratio(samples)
                if self.model is not None
                else np.full(len(cands), np.nan)
            )
            source = "own fit" if self.tkey in self.known else "similar targets"
            gaps = np.isnan(pred)
            if gaps.all():
                source = "probes"
            elif gaps.any():
                source += "+probes"
            fp = self.probes.get(self.tkey)
            pred = np.where(gaps, [probe_ratio(s, fp) for s in samples], pred)
        return rank_candidates(cands, pred), source


def rank_candidates(cands: list[Candidate], pred_log_ratio: Any) -> list[tuple[Candidate, float]]:
    """Candidates sorted by predicted ratio (best first), keep at ratio 1."""
    out = [
        (c, 1.0 if c.kind == "keep" else float(math.exp(v)))
        for c, v in zip(cands, pred_log_ratio, strict=False)
    ]
    return sorted(out, key=lambda cr: cr[1])
