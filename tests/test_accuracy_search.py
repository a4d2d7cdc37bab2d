"""Budgeted search on synthetic latencies: budgets hold, the exhaustive case is the fastest
feasible plan, the greedy case ends feasible; inputs are checked."""

from __future__ import annotations

import io
import itertools
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from rewriter.accuracy import Study, TableLatency
from rewriter.errors import UsageError
from rewriter.plan import Budget, plan_budget
from rewriter.report import print_budget
from rewriter.verify import Deviation, OutputDiff

sys.path.insert(0, os.path.dirname(__file__))
from accuracy_models import make_model  # noqa: E402


def _dev(cosine: float, rel_l2: float, max_abs: float, accuracy: float | None = None) -> Deviation:
    return Deviation([OutputDiff("y", max_abs, rel_l2, cosine)], accuracy)


# standard activations are the fastest, then the small rational: budgets have to bind
DEFAULT = {
    "keep": 2.0,
    "rational:3_2": 1.2,
    "rational:5_4": 1.5,
    "standard:relu": 0.5,
    "standard:hardswish": 0.7,
    "standard:quickgelu": 0.9,
    "standard:leaky_relu": 0.6,
    "standard:relu6": 0.55,
}


def run(m: onnx.ModelProto, feed: dict[str, np.ndarray]) -> np.ndarray:
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, feed
    )[0]


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    m = make_model()
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.normal(0, 1.5, (32, 8)).astype(np.float32)} for _ in range(4)]
    logits = np.concatenate([run(m, f) for f in feeds])
    labels = logits.argmax(-1)
    labels[::7] = (labels[::7] + 1) % 4
    lat = TableLatency(
        {"gelu_0": {"keep": 2.0}, "silu_0": {"keep": 1.0, "standard:relu": 0.6}},
        base=10.0,
        default=DEFAULT,
    )
    return Study(
        m,
        "pau_all",
        feeds,
        labels=labels,
        degrees_set=((3, 2), (5, 4)),
        allow_standard=True,
        latency=lat,
    ), feeds


def _direct(res, st, feeds):  # type: ignore[no-untyped-def]
    a = np.concatenate([run(st.model, f) for f in feeds]).astype(np.float64).ravel()
    b = np.concatenate([run(res.model, f) for f in feeds]).astype(np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), float(
        np.linalg.norm(b - a) / np.linalg.norm(a)
    )


BUDGETS = [
    dict(min_cosine=0.9999),
    dict(min_cosine=0.999999),
    dict(max_rel_error=0.01),
    dict(max_rel_error=1e-4),
    dict(max_drop=0.0),
    dict(max_drop=2.0, min_cosine=0.9995),
]


@pytest.mark.parametrize(
    "budget", BUDGETS, ids=lambda b: ",".join(f"{k}={v}" for k, v in b.items())
)
def test_budget_holds_and_exhaustive_is_fastest_feasible(study, budget):
    st, feeds = study
    res = plan_budget(st.model, "pau_all", None, None, study=st, progress=False, **budget)
    assert res.budget.mode == "exhaustive" and res.whole is None
    b = Budget(**budget)
    cos, rel = _direct(res, st, feeds)  # measured on the model actually returned
    assert res.budget.deviation.cosine == pytest.approx(cos, abs=1e-12)
    if b.min_cosine is not None:
        assert cos >= b.min_cosine
    if b.max_rel_error is not None:
        assert rel <= b.max_rel_error
    if b.max_drop is not None:
        assert res.budget.base_accuracy - res.budget.deviation.accuracy <= b.max_drop
    # brute force over every assignment (every choice of every site, keep included)
    best = None
    for combo in itertools.product(
        *([c for c in s.candidates if c.name in s.costs] for s in st.sites)
    ):
        a = {s.name: c for s, c in zip(st.sites, combo, strict=True)}
        if b.feasible(st.evaluator.deviation(a), st.base_accuracy):
            ms = st.predicted_ms(a)
            best = ms if best is None or ms < best else best
    assert st.predicted_ms(res.assignment()) == pytest.approx(best)
    assert res.budget.predicted_speedup == pytest.approx(10.0 / best)
    assert {s.name for s in res.sites if s.replaced} == set(res.assignment())
    d = res.to_dict()
    assert d["decisions"] and d["budget"]["pareto"] and isinstance(d["budget"]["cosine"], float)


def test_greedy_search_ends_within_budget(study):
    st, feeds = study
    for budget in (dict(min_cosine=0.99999), dict(max_rel_error=0.002)):
        res = plan_budget(
            st.model, "pau_all", None, None, study=st, progress=False, exhaustive_limit=1, **budget
        )
        assert res.budget.mode == "greedy"
        cos, rel = _direct(res, st, feeds)
        assert cos >= budget.get("min_cosine", -1.0) and rel <= budget.get("max_rel_error", np.inf)


