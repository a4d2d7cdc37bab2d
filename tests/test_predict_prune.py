"""Pruning keeps the true best candidate on synthetic data; `rewrite plan` entry points."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_predict_model import SIZES, law_records

from rewriter.cli.plan import main as plan_main
from rewriter.cost.bench import synthetic_site_model
from rewriter.cost.db import LatencyDB
from rewriter.cost.predict.dataset import load_samples
from rewriter.cost.predict.evaluate import prune_stats
from rewriter.cost.predict.predictor import LogLinear
from rewriter.cost.predict.rank import rank_candidates
from rewriter.errors import UsageError


def test_pruning_keeps_true_best(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = str(tmp_path / "law.sqlite")
    with LatencyDB(p) as db:
        db.put(law_records())
    s = load_samples(p)
    train = [x for x in s if x.n != SIZES[-1]]
    test = [x for x in s if x.n == SIZES[-1]]
    pred = LogLinear().fit(train).log_ratio(test)
    for k in (1, 2):
        st = prune_stats(test, pred, k)
        assert st["same_plan"] == 1.0
        assert st["saved"] == pytest.approx(1 - (1 + k) / 4)
    best = min((x for x in test if x.candidate != "keep"), key=lambda x: x.ratio).candidate
    assert test[int(np.argmin(pred))].candidate == best


def test_rank_candidates_orders_by_ratio() -> None:
    from rewriter.candidates import KEEP, Candidate

    a, b = Candidate("rational", "r"), Candidate("exact", "e")
    got = rank_candidates([KEEP, a, b], np.log([1.0, 0.8, 1.3]))
    assert [c.name for c, _ in got] == ["r", "keep", "e"]


def test_plan_predict_only_runs_and_measures_nothing(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    m = str(tmp_path / "m.onnx")
    onnx.save(synthetic_site_model("matmul", [1, 4, 16, 32], "mish"), m)
    db = str(tmp_path / "lat.sqlite")
    assert plan_main([m, "--target", "ort-cpu", "--predict-only", "--db", db]) == 0
    assert "mish" in capsys.readouterr().out
    with LatencyDB(db) as d:
        assert d.count() == 0  # probes only, no measurement rows


def test_plan_bad_input_is_usage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError):
        plan_main(["x.onnx", "--prune", "0"])
    with pytest.raises(UsageError):
        plan_main(["x.onnx", "--predict-only", "--prune", "1"])
