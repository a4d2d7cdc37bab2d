"""The sensitivity map: per site, what it sees, how well it is approximated, what replacing it
alone does to the model's outputs, and what it gains on the target.

``sensitivity_map(model, pipeline, calibration, target=...)`` returns a ``SiteMap``;
``SiteMap.to_dict()`` is ``map.json``::

    {"model", "pipeline", "target", "device", "calibration", "degrees", "base_accuracy", "base_ms",
     "sites": [{"name", "function", "observed_range": [lo, hi], "percentiles", "samples",
                "rational", "approx_error": {"max_abs", "rms"},
                "output_deviation": {"cosine", "rel_l2", "max_abs", "accuracy", "accuracy_drop"},
                "gain", "keep_ms", "rational_ms",
                "candidates": [{"choice", "approx_error", "output_deviation", "gain"}, ...]}, ...],
     "pareto": [{"assignment", "predicted_ms", "predicted_speedup", "cosine", "rel_l2",
                 "max_abs", "accuracy"}, ...], "sweep": [...same...]}

Per site, the top-level numbers are those of its data-aware rational at ``degrees``:
``approx_error`` on the site's observed inputs (the calibration samples), ``output_deviation``
of the whole model when *only this site* is replaced (every output, calibration batches
concatenated: min cosine, max relative L2, max abs; accuracy in percent with labels), ``gain``
the micro-model speed-up on the target (keep ms / rational ms; null without a target).
``candidates`` lists the same numbers for every candidate (each degrees, the exact rewrite,
standard activations).
The Pareto front is over plans measured along a sweep (``rewriter.plan.search.sweep``): predicted whole-model
latency vs measured accuracy (with labels) or cosine.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rewriter.accuracy.evaluate import finite
from rewriter.accuracy.study import DEGREES_SET, Study
from rewriter.calibrate import as_calibration
from rewriter.cost.model import ModelCosts, open_db
from rewriter.ir import load_model
from rewriter.verify import Deviation

from .planner import progress_log
from .search import Point, pareto_front, sweep

__all__ = ["SiteMap", "sensitivity_map"]


def _dev(d: Deviation, base_acc: float | None) -> dict[str, Any]:
    return {
        "cosine": float(d.cosine),
        "rel_l2": float(d.rel_l2),
        "max_abs": float(d.max_abs),
        "accuracy": finite(d.accuracy),
        "accuracy_drop": finite(base_acc - d.accuracy)
        if d.accuracy is not None and base_acc is not None
        else None,
    }


@dataclass
class SiteMap:
    """The map's numbers (``to_dict`` is ``map.json``) and the ``Study`` behind them (for plots)."""

    study: Study
    degrees: tuple[int, int]
    target: str | None
    sites: list[dict[str, Any]]
    sweep: list[Point] = field(default_factory=list)
    pareto: list[Point] = field(default_factory=list)
    model_name: str = "model"
    device: str | None = None  # the target as measured: runtime, version, threads

    def to_dict(self) -> dict[str, Any]:
        lat = self.study.latency
        return {
            "model": self.model_name,
            "pipeline": self.study.pipeline,
            "target": self.target,
            "device": self.device,
            "calibration": self.study.cal.source,
            "calibration_generated": bool(self.study.cal.generated),
            "degrees": list(self.degrees),
            "base_accuracy": finite(self.study.base_accuracy),
            "base_ms": finite(lat.base_ms()) if lat is not None else None,
            "sites": self.sites,
            "pareto": [p.to_dict() for p in self.pareto],
            "sweep": [p.to_dict() for p in self.sweep],
        }