def test_pareto_set_is_non_dominated(study):
    st, _ = study
    res = plan_budget(st.model, "pau_all", None, None, study=st, progress=False, min_cosine=0.999)
    pts = res.budget.pareto
    assert len(pts) >= 2 and pts[-1].assignment == {}  # all-keep is the slow, exact end
    for p in pts:
        for q in res.budget.points:
            if q.predicted_ms is not None and q.predicted_ms < p.predicted_ms - 1e-12:
                assert (q.deviation.accuracy, q.deviation.cosine) <= (
                    p.deviation.accuracy,
                    p.deviation.cosine,
                )
    from rich.console import Console

    buf = io.StringIO()
    print_budget(res, Console(file=buf, width=160))
    assert "Pareto" in buf.getvalue() and "replaced" in buf.getvalue()


def test_budget_usage_and_bad_input(study):
    b = Budget(min_cosine=0.99, max_rel_error=0.1)
    assert b.usage(_dev(0.995, 0.02, 0.1), None) == pytest.approx(0.5)
    assert b.usage(_dev(0.999, 0.2, 0.1), None) == pytest.approx(2.0)
    assert not b.feasible(_dev(0.98, 0.0, 0.0), None)
    assert Budget(max_drop=0.0).feasible(_dev(0.9, 1.0, 1.0, 90.0), 90.0)
    with pytest.raises(UsageError):
        Budget()
    with pytest.raises(UsageError):
        Budget(max_drop=1.0).usage(_dev(1.0, 0.0, 0.0), None)
    st, _ = study
    with pytest.raises(UsageError):
        plan_budget(st.model, "pau_all", None, None, study=st, progress=False)
    with pytest.raises(UsageError):  # no labels for max_drop
        plan_budget(make_model(), "pau_all", "ort-cpu", None, max_drop=1.0, progress=False)
    with pytest.raises(UsageError):  # no target, no latency
        plan_budget(make_model(), "pau_all", None, None, min_cosine=0.9, progress=False)


def test_a_given_study_is_verified_on_the_held_out_part_of_its_split(study) -> None:
    from rewriter.calibrate import Calibration, holdout

    st, feeds = study
    rng = np.random.default_rng(7)
    more = feeds + [{"x": rng.normal(0, 1.5, (32, 8)).astype(np.float32)} for _ in range(4)]
    split = holdout(Calibration(more, "data.npz", samples=32 * len(more)))
    assert split.check is not None and len(split.check.batches) == 2
    fit_study = Study(
        st.model,
        "pau_all",
        split.fit,
        degrees_set=((3, 2), (5, 4)),
        allow_standard=True,
        latency=st.latency,
    )
    res = plan_budget(
        st.model, "pau_all", None, None, study=fit_study, split=split, min_cosine=0.9999,
        progress=False,
    )  # fmt: skip
    assert res.budget.heldout == split.describe and "2 of 8" in split.describe
    a = np.concatenate([run(st.model, f) for f in split.check.batches]).astype(np.float64).ravel()
    b = np.concatenate([run(res.model, f) for f in split.check.batches]).astype(np.float64).ravel()
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert res.budget.check.cosine == pytest.approx(cos, abs=1e-9)  # the held-out batches
    with pytest.raises(UsageError, match="split= is the split a given study= was made on"):
        plan_budget(st.model, "pau_all", None, None, split=split, min_cosine=0.9999)


def test_softsign_is_studied_as_the_rational_it_is() -> None:
    """softsign is x / (1 + |x|), a raw pau exactly, and the rewrite writes it so (error
    4e-16); the map and the budget search studied it in the clamped form, max error 0.04 and
    the model's output off by rel-L2 0.036 above the default tolerance, so it was judged a poor
    site, and its budget paid for a fit 10^14 times worse than the one written."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["a"]),
            helper.make_node("Softsign", ["a"], ["s"]),
            helper.make_node("MatMul", ["s", "w2"], ["y"]),
        ],
        "softsign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [
            numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "w1"),
            numpy_helper.from_array(rng.standard_normal((32, 8)).astype(np.float32), "w2"),
        ],
    )
    st = Study(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), degrees_set=((5, 4),))  # fmt: skip
    (site,) = st.sites
    (rational,) = [c for c in site.candidates if c.kind == "rational"]
    assert rational.rational.form == "pau"
    assert site.approx_error[rational.name]["max_abs"] < 1e-6
    assert site.solo[rational.name].worst.rel_l2 < 1e-5
