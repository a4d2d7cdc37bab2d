"""Harness statistics on a real small model (never asserting on wall-clock times)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from rewriter.cost import compare, get_target
from rewriter.cost.harness import median_ci, stats_of

MODEL = onnx.parser.parse_model("""
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[4,256] x) => (float[4,256] y) {
        s = Softplus(x)
        t = Tanh(s)
        y = Mul(x, t)
    }
""")


def test_stats_and_ci_are_ordered():
    xs = list(np.random.default_rng(0).lognormal(0, 0.3, 101))
    st = stats_of(xs)
    assert st.min <= st.q1 <= st.median <= st.q3 <= st.max and st.iqr >= 0 and st.n == 101
    med, lo, hi = median_ci(xs)
    assert lo <= med <= hi and med == st.median
    assert median_ci([1.0, 2.0]) == (1.5, 1.0, 2.0)


def test_model_against_itself():
    run = get_target("ort-cpu:threads=1").session(MODEL)
    feeds = {"x": np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)}
    c = compare(
        {"a": lambda: run(feeds), "b": lambda: run(feeds)},
        time_cap=1.5,
        min_rounds=20,
        warmup_cap=0.3,
        min_sample=5e-4,
    )
    for st in c.stats.values():
        assert st.min <= st.median <= st.max and st.iqr >= 0 and st.median > 0
    r = c.ratios["b"]
    assert r.lo <= r.median <= r.hi and c.rounds >= 20
    # the same model against itself: 1 lies within a generous band around the CI (robust on noisy machines)
    width = max(r.hi - r.lo, 0.02)
    assert r.lo - 2 * width <= 1.0 <= r.hi + 2 * width
    assert 0.5 < r.median < 2.0


class _Clock:
    """A fake ``time`` module: callables advance it by their own cost."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_ratios_and_verdicts_on_a_known_clock(monkeypatch):
    from rewriter.cost import harness

    clock = _Clock()
    monkeypatch.setattr(harness, "time", clock)
    calls: list[str] = []

    def cost(name: str, seconds: float):  # type: ignore[no-untyped-def]
        def run() -> None:
            calls.append(name)
            clock.now += seconds

        return run

    fns = {"base": cost("base", 1e-3), "slow": cost("slow", 2e-3), "fast": cost("fast", 5e-4)}
    c = compare(fns, "base", min_rounds=12, time_cap=1.0, warmup_cap=0.1, min_sample=2e-3)
    assert c.ratios["slow"].median == pytest.approx(2.0) and c.ratios["slow"].slower
    assert c.ratios["fast"].speedup == pytest.approx(2.0) and c.ratios["fast"].faster
    assert not c.ratios["base"].faster and not c.ratios["base"].slower
    assert c.stats["slow"].median == pytest.approx(2e-3) and c.number == 4  # 2 ms per sample
    assert c.converged and c.rounds == 12
    # interleaved: every callable runs first in some round, not always in one position
    timed = calls[-3 * 12 * c.number :: c.number]
    firsts = {timed[3 * k] for k in range(12)}
    assert firsts == {"base", "slow", "fast"}
