"""Predicted plans and pruned search: rank a model's candidates per site without measuring them.

    preds = predict_plan(model, "openvino-cpu", db_path)            # nothing measured
    print_predictions(preds)
    res = pruned_plan(model, "openvino-cpu", db_path, k=2)          # keep + top-2 measured per site

Ranking per site, best source first: rows of the latency database for exactly this context
(hardware, target, runtime version, threads, micro-model signature); else ``SimilarTargets``
trained on the whole database (the target's own log-linear fit when it has measurements for
that function and producer, else the probe-weighted mix of the known targets); else the
reference-kernel ratio of the target's probes (``predictor.probe_ratio``). The target's probe
fingerprint is read from the database, or measured once (a few seconds) and stored.

A predicted decision replaces a site when its best candidate's predicted ratio is below
``1 / min_gain``; measured decisions (``pruned_plan``) use ``rewriter.cost.decide`` on the
measured records of keep + the top-k candidates, so they need the measured CI below 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.cost import (
    CostModel,
    HarnessOptions,
    LatencyDB,
    candidates_for,
    cut_site,
    decide,
    get_target,
)
from rewriter.cost.candidates import KEEP, Candidate
from rewriter.cost.db import Record
from rewriter.cost.micro import Micro, resolve_dims
from rewriter.cost.targets import Target, hardware_key
from rewriter.match.engine import Site

from .dataset import Sample, load_samples
from .fingerprint import load_probes, probe_fingerprint, store_probes, target_key
from .predictor import SimilarTargets, probe_ratio

__all__ = ["SitePrediction", "Ranker", "predict_plan", "pruned_plan", "print_predictions", "rank_candidates"]


@dataclass
class SitePrediction:
    """Predicted ranking of one site's candidates, and what was measured (pruned search)."""

    site: Site
    shape: list[int] | None
    signature: str
    ranking: list[tuple[Candidate, float]]  # (candidate, predicted ratio to keep), best first
    source: str
    decision: str = "keep"  # "replace" | "keep"
    best: Candidate = KEEP
    gain: float = 1.0  # predicted, or measured when measured
    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site.name, "function": self.site.function, "shape": self.shape, "signature": self.signature,
                "ranking": [{"candidate": c.name, "predicted_ratio": r} for c, r in self.ranking], "source": self.source,
                "decision": self.decision, "best": self.best.name, "gain": self.gain, "measured": self.measured, "reason": self.reason}


def _elems(shape: list[int]) -> int:
    return int(np.prod([max(int(d), 1) for d in shape])) if shape else 1


def sample_for(micro: Micro, c: Candidate, tkey: str, target: Target) -> Sample:
    """A ``Sample`` (latency unknown) describing candidate ``c`` at ``micro`` on ``target``."""
    dtype = onnx.TensorProto.DataType.Name(micro.model.graph.output[0].type.tensor_type.elem_type).lower()
    n_in = sum(_elems(v) for v in micro.input_shapes.values()) or _elems(micro.output_shape)
    return Sample(tkey, target.runtime, target.threads, micro.signature, micro.site.function, "+".join(micro.producer_ops) or "input",
                  _elems(micro.output_shape), n_in, dtype, c.name, math.nan, math.nan)


class Ranker:
    """Predicts candidate ratios on one target from a latency database (see module doc)."""

    def __init__(self, target: str | Target, db_path: str, *, probe: bool = True, log: Callable[[str], None] = lambda s: None) -> None:
        self.target = get_target(target)
        self.db_path = db_path
        self.hw = hardware_key()
        t = self.target
        self.tkey = target_key(self.hw, t.spec, t.runtime, t.version, t.threads)
        self.probes = load_probes(db_path)
        if self.tkey not in self.probes and probe:
            log(f"probing {t} (reference kernels, a few seconds)")
            fp = probe_fingerprint(t)
            store_probes(db_path, fp)
            self.probes[self.tkey] = fp
        samples = load_samples(db_path)
        self.model = SimilarTargets().fit(samples, self.probes) if samples else None
        self.known = {s.tkey for s in samples}

    def rank(self, micro: Micro, cands: list[Candidate], db: LatencyDB | None = None) -> tuple[list[tuple[Candidate, float]], str]:
        t = self.target
        have: dict[str, Record] = {}
        if db is not None:
            dtype = onnx.TensorProto.DataType.Name(micro.model.graph.output[0].type.tensor_type.elem_type).lower()
            have = db.get(self.hw, t.spec, t.runtime, t.version, t.threads, micro.signature, dtype)
        samples = [sample_for(micro, c, self.tkey, t) for c in cands]
        if have and all(c.name in have for c in cands):
            pred, source = np.log([have[c.name].ratio for c in cands]), "measured"
        else:
            pred = self.model.log_ratio(samples) if self.model is not None else np.full(len(cands), np.nan)
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
    out = [(c, 1.0 if c.kind == "keep" else float(math.exp(v))) for c, v in zip(cands, pred_log_ratio, strict=False)]
    return sorted(out, key=lambda cr: cr[1])


def _sites(model: onnx.ModelProto, pipeline: str, batch: int, dims: dict[str, int] | None) -> tuple[list[Site], onnx.ModelProto]:
    from rewriter.api import find_sites

    sites = find_sites(model, pipeline)
    return sites, (resolve_dims(model, batch, dims) if sites else model)


