"""Latency predictors trained from the latency database (nn-Meter / HELP style, kept small).

Three predictors, one interface (``fit(samples, probes)``, ``log_latency(samples)``,
``log_ratio(samples)``; NaN where a predictor cannot say):

* ``LogLinear``: per (target, function, producer, candidate), least squares of ``log t`` and of
  ``log ratio`` on ``log n`` (n = output elements). With one size only, the slope is the pooled
  slope of that target and candidate (or 1 for latency, 0 for ratio). Predicts only targets it
  was trained on: the model for held-out *shapes*.
* ``SimilarTargets``: for a target without measurements, a weighted mean of the ``LogLinear``
  predictions of the known targets, weighted by the similarity of their probe vectors
  (``fingerprint.probe_vector``; Gaussian kernel, width the median pairwise distance). ``adapt``
  re-weights with a few measurements on the new target (HELP's few-shot idea, without meta
  learning): each known target is weighted by how well it predicts those measurements.
* ``ProbeGBR``: scikit-learn gradient boosting on sample features plus the target's probe
  vector and a "probe ratio" (log of the candidate's reference kernel over the original's, e.g.
  ``rational_5_4`` over ``mish_chain``), so it can say something about unseen runtimes.

Which one is better is a measured question: ``tools/eval_predictor.py`` reports it.

Example:
    >>> m = LogLinear().fit(samples)                      # doctest: +SKIP
    >>> np.exp(m.log_ratio(new_samples))                  # predicted t_candidate / t_keep  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from .dataset import Sample
from .fingerprint import PROBES, probe_vector

__all__ = ["LogLinear", "SimilarTargets", "ProbeGBR", "fit_loglinear", "probe_ratio", "Predictor"]

Probes = dict[str, dict[str, Any]]


def fit_loglinear(x: np.ndarray, y: np.ndarray, slope: float | None = None) -> tuple[float, float]:
    """``(a, b)`` of ``y = a + b x`` by least squares; with one distinct x, b = ``slope`` (or 0)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(np.unique(x)) < 2:
        b = 0.0 if slope is None else slope
        return float(np.mean(y - b * x)), b
    A = np.stack([np.ones_like(x), x], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(a), float(b)


class Predictor:
    """Interface: fit on samples (and the targets' probe fingerprints), predict logs."""

    def fit(self, samples: list[Sample], probes: Probes | None = None) -> Predictor:
        raise NotImplementedError

    def log_latency(self, samples: list[Sample]) -> np.ndarray:
        return np.full(len(samples), np.nan)

    def log_ratio(self, samples: list[Sample]) -> np.ndarray:
        raise NotImplementedError


def _gkey(s: Sample) -> tuple[str, str, str, str]:
    return (s.tkey, s.function, s.producer, s.candidate)


class LogLinear(Predictor):
    """Per (target, function, producer, candidate): ``log y = a + b log n`` (see module doc)."""

    def __init__(self) -> None:
        self.lat: dict[tuple[str, ...], tuple[float, float]] = {}
        self.rat: dict[tuple[str, ...], tuple[float, float]] = {}
        self.targets: set[str] = set()

    def fit(self, samples: list[Sample], probes: Probes | None = None) -> LogLinear:
        groups: dict[tuple[str, ...], list[Sample]] = defaultdict(list)
        for s in samples:
            groups[_gkey(s)].append(s)
        self.targets = {s.tkey for s in samples}
        pooled: dict[tuple[str, str], list[float]] = defaultdict(
            list
        )  # (tkey, candidate) -> slopes
        pooled_r: dict[tuple[str, str], list[float]] = defaultdict(list)
        for k, ss in groups.items():
            x = np.array([s.log_n for s in ss])
            if len(np.unique(x)) >= 2:
                pooled[(k[0], k[3])].append(fit_loglinear(x, np.log([s.latency for s in ss]))[1])
                pooled_r[(k[0], k[3])].append(fit_loglinear(x, np.log([s.ratio for s in ss]))[1])
        for k, ss in groups.items():
            x = np.array([s.log_n for s in ss])
            sl = float(np.median(pooled[(k[0], k[3])])) if pooled.get((k[0], k[3])) else 1.0
            sr = float(np.median(pooled_r[(k[0], k[3])])) if pooled_r.get((k[0], k[3])) else 0.0
            self.lat[k] = fit_loglinear(x, np.log([s.latency for s in ss]), sl)
            self.rat[k] = fit_loglinear(x, np.log([max(s.ratio, 1e-9) for s in ss]), sr)
        return self

    def _apply(
        self,
        table: dict[tuple[str, ...], tuple[float, float]],
        samples: list[Sample],
        tkey: str | None = None,
    ) -> np.ndarray:
        out = np.full(len(samples), np.nan)
        for i, s in enumerate(samples):
            k = (tkey or s.tkey, s.function, s.producer, s.candidate)
            if s.candidate == "keep" and table is self.rat:
                out[i] = 0.0
            elif k in table:
                a, b = table[k]
                out[i] = a + b * s.log_n
        return out

    def log_latency(self, samples: list[Sample], tkey: str | None = None) -> np.ndarray:
        return self._apply(self.lat, samples, tkey)

    def log_ratio(self, samples: list[Sample], tkey: str | None = None) -> np.ndarray:
        return self._apply(self.rat, samples, tkey)


class SimilarTargets(Predictor):
    """Known targets' log-linear predictions, weighted by probe similarity (see module doc)."""

    def __init__(self, bandwidth: float | None = None, few_shot_scale: float = 0.05) -> None:
        self.ll = LogLinear()
        self.vec: dict[str, np.ndarray] = {}
        self.bandwidth = bandwidth
        self.few_shot_scale = few_shot_scale
        self.adapted: dict[str, np.ndarray] = {}

    def fit(self, samples: list[Sample], probes: Probes | None = None) -> SimilarTargets:
        self.ll.fit(samples)
        self.probes = probes or {}
        self.vec = {k: probe_vector(v) for k, v in self.probes.items()}
        known = [k for k in self.ll.targets if k in self.vec]
        if self.bandwidth is None:
            d = [
                float(np.linalg.norm(self.vec[a] - self.vec[b]))
                for i, a in enumerate(known)
                for b in known[i + 1 :]
            ]
            self.bandwidth = float(np.median(d)) if d else 1.0
        return self

    def weights(self, tkey: str) -> dict[str, float]:
        """Weight of each known target for predicting ``tkey`` (sums to 1)."""
        known = sorted(self.ll.targets)
        if tkey in self.adapted:
            w = self.adapted[tkey]
        elif tkey in self.vec:
            d = np.array(
                [
                    np.linalg.norm(self.vec[tkey] - self.vec[k]) if k in self.vec else np.inf
                    for k in known
                ]
            )
            w = np.exp(-0.5 * (d / max(self.bandwidth or 1.0, 1e-6)) ** 2)
        else:
            w = np.ones(len(known))
        w = w / w.sum() if w.sum() > 0 else np.ones(len(known)) / max(len(known), 1)
        return dict(zip(known, w.tolist(), strict=False))

    def adapt(self, tkey: str, measured: list[Sample]) -> None:
        """Re-weight known targets by how well each predicts ``measured`` (samples on ``tkey``)."""
        known = sorted(self.ll.targets)
        prior = np.array([self.weights(tkey)[k] for k in known])
        truth = np.log([max(s.ratio, 1e-9) for s in measured])
        err = []
        for k in known:
            p = self.ll.log_ratio(measured, tkey=k)
            ok = ~np.isnan(p)
            err.append(float(np.mean((p[ok] - truth[ok]) ** 2)) if ok.any() else np.inf)
        e = np.array(err)
        w = (
            prior * np.exp(-(e - e.min()) / (2 * self.few_shot_scale))
            if np.isfinite(e).any()
            else prior
        )
        self.adapted[tkey] = w

    def _mix(self, samples: list[Sample], fn: Any) -> np.ndarray:
        out = np.full(len(samples), np.nan)
        by_t: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(samples):
            by_t[s.tkey].append(i)
        for t, idx in by_t.items():
            sub = [samples[i] for i in idx]
            own = (
                fn(sub, None)
                if t in self.ll.targets and t not in self.adapted
                else np.full(len(sub), np.nan)
            )
            if not np.isnan(own).any():
                out[idx] = own
                continue
            acc, wsum = np.zeros(len(sub)), np.zeros(len(sub))
            for k, w in self.weights(t).items():
                if k == t:
                    continue
                p = fn(sub, k)
                ok = ~np.isnan(p)
                acc[ok] += w * p[ok]
                wsum[ok] += w
            with np.errstate(invalid="ignore", divide="ignore"):
                mixed = np.where(wsum > 0, acc / np.where(wsum > 0, wsum, 1), np.nan)
            out[idx] = np.where(
                np.isnan(own), mixed, own
            )  # a target's own fit first, others fill gaps
        return out

    def log_ratio(self, samples: list[Sample]) -> np.ndarray:
        return self._mix(samples, lambda ss, k: self.ll.log_ratio(ss, tkey=k))

    def log_latency(self, samples: list[Sample]) -> np.ndarray:
        # absolute time on another runtime is scaled by the bandwidth probe ratio
        def f(ss: list[Sample], k: str | None) -> np.ndarray:
            p = self.ll.log_latency(ss, tkey=k)
            if k is None:
                return p
            scale = np.array(
                [math.log(_copy(self.probes.get(s.tkey)) / _copy(self.probes.get(k))) for s in ss]
            )
            return p + scale

        return self._mix(samples, f)


def _copy(fp: dict[str, Any] | None) -> float:
    return float((fp or {}).get("probes", {}).get("copy", 1.0)) or 1.0


# -- probe-feature model ----------------------------------------------------------------------
KEEP_KERNEL = {
    "gelu": "gelu_chain",
    "gelu_tanh": "tanh",
    "silu": "sigmoid",
    "swish": "sigmoid",
    "mish": "mish_chain",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "softplus": "softplus",
    "elu": "exp",
    "selu": "exp",
    "celu": "exp",
    "hardswish": "hardswish",
}
STANDARD_KERNEL = {
    "relu": "relu",
    "hardswish": "hardswish",
    "hardsigmoid": "hardswish",
    "gelu": "gelu_chain",
}
FUNCTIONS = tuple(sorted(KEEP_KERNEL))
KINDS = ("keep", "rational", "exact", "standard")


def probe_ratio(s: Sample, fp: dict[str, Any] | None) -> float:
    """log(reference kernel of the candidate / reference kernel of the original) on s's target."""
    if not fp or s.candidate == "keep":
        return 0.0
    p = fp.get("probes", {})
    c = s.cand
    keep = float(p.get(KEEP_KERNEL.get(s.function, "relu"), 1.0))
    if c.kind == "rational":
        cand = float(p.get("rational_5_4", 1.0)) * (c.p + c.q + 1) / 10.0
    elif c.kind == "exact":
        cand = 2.0 * float(p.get("exp", 1.0)) + 3.0 * float(p.get("relu", 1.0))
    else:
        cand = float(p.get(STANDARD_KERNEL.get(c.op, "relu"), 1.0))
    return math.log(max(cand, 1e-6) / max(keep, 1e-6))


def features(s: Sample, fp: dict[str, Any] | None) -> list[float]:
    c = s.cand
    pv = probe_vector(fp) if fp else np.zeros(len(PROBES))
    return [
        s.log_n,
        math.log(max(s.n_in, 1)),
        float("Conv" in s.producer),
        float("MatMul" in s.producer or "Gemm" in s.producer),
        *[float(s.function == f) for f in FUNCTIONS],
        *[float(c.kind == k) for k in KINDS],
        float(c.p),
        float(c.q),
        float(c.variant == "folded"),
        float(s.threads),
        *pv.tolist(),
        probe_ratio(s, fp),
    ]


class ProbeGBR(Predictor):
    """Gradient boosting on sample + probe features (log ratio; log latency over bandwidth)."""

    def __init__(self, **gbr: Any) -> None:
        self.params = {
            "n_estimators": 300,
            "max_depth": 3,
            "learning_rate": 0.05,
            "subsample": 0.8,
            "random_state": 0,
            **gbr,
        }

    def fit(self, samples: list[Sample], probes: Probes | None = None) -> ProbeGBR:
        from sklearn.ensemble import GradientBoostingRegressor

        self.probes = probes or {}
        X = np.array([features(s, self.probes.get(s.tkey)) for s in samples])
        self.m_ratio = GradientBoostingRegressor(**self.params).fit(
            X, np.log([max(s.ratio, 1e-9) for s in samples])
        )
        self.m_lat = GradientBoostingRegressor(**self.params).fit(
            X, np.array([self._norm(s) for s in samples])
        )
        return self

    def _norm(self, s: Sample) -> float:  # latency per element in units of the bandwidth probe
        return math.log(s.latency / (s.n * _copy(self.probes.get(s.tkey)) * 1e-9))

    def log_ratio(self, samples: list[Sample]) -> np.ndarray:
        X = np.array([features(s, self.probes.get(s.tkey)) for s in samples])
        out = self.m_ratio.predict(X)
        out[[s.candidate == "keep" for s in samples]] = 0.0
        return np.asarray(out)

    def log_latency(self, samples: list[Sample]) -> np.ndarray:
        X = np.array([features(s, self.probes.get(s.tkey)) for s in samples])
        base = np.array([math.log(s.n * _copy(self.probes.get(s.tkey)) * 1e-9) for s in samples])
        return np.asarray(self.m_lat.predict(X) + base)
