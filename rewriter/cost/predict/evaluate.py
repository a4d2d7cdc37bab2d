"""Accuracy of the predictors: within-10% shares, per-site rank correlation, pruning payoff.

* ``within(pred_log, true_log, tol)``: share of predictions with ``|pred / true - 1| <= tol``.
* ``site_spearman(samples, pred_log_ratio)``: mean over sites (one target, one micro-model) of
  the Spearman correlation between predicted and measured candidate ratios (keep included, at
  ratio 1). Sites with fewer than 3 candidates or constant values are skipped.
* ``prune_stats(samples, pred_log_ratio, k)``: per site, keep + the k candidates with the best
  predicted ratios are "measured"; ``saved`` is the share of candidate measurements avoided;
  ``same_plan`` the share of sites where ``rewriter.plan.decide`` on the pruned records picks
  what it picks on all records.
* ``shape_cv`` / ``loto``: leave one shape out (all targets) / leave one target out, with 0 or
  a few measurements on the held-out target (``SimilarTargets.adapt``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from rewriter.candidates import Candidate
from rewriter.cost.db import Record
from rewriter.plan.decide import decide

from .dataset import Sample
from .predictor import LogLinear, Predictor, ProbeGBR, SimilarTargets, probe_ratio

__all__ = [
    "within",
    "spearman",
    "site_spearman",
    "prune_stats",
    "shape_cv",
    "loto",
    "print_tables",
    "candidate_of",
]

Probes = dict[str, dict[str, Any]]


def within(pred_log: np.ndarray, true_log: np.ndarray, tol: float = 0.1) -> float:
    """Share of finite predictions within ``tol`` (relative) of the truth, both given as logs."""
    p, t = np.asarray(pred_log, float), np.asarray(true_log, float)
    ok = np.isfinite(p)
    if not ok.any():
        return math.nan
    return float(np.mean(np.abs(np.exp(p[ok] - t[ok]) - 1.0) <= tol + 1e-12))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def _by_site(samples: list[Sample]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        out[(s.tkey, s.site)].append(i)
    return out


def site_spearman(samples: list[Sample], pred_log_ratio: np.ndarray) -> float:
    rhos = []
    for idx in _by_site(samples).values():
        p = pred_log_ratio[idx]
        if np.isnan(p).any():
            continue
        r = spearman(p, np.log([samples[i].ratio for i in idx]))
        if not math.isnan(r):
            rhos.append(r)
    return float(np.mean(rhos)) if rhos else math.nan


def candidate_of(name: str) -> Candidate:
    """A ``Candidate`` carrying only what ``decide`` reads (kind, name) for a stored name."""
    return Candidate(name.split(":")[0], name)


def _record(s: Sample) -> Record:
    return Record(
        "",
        "",
        "",
        "",
        s.threads,
        s.site,
        s.dtype,
        s.candidate,
        "",
        s.latency,
        s.latency,
        s.latency,
        s.ratio,
        s.ratio_lo or s.ratio,
        s.ratio_hi or s.ratio,
        s.rounds,
    )


def prune_stats(samples: list[Sample], pred_log_ratio: np.ndarray, k: int) -> dict[str, float]:
    """Measurements saved and plan agreement when only the top-k predicted candidates are measured."""
    total = measured = same = sites = 0
    for idx in _by_site(samples).values():
        ss = [samples[i] for i in idx]
        if not any(s.candidate == "keep" for s in ss):
            continue
        others = sorted(
            (i for i in idx if samples[i].candidate != "keep"),
            key=lambda i: np.nan_to_num(pred_log_ratio[i], nan=np.inf),
        )
        kept = {samples[i].candidate for i in others[:k]} | {"keep"}
        recs = {s.candidate: _record(s) for s in ss}
        cands = [candidate_of(s.candidate) for s in ss]
        full, _, _ = decide(cands, recs, None)
        pruned, _, _ = decide(
            [c for c in cands if c.name in kept], {n: r for n, r in recs.items() if n in kept}, None
        )
        total += len(ss)
        measured += len(kept)
        same += full.name == pruned.name
        sites += 1
    return {
        "saved": 1 - measured / total if total else math.nan,
        "same_plan": same / sites if sites else math.nan,
        "sites": sites,
    }


def _metrics(test: list[Sample], pr: Predictor) -> dict[str, float]:
    lr = pr.log_ratio(test)
    ll = pr.log_latency(test)
    out = {
        "n": len(test),
        "ratio_within10": within(lr, np.log([s.ratio for s in test])),
        "latency_within10": within(ll, np.log([s.latency for s in test])),
        "spearman": site_spearman(test, lr),
    }
    for k in (1, 2):
        st = prune_stats(test, lr, k)
        out[f"saved_k{k}"], out[f"same_plan_k{k}"] = st["saved"], st["same_plan"]
    return out


def _pool(rows: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Sample-weighted mean of per-fold metrics (NaN folds skipped)."""
    keys = {k for _, m in rows for k in m if k != "n"}
    out: dict[str, float] = {"n": float(sum(n for n, _ in rows))}
    for k in sorted(keys):
        v = [(n, m[k]) for n, m in rows if not math.isnan(m[k])]
        out[k] = sum(n * x for n, x in v) / sum(n for n, _ in v) if v else math.nan
    return out