def predict_plan(
    model: onnx.ModelProto,
    target: str | Target,
    db_path: str,
    *,
    pipeline: str = "pau_all",
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    allow_standard: bool = False,
    max_site_error: float | None = None,
    min_gain: float = 1.0,
    batch: int = 1,
    dims: dict[str, int] | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> list[SitePrediction]:
    """Predicted decision per site of ``model`` on ``target``; measures nothing but the probes.

    Example:
        >>> for p in predict_plan(onnx.load("m.onnx"), "openvino-cpu", "lat.sqlite"):   # doctest: +SKIP
        ...     print(p.site.name, p.best.name, round(p.gain, 2), p.source)
    """
    ranker = Ranker(target, db_path, log=log)
    sites, resolved = _sites(model, pipeline, batch, dims)
    out = []
    db = LatencyDB(db_path)
    try:
        for s in sites:
            try:
                micro = cut_site(model, s, batch=batch, dims=dims, resolved=resolved)
            except Exception as e:  # a site we cannot cut is kept, with the reason
                out.append(SitePrediction(s, None, "", [(KEEP, 1.0)], "-", reason=f"not measurable: {e}"))
                continue
            cands = candidates_for(s, degrees, form, allow_standard=allow_standard, max_error=max_site_error)
            ranking, source = ranker.rank(micro, cands, db)
            best, ratio = next(((c, r) for c, r in ranking if c.kind != "keep"), (KEEP, 1.0))
            p = SitePrediction(s, micro.output_shape, micro.signature, ranking, source)
            if best.kind != "keep" and ratio < 1.0 / min_gain:
                p.decision, p.best, p.gain, p.reason = "replace", best, 1.0 / ratio, f"predicted x{1 / ratio:.2f}"
            else:
                p.reason = f"best predicted {best.name} x{1 / ratio:.2f}: not faster"
            out.append(p)
    finally:
        db.close()
    return out


def pruned_plan(
    model: onnx.ModelProto,
    target: str | Target,
    db_path: str,
    k: int,
    *,
    pipeline: str = "pau_all",
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    allow_standard: bool = False,
    max_site_error: float | None = None,
    batch: int = 1,
    dims: dict[str, int] | None = None,
    harness: HarnessOptions | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[list[SitePrediction], onnx.ModelProto, dict[str, int]]:
    """Measure keep + the top-``k`` predicted candidates per site (``rewriter.cost.CostModel``),
    decide with ``rewriter.cost.decide``, build the model with the chosen candidates.

    Returns:
        (per-site predictions with ``measured`` filled, the rewritten model, counts
        ``{"measured": candidates measured, "full": candidates a full search would measure}``).
        The whole model is not re-measured here (``plan_rewrite`` does that for full searches).
    """
    from rewriter.cost.candidates import build_candidate

    if k < 1:
        raise ValueError("k must be >= 1")
    tgt = get_target(target)
    ranker = Ranker(tgt, db_path, log=log)
    sites, resolved = _sites(model, pipeline, batch, dims)
    db = LatencyDB(db_path)
    cm = CostModel(tgt, db, harness)
    out: list[SitePrediction] = []
    counts = {"measured": 0, "full": 0}
    try:
        for s in sites:
            try:
                micro = cut_site(model, s, batch=batch, dims=dims, resolved=resolved)
            except Exception as e:
                out.append(SitePrediction(s, None, "", [(KEEP, 1.0)], "-", reason=f"not measurable: {e}"))
                continue
            cands = candidates_for(s, degrees, form, allow_standard=allow_standard, max_error=max_site_error)
            ranking, source = ranker.rank(micro, cands, db)
            top = [c for c, _ in ranking if c.kind != "keep"][:k]
            chosen = [KEEP, *top]
            counts["measured"] += len(chosen)
            counts["full"] += len(cands)
            recs = cm.site_costs(micro, chosen, log)
            best, reason, rec = decide(s, chosen, recs, max_site_error)
            p = SitePrediction(s, micro.output_shape, micro.signature, ranking, source, "replace" if best.kind != "keep" else "keep", best,
                               1.0 / rec.ratio if rec else 1.0, {n: {"ms": r.median * 1e3, "ratio": r.ratio, "lo": r.ratio_lo, "hi": r.ratio_hi} for n, r in recs.items()}, reason)
            out.append(p)
            log(f"{s.name}: {p.decision} {best.name} ({reason})")
    finally:
        db.close()
    built = build_candidate(model, {p.site.output: p.best for p in out if p.decision == "replace"})
    return out, built, counts


def print_predictions(preds: list[SitePrediction], title: str, console: Any = None, measured: bool = False) -> None:
    """A rich table: site, shape, predicted ranking (top 3), decision."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=title)
    cols = ["site", "function", "shape", "predicted top 3 (speed-up vs keep)", "source", "decision", "gain"]
    if measured:
        cols.append("measured / reason")
    for c in cols:
        t.add_column(c, overflow="fold")
    for p in preds:
        top = ", ".join(f"{c.name} x{1 / r:.2f}" for c, r in p.ranking if c.kind != "keep")
        top = ", ".join(top.split(", ")[:3])
        row = [p.site.name, p.site.function, "x".join(map(str, p.shape)) if p.shape else "?", top or "-", p.source,
               f"{p.decision} {p.best.name}" if p.decision == "replace" else "keep", f"x{p.gain:.2f}"]
        if measured:
            row.append(p.reason)
        t.add_row(*row)
    console.print(t)


def to_json(preds: list[SitePrediction], **extra: Any) -> str:
    return json.dumps({**extra, "sites": [p.to_dict() for p in preds]}, indent=1)
