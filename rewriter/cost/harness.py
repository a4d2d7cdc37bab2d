"""The measuring harness: interleaved, warmed-up, repeated until the ratios are known.

``compare({"original": f0, "candidate": f1, ...})`` times zero-argument callables:

1. Warm-up: each callable runs until its last ``window`` times agree (median of the last window
   within ``stable`` of the window before) or ``warmup_cap`` seconds pass; first runs are orders
   of magnitude slower (allocations, JIT, kernel selection).
2. Calibration: a sample is ``number`` back-to-back calls, chosen so that a sample of the fastest
   callable lasts at least ``min_sample`` seconds (timer resolution and call overhead vanish).
3. Rounds: every round times one sample of each callable, in an order that rotates and
   alternates (A B C, C B A, B C A, A C B, ...), so position effects and drift (thermal, other tenants) hits all of them alike.
4. Stop: after ``min_rounds``, when every candidate's per-round ratio to the baseline has a 95%
   confidence interval of its median narrower than ``precision`` (relative), or after
   ``time_cap`` seconds or ``max_rounds`` rounds. ``converged`` tells which.

The confidence interval of a median is distribution-free (binomial order statistics), computed
on per-round *paired* ratios, which is what makes interleaving pay: the noise common to a round
cancels in its ratio. Every number comes with its spread (``Stats``: median, quartiles, min,
max; ``Ratio``: median and CI).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Stats", "Ratio", "Comparison", "compare", "stats_of", "median_ci"]


@dataclass
class Stats:
    """Per-call times in seconds of one callable."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "iqr": self.iqr}


@dataclass
class Ratio:
    """Median of per-round ratios ``t_candidate / t_baseline`` and its 95% CI (lo, hi).

    ``speedup`` is ``1 / median``; ``faster`` / ``slower`` say whether the CI excludes 1.
    """

    median: float
    lo: float
    hi: float
    n: int

    @property
    def speedup(self) -> float:
        return 1.0 / self.median if self.median > 0 else math.inf

    @property
    def faster(self) -> bool:
        return self.hi < 1.0

    @property
    def slower(self) -> bool:
        return self.lo > 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speedup": self.speedup}


@dataclass
class Comparison:
    """Result of one interleaved measurement: times per name, ratios to the baseline."""

    baseline: str
    stats: dict[str, Stats]
    ratios: dict[str, Ratio]
    rounds: int
    number: int
    seconds: float
    converged: bool
    samples: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "stats": {k: v.to_dict() for k, v in self.stats.items()},
            "ratios": {k: v.to_dict() for k, v in self.ratios.items()},
            "rounds": self.rounds,
            "number": self.number,
            "seconds": self.seconds,
            "converged": self.converged,
        }


def _quantile(s: list[float], q: float) -> float:
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    i = int(math.floor(pos))
    j = min(i + 1, len(s) - 1)
    return s[i] + (s[j] - s[i]) * (pos - i)


def stats_of(xs: list[float]) -> Stats:
    s = sorted(xs)
    return Stats(statistics.median(s), _quantile(s, 0.25), _quantile(s, 0.75), s[0], s[-1], len(s))


def median_ci(xs: list[float], z: float = 1.96) -> tuple[float, float, float]:
    """Median and a distribution-free ~95% CI (order statistics n/2 -+ z sqrt(n)/2)."""
    s = sorted(xs)
    n = len(s)
    med = statistics.median(s)
    if n < 3:
        return med, s[0], s[-1]
    h = z * math.sqrt(n)
    lo = max(0, int(math.floor((n - h) / 2.0)) - 1)  # 1-based j = floor((n - z sqrt n) / 2)
    hi = min(
        n - 1, int(math.ceil(1 + (n + h) / 2.0)) - 1
    )  # 1-based k = ceil(1 + (n + z sqrt n) / 2)
    return med, s[lo], s[hi]


def _time(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _warm(fn: Callable[[], Any], cap: float, window: int, stable: float) -> float:
    times: list[float] = []
    t_end = time.perf_counter() + cap
    fn()  # the first call may take seconds (compilation): never part of the window
    while True:
        times.append(_time(fn, 1))
        if len(times) >= 2 * window:
            a = statistics.median(times[-2 * window : -window])
            b = statistics.median(times[-window:])
            if abs(b - a) <= stable * a:
                break
        if time.perf_counter() > t_end and len(times) >= 3:
            break
    return statistics.median(times[-window:])


def compare(
    fns: dict[str, Callable[[], Any]],
    baseline: str | None = None,
    *,
    precision: float = 0.02,
    time_cap: float = 10.0,
    min_rounds: int = 10,
    max_rounds: int = 2000,
    min_sample: float = 2e-3,
    warmup_cap: float = 2.0,
    window: int = 5,
    stable: float = 0.05,
) -> Comparison:
    """Time ``fns`` interleaved; ratios are to ``baseline`` (default: the first name).

    Example:
        >>> c = compare({"orig": lambda: run_a(feeds), "pau": lambda: run_b(feeds)})  # doctest: +SKIP
        >>> c.ratios["pau"].speedup, c.ratios["pau"].lo, c.ratios["pau"].hi           # doctest: +SKIP
    """
    if not fns:
        raise ValueError("compare: nothing to measure")
    names = list(fns)
    baseline = baseline or names[0]
    t_start = time.perf_counter()
    est = {k: _warm(f, warmup_cap, window, stable) for k, f in fns.items()}
    number = max(1, int(math.ceil(min_sample / max(min(est.values()), 1e-9))))
    samples: dict[str, list[float]] = {k: [] for k in names}
    rounds, converged = 0, False
    others = [k for k in names if k != baseline]
    while rounds < max_rounds:
        k0 = (rounds // 2) % len(names)  # rotate and reverse: every callable visits every position
        order = names[k0:] + names[:k0]
        order = order if rounds % 2 == 0 else order[::-1]
        for k in order:
            samples[k].append(_time(fns[k], number))
        rounds += 1
        if rounds >= min_rounds:
            ratios = {
                k: median_ci([a / b for a, b in zip(samples[k], samples[baseline], strict=True)])
                for k in others
            }
            if all((hi - lo) / med < precision for med, lo, hi in ratios.values()):
                converged = True
                break
            if time.perf_counter() - t_start > time_cap:
                break
    rat = {}
    for k in names:
        med, lo, hi = median_ci([a / b for a, b in zip(samples[k], samples[baseline], strict=True)])
        rat[k] = Ratio(med, lo, hi, rounds)
    return Comparison(
        baseline,
        {k: stats_of(v) for k, v in samples.items()},
        rat,
        rounds,
        number,
        time.perf_counter() - t_start,
        converged or not others,
        samples,
    )
