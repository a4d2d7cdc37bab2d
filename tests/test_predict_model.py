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


def law_records(
    target: str = "ort-cpu", hw: str = "hw0", scale: float = 1.0, law: dict | None = None
) -> list[Record]:
    law = law or LAW
    out = []
    for n in SIZES:
        keep = law["keep"][0] * n ** law["keep"][1] * scale
        for cand, (a, b) in law.items():
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


# a target where the rationals lose and the exact rewrite wins (ORT-like), unlike LAW's
LAW_B = {
    "keep": (4e-9, 1.0),
    "rational:5_4:gated:horner": (8e-9, 1.0),
    "rational:3_2:gated:horner": (6e-9, 1.0),
    "exact:mish_exp": (1e-9, 1.0),
}


def test_new_target_transfer_follows_probe_similarity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A held-out target is predicted with the ratios of the known target its probes resemble."""
    p = str(tmp_path / "three.sqlite")
    with LatencyDB(p) as db:
        db.put(
            law_records("ort-cpu")
            + law_records("openvino-cpu", law=LAW_B)
            + law_records("torch-eager", scale=3.0, law=LAW_B)
        )
    s = load_samples(p)
    key = {
        t: next(x.tkey for x in s if f"|{t}|" in x.tkey)
        for t in ("ort-cpu", "openvino-cpu", "torch-eager")
    }
    flat = {k: 1.0 for k in PROBES}
    slow_softplus = {k: 5.0 if k == "softplus" else 1.0 for k in PROBES}
    like_b = {key["ort-cpu"]: {"probes": flat}, key["openvino-cpu"]: {"probes": slow_softplus},
              key["torch-eager"]: {"probes": slow_softplus}}  # fmt: skip
    like_a = {**like_b, key["torch-eager"]: {"probes": flat}}
    good = loto(s, like_b, few=(0,))[key["torch-eager"]]["similar"]
    bad = loto(s, like_a, few=(0,))[key["torch-eager"]]["similar"]
    assert good["spearman"] > bad["spearman"]
    # the decision follows: on a B-like target the (5,4) rational is predicted slower than keep
    train = [x for x in s if x.tkey != key["torch-eager"]]
    test = [x for x in s if x.tkey == key["torch-eager"] and x.candidate.startswith("rational:5_4")]
    for probes, slower in ((like_b, True), (like_a, False)):
        pred = SimilarTargets().fit(train, probes).log_ratio(test)
        assert bool(np.all(pred > 0)) is slower and bool(np.all(pred < 0)) is not slower


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


def test_site_spearman_ranks_within_each_site(db_path: str) -> None:
    s = load_samples(db_path)
    truth = np.log([x.ratio for x in s])
    assert site_spearman(s, 3.0 * truth + 1.0) == pytest.approx(1.0)  # any monotone map
    assert site_spearman(s, -truth) == pytest.approx(-1.0)
    # swapping two candidates' predictions at one site lowers only that site's rank correlation
    swapped = truth.copy()
    site = [i for i, x in enumerate(s) if x.site == s[0].site and x.tkey == s[0].tkey]
    a, b = sorted(site, key=lambda i: truth[i])[:2]
    swapped[a], swapped[b] = truth[b], truth[a]
    sites = len({(x.tkey, x.site) for x in s})
    assert site_spearman(s, swapped) == pytest.approx(1.0 - (1.0 - 0.8) / sites)
