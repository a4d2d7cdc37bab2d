"""``rewrite --recover`` end to end on a trained model (examples/digits_cnn.onnx): the plan is
over the budget before retraining, retraining brings it inside on held-out data, the written
model is what the report claims, and a second model of the same family with the same --db
skips what did not recover and needs fewer retraining runs.

Latencies come from a fixed table (ReLU twice as fast as every activation, everything else
slower), so which replacements are tried does not depend on the load of the machine the tests
run on; everything else (fits, emit, retraining, held-out verification, trials in the SQLite
database, the report) is the real pipeline. tools/recover_bench.py measures real latencies."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import rewriter.plan.recover as recover
from rewriter.accuracy.latency import TableLatency
from rewriter.calibrate import as_calibration, holdout
from rewriter.cli import main
from rewriter.ir import run_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "digits_cnn.onnx")
DIGITS_DATA = os.path.join(ROOT, "examples", "digits_test.npz")
MAX_EPOCHS = 6  # each retraining run (early stopping may end it sooner): keeps the test fast


class _Table(TableLatency):
    """What ``ModelCosts`` is to ``plan_recover``, from a table: ReLU 0.5 ms, keep 1 ms."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(
            {},
            base=10.0,
            default={"keep": 1.0, "standard:relu": 0.5, "standard:relu6": 2.0, "": 2.0},
        )

    def close(self) -> None:
        pass


@pytest.fixture
def table_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recover, "ModelCosts", _Table)
    import rewriter.tune.e2e as e2e

    real = e2e.finetune_e2e

    def capped(*args: object, **kwargs: object) -> object:
        kwargs["epochs"] = min(int(kwargs.get("epochs", MAX_EPOCHS)), MAX_EPOCHS)  # type: ignore[call-overload]
        return real(*args, **kwargs)

    monkeypatch.setattr(e2e, "finetune_e2e", capped)


def _sibling(path: str) -> str:
    """Another checkpoint of the digits CNN (every weight moved by 1%): same family."""
    m = onnx.load(DIGITS)
    rng = np.random.default_rng(1)
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1:
            a = a * (1 + 0.01 * rng.standard_normal(a.shape)).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, path)
    return path


def _run(model: str, tmp_path, tag: str, db: str) -> tuple[dict, str]:
    out, rep = str(tmp_path / f"{tag}.onnx"), str(tmp_path / f"{tag}.json")
    argv = [model, "-p", "pau_gelu,pau_mish", "--target", "ort-cpu:threads=1"]
    argv += ["--calibration", DIGITS_DATA]
    argv += ["--min-cosine", "0.9999", "--allow-standard", "--recover", "--db", db]
    assert main([*argv, "-o", out, "--report", rep, "-q"]) == 0
    return json.load(open(rep)), out


def _held_out_cosine(original: str, written: str) -> float:
    m = onnx.load(original)
    check = holdout(as_calibration(DIGITS_DATA, m)).check
    assert check is not None
    a = np.concatenate([run_model(m, b)[0].ravel() for b in check.batches]).astype(np.float64)
    new = onnx.load(written)
    b = np.concatenate([run_model(new, x)[0].ravel() for x in check.batches]).astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_recover_retrains_into_the_budget_and_the_family_learns(tmp_path, table_latency) -> None:
    db = str(tmp_path / "lat.sqlite")
    r, out = _run(DIGITS, tmp_path, "first", db)
    rec = r["plan"]["recover"]
    assert rec["retraining_runs"] >= 1 and rec["retrained"]
    assert "held-out" in rec["heldout"]
    accepted = [a for a in rec["attempts"] if a["outcome"] == "accepted"]
    assert len(accepted) == 1 and accepted[0]["retrained"]
    assert accepted[0]["usage_before"] > 1.0 >= accepted[0]["usage_after"]
    assert rec["before_retraining"]["cosine"] < 0.9999 <= rec["after_retraining"]["cosine"]
    assert r["plan"]["budget"]["within_budget"] is True
    assert [d["site"] for d in r["plan"]["decisions"] if d["decision"] == "replace"]
    onnx.checker.check_model(onnx.load(out), full_check=True)
    cos = _held_out_cosine(DIGITS, out)
    assert cos >= 0.9999 and cos == pytest.approx(rec["after_retraining"]["cosine"], abs=1e-6)
    first = rec["retraining_runs"]
    assert first >= 2, "the first model should meet a replacement that does not recover"

    r2, out2 = _run(_sibling(str(tmp_path / "sibling.onnx")), tmp_path, "second", db)
    rec2 = r2["plan"]["recover"]
    assert rec2["family"] == rec["family"]
    assert rec2["skipped_from_earlier_runs"]
    assert 1 <= rec2["retraining_runs"] < first
    assert r2["plan"]["budget"]["within_budget"] is True
    onnx.checker.check_model(onnx.load(out2), full_check=True)


