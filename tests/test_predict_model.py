"""Predictors on a synthetic database with a known law t = a * n^b per candidate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rewriter.cost.db import LatencyDB, Record
from rewriter.cost.predict.dataset import load_samples, parse_candidate, parse_signature
from rewriter.cost.predict.evaluate import loto, shape_cv, site_spearman, spearman, within
from rewriter.cost.predict.fingerprint import PROBES
from rewriter.cost.predict.predictor import LogLinear, SimilarTargets, fit_loglinear

# candidate -> (a, b): t = a * n^b seconds; keep is the slowest
LAW = {
    "keep": (4e-9, 1.0),
    "rational:5_4:gated:horner": (2e-9, 1.0),
    "rational:3_2:gated:horner": (1e-9, 1.05),
    "exact:mish_exp": (3e-9, 0.95),
}
SIZES = [1024, 4096, 16384, 65536, 262144]


def law_records(target: str = "ort-cpu", hw: str = "hw0", scale: float = 1.0) -> list[Record]:
    out = []
    for n in SIZES:
        keep = LAW["keep"][0] * n ** LAW["keep"][1] * scale
        for cand, (a, b) in LAW.items():
            t = a * n**b * scale
            out.append(
                Record(
                    hw,
                    target,
                    "onnxruntime",
                    "1.0",
                    1,
                    f"Conv>mish#{n:08x}",
                    "float",
                    cand,
                    json.dumps({"in": {"x": [1, n]}, "out": [1, n]}),
                    t,
                    t,
                    t,
                    t / keep,
                    t / keep * 0.98,
                    t / keep * 1.02,
                    10,
                    1.0,
                )
            )
    return out


@pytest.fixture()
def db_path(tmp_path) -> str:  # type: ignore[no-untyped-def]
    p = str(tmp_path / "law.sqlite")
    with LatencyDB(p) as db:
        db.put(law_records("ort-cpu") + law_records("openvino-cpu", scale=2.0))
    return p


def test_parse_names() -> None:
    assert parse_candidate("rational:5_4:gated:folded").p == 5
    assert parse_candidate("rational:5_4:gated:folded").variant == "folded"
    assert parse_candidate("standard:relu").op == "relu"
    assert parse_signature("MatMul+Add>gelu#abc") == ("MatMul+Add", "gelu")


def test_fit_recovers_law(db_path: str) -> None:
    s = load_samples(db_path)
    assert len(s) == 2 * len(SIZES) * len(LAW)
    ort = [x for x in s if "|ort-cpu|" in x.tkey]
    m = LogLinear().fit(ort)
    for cand, (a, b) in LAW.items():
        la, lb = m.lat[(ort[0].tkey, "mish", "Conv", cand)]
        assert lb == pytest.approx(b, abs=1e-9)
        assert math.exp(la) == pytest.approx(a, rel=1e-6)


def test_fit_loglinear_single_size_uses_given_slope() -> None:
    a, b = fit_loglinear(np.array([2.0, 2.0]), np.array([5.0, 5.0]), slope=1.0)
    assert (a, b) == (3.0, 1.0)


def test_metrics_exact_on_law(db_path: str) -> None:
    s = load_samples(db_path)
    res = shape_cv(s, {})
    for name in ("loglinear",):
        assert res[name]["latency_within10"] == 1.0
        assert res[name]["ratio_within10"] == 1.0
        assert res[name]["spearman"] == pytest.approx(1.0)
        assert res[name]["same_plan_k1"] == 1.0


def test_new_target_transfer(db_path: str) -> None:
    s = load_samples(db_path)
    probes = {t: {"probes": {k: 1.0 for k in PROBES}} for t in {x.tkey for x in s}}
    res = loto(s, probes, few=(0, 3))
    for row in res.values():
        assert row["similar"]["ratio_within10"] == 1.0  # same ratios on both targets
        assert row["similar"]["spearman"] == pytest.approx(1.0)
        assert row["similar+3"]["spearman"] == pytest.approx(1.0)


def test_within_and_spearman_basics() -> None:
    assert within(np.log([1.05, 1.2, np.nan]), np.log([1.0, 1.0, 1.0])) == 0.5
    assert spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])))


def test_similar_targets_weights_follow_probes(db_path: str) -> None:
    s = load_samples(db_path)
    keys = sorted({x.tkey for x in s})
    probes = {
        keys[0]: {"probes": {k: 1.0 for k in PROBES}},
        keys[1]: {"probes": {k: 5.0 if k == "softplus" else 1.0 for k in PROBES}},
        "new": {"probes": {k: 4.5 if k == "softplus" else 1.0 for k in PROBES}},
    }
    w = SimilarTargets().fit(s, probes).weights("new")
    assert w[keys[1]] > w[keys[0]]
    assert sum(w.values()) == pytest.approx(1.0)
    assert site_spearman(s, np.log([x.ratio for x in s])) == pytest.approx(1.0)