def sensitivity_map(
    model: Any,
    pipeline: str = "pau_all",
    calibration: Any = None,
    *,
    target: Any = None,
    labels: Any = None,
    degrees: tuple[int, int] = (5, 4),
    degrees_set: tuple[tuple[int, int], ...] | None = None,
    form: str = "auto",
    allow_standard: bool = False,
    db: Any = None,
    latency: Any = None,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    progress: bool | Callable[[str], None] = True,
) -> SiteMap:
    """Measure the map (see the module doc).

    Args:
        model: path or ModelProto (not modified).
        pipeline: which functions' sites.
        calibration: .npz / folder / feed dicts / None (generated inputs); its first batch is
            also what sites are measured on.
        shapes, ranges: ``--input-shapes`` / ``--val-range`` when inputs are generated.
        target: e.g. ``"ort-cpu:threads=1"`` for gains; None skips gains (and the Pareto front).
        labels: array or name of an array in the calibration .npz (accuracy = argmax match).
        degrees: the rational the per-site numbers describe.
        degrees_set: rational candidates (default ``DEGREES_SET`` plus ``degrees``).
        allow_standard: also map standard activations (ReLU, HardSwish, ...).
        db: the latency database (path or ``LatencyDB``): measurements with a target, and
            the data-aware fits, kept across runs, with or without one; None without a
            target: fits in memory only.
        latency: a ``LatencyModel`` replacing the target (tests).

    Example:
        >>> mp = sensitivity_map("m.onnx", calibration="d.npz", target="ort-cpu:threads=1")  # doctest: +SKIP
        >>> write_map(mp, "map.html")                                                        # doctest: +SKIP
    """
    log = progress_log(progress, "map")
    m = load_model(model)
    degrees = (int(degrees[0]), int(degrees[1]))
    ds = tuple(
        dict.fromkeys((degrees,) + tuple(degrees_set if degrees_set is not None else DEGREES_SET))
    )
    own = None
    cal = as_calibration(calibration, m, shapes=shapes, ranges=ranges)
    store = own_store = None
    if latency is None and target is not None:  # sites measured at their shapes on the data
        latency = own = ModelCosts(m, target, db, feeds=cal.batches[0], log=log)
    elif db is not None:  # no measuring: the database keeps the fits
        try:
            store, owned = open_db(db)
        except (OSError, sqlite3.Error) as e:  # a cache: the map does not need it
            log(f"fit cache not used ({e})")
            store, owned = None, False
        own_store = store if owned else None
    try:
        st = Study(
            m,
            pipeline,
            cal,
            labels=labels,
            degrees_set=ds,
            form=form,
            allow_standard=allow_standard,
            latency=latency,
            log=log,
            store=store,
        )
    finally:
        if own_store is not None:
            own_store.close()
    base_acc = st.base_accuracy
    rows = []
    if alone := [s.name for s in st.sites if not s.mapped]:
        why = "pau_learned regions with no fit on their inputs"
        log(f"not mapped, no candidate but keep: {', '.join(alone)} ({why})")
    for s in st.sites:
        if not s.mapped:
            continue
        main = s.main(degrees)
        o = s.observation
        cands = []
        for c in s.candidates[1:]:
            cands.append(
                {
                    "choice": c.name,
                    "approx_error": {k: finite(v) for k, v in s.approx_error[c.name].items()},
                    "output_deviation": _dev(s.solo[c.name], base_acc),
                    "gain": finite(s.gain(c.name)),
                    "ms": finite(s.costs.get(c.name)),
                }
            )
        rows.append(
            {
                "name": s.name,
                "function": s.function,
                "params": {k: v for k, v in s.params.items()},
                **({"scale": s.site.scale} if s.site.scale != 1.0 else {}),
                "shape": s.site.input_shape,
                "observed_range": [finite(o.min), finite(o.max)],
                "percentiles": {k: finite(v) for k, v in o.percentiles.items()},
                "samples": int(o.count),
                "note": o.note,
                "rational": main.rational.describe(),
                "approx_error": {k: finite(v) for k, v in s.approx_error[main.name].items()},
                "output_deviation": _dev(s.solo[main.name], base_acc),
                "gain": finite(s.gain(main.name)),
                "keep_ms": finite(s.costs.get("keep")),
                "rational_ms": finite(s.costs.get(main.name)),
                "candidates": cands,
            }
        )
    pts = sweep(st, None) if latency is not None else []
    name = (
        os.path.basename(model)
        if isinstance(model, (str, os.PathLike))
        else (m.graph.name or "model")
    )
    mp = SiteMap(
        st,
        degrees,
        getattr(
            getattr(latency, "target", None), "spec", "synthetic" if latency is not None else None
        ),
        rows,
        pts,
        pareto_front(pts),
        str(name),
        str(latency.target) if getattr(latency, "target", None) is not None else None,
    )
    if own is not None:
        own.close()
    return mp