def test_when_nothing_recovers_the_report_names_the_nearest_miss(
    tmp_path, table_latency, capsys
) -> None:
    out, rep = str(tmp_path / "o.onnx"), str(tmp_path / "r.json")
    argv = [DIGITS, "-p", "pau_gelu,pau_mish", "--target", "ort-cpu:threads=1"]
    argv += ["--calibration", DIGITS_DATA, "--min-cosine", "0.99999999", "--allow-standard"]
    argv += ["--recover", "--recover-runs", "1", "--db", str(tmp_path / "lat.sqlite")]
    page = str(tmp_path / "plan.html")
    assert main([*argv, "-o", out, "--report", rep, "--html", page]) == 0
    text = capsys.readouterr().out
    assert "nothing replaced: no replacement recovered inside the budget" in text
    n = json.load(open(rep))["plan"]["recover"]["nearest_miss"]
    assert n is not None and n["usage"] > 1.0 and n["would_meet"].startswith("--min-cosine 0.99")
    flat = " ".join(text.split())  # the console wraps long lines
    assert f"it would meet {n['would_meet']} (its speed was not measured)" in flat
    assert f"it would meet {n['would_meet']}" in open(page).read()
    # the budget it names is met by that assignment (verified on the same held-out data)
    met = float(n["would_meet"].split()[1])
    assert met < 0.99999999 and n["usage"] * (1 - 0.99999999) <= 1 - met + 1e-12


def test_the_nearest_miss_is_measured_when_the_target_can_time_it(
    tmp_path, monkeypatch, capsys
) -> None:
    """Site costs from the table (which replacements are tried does not depend on the machine),
    the whole-model timing real: the closest miss's model is timed on ONNX Runtime."""
    from rewriter.calibrate import load_calibration
    from rewriter.cost.model import ModelCosts

    class _TimedWhole(_Table):
        def whole(self, original, rewritten):  # type: ignore[no-untyped-def]
            feeds = load_calibration(DIGITS_DATA, original).batches[0]
            real = ModelCosts(original, "ort-cpu:threads=1", ":memory:", feeds=feeds)
            try:
                return real.whole(original, rewritten)
            finally:
                real.close()

    monkeypatch.setattr(recover, "ModelCosts", _TimedWhole)
    rep = str(tmp_path / "r.json")
    argv = [DIGITS, "-p", "pau_gelu,pau_mish", "--target", "ort-cpu:threads=1"]
    argv += ["--calibration", DIGITS_DATA, "--min-cosine", "0.99999999", "--allow-standard"]
    argv += ["--recover", "--recover-runs", "0", "--db", str(tmp_path / "lat.sqlite")]
    assert main([*argv, "-o", str(tmp_path / "o.onnx"), "--report", rep]) == 0
    n = json.load(open(rep))["plan"]["recover"]["nearest_miss"]
    assert n is not None and not n["retrained"]  # no runs: the attempt as emitted
    x, lo, hi = n["speedup"]
    assert 0 < lo <= x <= hi
    text = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert f"it would meet {n['would_meet']} and measured x{x:.3f}" in text