MODELS: dict[str, Callable[[], Predictor]] = {
    "loglinear": LogLinear,
    "similar": SimilarTargets,
    "gbr": ProbeGBR,
}


def shape_cv(samples: list[Sample], probes: Probes) -> dict[str, dict[str, float]]:
    """Leave one shape (producer, element counts) out across all targets; per model, pooled."""
    shapes = sorted({(s.producer, s.n_in, s.n) for s in samples})
    res: dict[str, list[tuple[int, dict[str, float]]]] = defaultdict(list)
    for sh in shapes:
        train = [s for s in samples if (s.producer, s.n_in, s.n) != sh]
        test = [s for s in samples if (s.producer, s.n_in, s.n) == sh]
        for name in ("loglinear", "gbr"):
            res[name].append((len(test), _metrics(test, MODELS[name]().fit(train, probes))))
    return {k: _pool(v) for k, v in res.items()}


def loto(
    samples: list[Sample], probes: Probes, few: tuple[int, ...] = (0, 10), seed: int = 0
) -> dict[str, dict[str, dict[str, float]]]:
    """Leave one target out: per held-out target and method, the metrics on its samples.

    Methods: ``similar`` (probe-weighted known targets), ``similar+N`` (re-weighted with N
    measured ratios of the held-out target, excluded from the test set), ``gbr`` (probe
    features), ``probe-ratio`` (the reference-kernel ratio alone, no training).
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for t in sorted({s.tkey for s in samples}):
        train = [s for s in samples if s.tkey != t]
        test = [s for s in samples if s.tkey == t]
        row: dict[str, dict[str, float]] = {}
        sim = SimilarTargets().fit(train, probes)
        for m in few:
            if m == 0:
                row["similar"] = _metrics(test, sim)
                continue
            rng = np.random.default_rng(seed)
            pool = [i for i, s in enumerate(test) if s.candidate != "keep"]
            pick = set(rng.choice(pool, size=min(m, len(pool)), replace=False).tolist())
            a = SimilarTargets().fit(train, probes)
            a.adapt(t, [test[i] for i in pick])
            row[f"similar+{m}"] = _metrics([s for i, s in enumerate(test) if i not in pick], a)
        if t in probes:
            row["gbr"] = _metrics(test, ProbeGBR().fit(train, probes))
            row["probe-ratio"] = _metrics(
                test, _Fixed([probe_ratio(s, probes.get(s.tkey)) for s in test], test)
            )
        out[t] = row
    return out


class _Fixed(Predictor):
    def __init__(self, values: list[float], samples: list[Sample]) -> None:
        self.v = {id(s): v for s, v in zip(samples, values, strict=False)}

    def log_ratio(self, samples: list[Sample]) -> np.ndarray:
        return np.array([self.v.get(id(s), math.nan) for s in samples])


def _f(x: float, pct: bool = True) -> str:
    return (
        "-"
        if x is None or (isinstance(x, float) and math.isnan(x))
        else (f"{100 * x:.0f}%" if pct else f"{x:.2f}")
    )


def print_tables(res: dict[str, Any]) -> None:
    """Markdown tables (README-ready) of ``{"shapes": shape_cv(...), "targets": loto(...)}``."""
    print("\n### Held-out shapes (leave one shape out, all targets)\n")
    print(
        "| model | samples | latency within 10% | ratio within 10% | Spearman per site | saved k=1 | same plan k=1 | saved k=2 | same plan k=2 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, m in res["shapes"].items():
        print(
            f"| {name} | {m['n']:.0f} | {_f(m['latency_within10'])} | {_f(m['ratio_within10'])} | {_f(m['spearman'], False)} | "
            f"{_f(m['saved_k1'])} | {_f(m['same_plan_k1'])} | {_f(m['saved_k2'])} | {_f(m['same_plan_k2'])} |"
        )
    print("\n### Held-out targets (leave one target out)\n")
    print(
        "| held-out target | method | ratio within 10% | Spearman per site | saved k=1 | same plan k=1 | saved k=2 | same plan k=2 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for t, row in res["targets"].items():
        short = "|".join(t.split("|")[1:2] + t.split("|")[4:5])
        for name, m in row.items():
            print(
                f"| {short} | {name} | {_f(m['ratio_within10'])} | {_f(m['spearman'], False)} | {_f(m['saved_k1'])} | "
                f"{_f(m['same_plan_k1'])} | {_f(m['saved_k2'])} | {_f(m['same_plan_k2'])} |"
            )
