"""The accuracy contract on held-out data, and ``--recover``: replace beyond the budget, retrain,
re-verify, re-measure, learn (``rewriter.plan.recover``)."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest

from rewriter.calibrate import Calibration, holdout
from rewriter.cli import main
from rewriter.cost.db import LatencyDB, Trial
from rewriter.plan.recover import failure_stands, family_of
from rewriter.plan.search import Budget

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "digits_cnn.onnx")
DIGITS_DATA = os.path.join(ROOT, "examples", "digits_test.npz")


def _cal(batches: int, rows: int) -> Calibration:
    return Calibration(
        [{"x": np.full((rows, 2), float(i), np.float32)} for i in range(batches)],
        "data.npz",
        samples=batches * rows,
    )


def test_holdout_interleaves_batches_and_keeps_labels_aligned() -> None:
    cal = _cal(8, 3)
    labels = np.arange(24)
    s = holdout(cal, labels)
    assert s.check is not None
    assert [b["x"][0, 0] for b in s.check.batches] == [3.0, 7.0]
    assert [b["x"][0, 0] for b in s.fit.batches] == [0.0, 1.0, 2.0, 4.0, 5.0, 6.0]
    assert s.check.samples == 6 and s.fit.samples == 18
    assert s.check_labels.tolist() == [9, 10, 11, 21, 22, 23]
    assert s.fit_labels.tolist() == [*range(0, 9), *range(12, 21)]
    assert "6 held-out sample(s) of data.npz (every 4th batch, 2 of 8;" in s.describe


def test_holdout_splits_one_batch_by_rows_and_says_when_it_cannot() -> None:
    s = holdout(_cal(1, 8), np.arange(8))
    assert s.check is not None and s.check.batches[0]["x"].shape == (2, 2)
    assert s.fit.batches[0]["x"].shape == (6, 2) and s.check_labels.tolist() == [6, 7]
    one = holdout(_cal(1, 1))
    assert one.check is None and "one sample cannot be split" in one.describe


def test_trials_round_trip_in_a_real_sqlite_file(tmp_path) -> None:
    path = str(tmp_path / "lat.sqlite")
    with LatencyDB(path) as db:
        db.put_trials(
            [
                Trial("fam", "ort-cpu", "silu_0", "silu", "standard:relu", 3.0, 0.5, True, "t"),
                Trial("fam", "ort-cpu", "silu_1", "silu", "standard:relu", 9.0, 2.0, False, "t"),
                Trial("other", "ort-cpu", "silu_0", "silu", "standard:relu", 1.0, None, True, "t"),
            ]
        )
    with LatencyDB(path) as db:  # reopened: on disk
        got = db.trials("fam", "ort-cpu")
        assert [(t.site, t.recovered, t.after) for t in got] == [
            ("silu_0", True, 0.5),
            ("silu_1", False, 2.0),
        ]
        assert db.trials("fam", "openvino-cpu") == []


def test_a_failure_stands_only_for_as_strict_a_budget_and_no_more_data() -> None:
    strict = json.dumps(Budget(min_cosine=0.999).to_dict())
    how = "train=all augment=none epochs=30 lr=0.001"
    t = Trial("fam", "ort-cpu", "silu_0", "silu", "standard:relu", 9.0, 2.0, False, "t", 0.0,
              strict, 256, how)  # fmt: skip
    assert failure_stands(t, Budget(min_cosine=0.999), 256, how)
    assert failure_stands(t, Budget(min_cosine=0.9999, max_drop=1.0), 100, how)  # stricter
    assert not failure_stands(t, Budget(min_cosine=0.999), 256, how.replace("none", "mixup"))
    assert not failure_stands(t, Budget(min_cosine=0.999), 1024, how)  # more data: tried again
    assert not failure_stands(t, Budget(min_cosine=0.99), 256, how)  # looser: tried again
    assert not failure_stands(t, Budget(max_drop=1.0), 256, how)  # another kind of budget
    ok = Trial("fam", "ort-cpu", "silu_0", "silu", "standard:relu", 3.0, 0.5, True, "t", 0.0,
               strict, 256)  # fmt: skip
    assert not failure_stands(ok, Budget(min_cosine=0.999), 1)
    old = Trial("fam", "ort-cpu", "silu_0", "silu", "standard:relu", 9.0, 2.0, False, "t")
    assert not failure_stands(old, Budget(min_cosine=0.999), 1)  # unrecorded data: tried again


def test_a_failure_recorded_by_other_retraining_code_is_tried_again(monkeypatch) -> None:
    """The retraining key names the code that retrained (a digest of the training loop, the
    distillation and the interpreter's sources, and torch's version): a failure recorded
    before that code changed (an edit, a release) no longer stands; one recorded by this code
    does."""
    from rewriter.plan import recover

    now = recover.retraining_key("all", "none", "constant", 30, 1e-3)
    assert now.startswith("train=all augment=none epochs=30 lr=0.001 code=")
    assert recover.retraining_key("all", "none", "onecycle", 30, 1e-3) == now.replace(
        " code=", " schedule=onecycle code="
    )
    strict = json.dumps(Budget(min_cosine=0.999).to_dict())
    t = Trial("fam", "ort-cpu", "silu_0", "silu", "standard:relu", 9.0, 2.0, False, "t", 0.0,
              strict, 256, now)  # fmt: skip
    assert failure_stands(t, Budget(min_cosine=0.999), 256, now)
    monkeypatch.setattr(recover, "RETRAINING_MODULES", recover.RETRAINING_MODULES[:-1])
    changed = recover.retraining_key("all", "none", "constant", 30, 1e-3)
    assert changed != now and not failure_stands(t, Budget(min_cosine=0.999), 256, changed)


def test_a_database_from_before_budget_and_samples_gains_the_columns(tmp_path) -> None:
    import sqlite3

    path = str(tmp_path / "old.sqlite")
    with sqlite3.connect(path) as c:
        c.execute(
            "CREATE TABLE trials (family TEXT NOT NULL, runtime TEXT NOT NULL, site TEXT NOT "
            "NULL, function TEXT NOT NULL, candidate TEXT NOT NULL, before REAL NOT NULL, after "
            "REAL, recovered INTEGER NOT NULL, target TEXT NOT NULL, created REAL NOT NULL, "
            "PRIMARY KEY (family, runtime, site, candidate))"
        )
        c.execute(
            "INSERT INTO trials VALUES ('fam', 'ort-cpu', 'silu_0', 'silu', 'standard:relu', "
            "9.0, 2.0, 0, 't', 1.0)"
        )
    with LatencyDB(path) as db:
        (t,) = db.trials("fam", "ort-cpu")
        assert (t.site, t.recovered, t.budget, t.samples, t.retraining) == (
            "silu_0",
            False,
            "{}",
            0,
            "",
        )
        db.put_trials([Trial("fam", "ort-cpu", "silu_1", "silu", "standard:relu", 9.0, None,
                             False, "t", 0.0, '{"min_cosine": 0.999}', 64)])  # fmt: skip
    with LatencyDB(path) as db:
        got = {t.site: (t.budget, t.samples) for t in db.trials("fam", "ort-cpu")}
        assert got == {"silu_0": ("{}", 0), "silu_1": ('{"min_cosine": 0.999}', 64)}


def _conv_net(width: int, act: str) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((width, 1, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
    if act == "silu":
        nodes += [
            helper.make_node("Sigmoid", ["c"], ["s"]),
            helper.make_node("Mul", ["c", "s"], ["y"]),
        ]
    else:
        nodes += [helper.make_node("Tanh", ["c"], ["y"])]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    return helper.make_model(g)


def test_family_is_shared_by_widths_not_by_architectures() -> None:
    a, b, c = _conv_net(4, "silu"), _conv_net(16, "silu"), _conv_net(4, "tanh")
    assert family_of(a, ["silu"]) == family_of(b, ["silu"])
    assert family_of(a, ["silu"]) != family_of(c, ["tanh"])


def test_recover_needs_a_budget_and_calibration(tmp_path, capsys) -> None:
    out = str(tmp_path / "o.onnx")
    assert main([DIGITS, "--target", "ort-cpu:threads=1", "--recover", "-o", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--recover needs an accuracy budget" in err[0]
    argv = [DIGITS, "--target", "ort-cpu:threads=1", "--recover", "--min-cosine", "0.99"]
    assert main([*argv, "-o", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --calibration" in err[0]
    assert not os.path.exists(out)


def test_budget_is_the_contract_verified_on_held_out_data(tmp_path, capsys) -> None:
    """A --min-cosine plan is no longer refused by the default --tolerance (a different
    measure on other inputs): the budget, verified on held-out calibration samples, decides."""
    out, rep = str(tmp_path / "o.onnx"), str(tmp_path / "r.json")
    argv = [DIGITS, "--target", "ort-cpu:threads=1", "--calibration", DIGITS_DATA]
    argv += ["--min-cosine", "0.99", "--allow-standard", "--db", str(tmp_path / "db.sqlite")]
    assert main([*argv, "-o", out, "--report", rep, "-q"]) == 0
    r = json.load(open(rep))
    b = r["plan"]["budget"]
    assert "held-out sample(s) of" in b["verified_on"] and b["within_budget"] is True
    assert b["verified"]["cosine"] >= 0.99
    assert r["verification"]["contract"] == "budget"
    assert "backoff" not in r
    onnx.checker.check_model(onnx.load(out), full_check=True)


def _silu_then_custom(path: str) -> None:
    """Conv -> SiLU -> com.microsoft.FusedConv (a 1x1 Conv with its Clip, as ONNX Runtime's
    optimizer writes it; a FusedConv of an activation the loader writes as an ONNX op is split
    into the Conv and it, a Clip stays fused): ONNX Runtime runs it, the ONNX-to-torch
    interpreter does not, so --recover must plan without retraining, not fail."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 16, 1, 1)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c"], ["s"]),
        helper.make_node("Mul", ["c", "s"], ["y"]),
        helper.make_node(
            "FusedConv",
            ["y", "w2"],
            ["out"],
            domain="com.microsoft",
            activation="Clip",
            activation_params=[0.0, 6.0],
        ),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 32, 32])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 16, 32, 32])],
        [w, w2],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    m = helper.make_model(g, opset_imports=opsets)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def test_recover_on_a_model_it_cannot_retrain_says_so_and_keeps_what_breaks_the_budget(
    tmp_path, capsys
) -> None:
    """ReLU is cheaper (a latency table, so the retraining attempt happens on any machine) but
    breaks a cosine-0.999999 budget; the FusedConv stops the ONNX-to-torch interpreter: the plan says
    why it did not retrain, keeps the site, and holds the budget on held-out data."""
    from rewriter.accuracy.latency import TableLatency
    from rewriter.plan import plan_recover
    from rewriter.report import print_recover

    src = str(tmp_path / "m.onnx")
    _silu_then_custom(src)
    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    lat = TableLatency({}, base=10.0, default={"keep": 1.0, "standard:relu": 0.5, "": 2.0})
    plan = plan_recover(
        src,
        "pau_all",
        None,
        [{"x": x[i : i + 8]} for i in range(0, 32, 8)],
        min_cosine=0.999999,
        allow_standard=True,
        latency=lat,
        db=str(tmp_path / "db.sqlite"),
        progress=False,
    )
    rec = plan.recover
    assert rec.runs == 0 and not rec.retrained
    assert rec.cannot_retrain is not None and "FusedConv" in rec.cannot_retrain
    assert [a.outcome for a in rec.attempts] == ["over budget"]
    assert rec.attempts[0].assignment == {"silu_0": "standard:relu"}
    assert not plan.replaced
    b = plan.budget
    assert b is not None and b.budget.feasible(b.check, b.base_accuracy)
    print_recover(plan)
    printed = " ".join(capsys.readouterr().out.split())  # the table wraps long lines
    assert f"not retrained: {rec.cannot_retrain}" in printed
    # nothing was retrained, so nothing is recorded as "does not recover" for the family
    from rewriter.cost.db import LatencyDB

    assert not [t for t in LatencyDB(str(tmp_path / "db.sqlite")).all_trials() if not t.recovered]


def test_the_nearest_miss_names_the_budget_it_would_meet() -> None:
    from rewriter.plan.recover import Attempt, nearest_miss
    from rewriter.verify import Deviation, OutputDiff

    def dev(cos: float, rel: float, acc: float | None = None) -> Deviation:
        return Deviation([OutputDiff("y", 1.0, rel, cos)], acc)

    b = Budget(min_cosine=0.999)
    attempts = [
        Attempt({"a": "relu", "b": "relu"}, dev(0.9, 0.3), dev(0.98, 0.1), 100.0, 20.0, None,
                "over budget"),
        Attempt({"a": "relu"}, dev(0.995, 0.05), dev(0.99782, 0.02), 5.0, 2.18, None,
                "over budget"),
        Attempt({"b": "relu"}, dev(0.997, 0.04), None, 3.0, None, None, "out of runs"),
    ]  # fmt: skip
    n = nearest_miss(attempts, b, None)
    assert n is not None and n["attempt"] == 2 and n["assignment"] == {"a": "relu"}
    assert n["would_meet"] == "--min-cosine 0.99782" and n["retrained"]
    assert n["usage"] == pytest.approx((1 - 0.99782) / 0.001)
    both = Budget(max_drop=0.5, max_rel_error=0.01)
    attempts[0].after = dev(0.98, 0.1, 90.0)
    attempts[1].after = dev(0.99782, 0.0213, 97.25)
    n = nearest_miss(attempts[:2], both, 98.0)
    assert n is not None and n["would_meet"] == "--max-rel-error 0.0213 --max-drop 0.75"
    assert nearest_miss(attempts[2:], b, None)["attempt"] == 1  # not retrained for want of runs
    assert nearest_miss([], b, None) is None


def test_a_family_tried_before_starts_at_what_it_kept_plus_one() -> None:
    from rewriter.plan.recover import first_size

    strict = json.dumps(Budget(min_cosine=0.999).to_dict())
    loose = json.dumps(Budget(min_cosine=0.99).to_dict())

    def t(site: str, ok: bool, budget: str = strict) -> Trial:
        return Trial("f", "ort-cpu", site, "silu", "standard:relu", 5.0, 2.0, ok, "t", 0.0,
                     budget, 256)  # fmt: skip

    ranked = [f"silu_{i}" for i in range(14)]
    b = Budget(min_cosine=0.999)
    assert first_size([], ranked, b) == 14  # a new family: everything first
    assert first_size([t("silu_1", False)], ranked, b) == 1  # it kept nothing: one site
    kept = [t("silu_0", True), t("silu_2", True), t("silu_5", False)]
    assert first_size(kept, ranked, b) == 3
    assert first_size([t(s, True) for s in ranked], ranked, b) == 14
    # what failed under a stricter budget may pass a looser one: start from all; what failed
    # under a looser one fails a stricter one too
    assert first_size([t("silu_1", False)], ranked, Budget(min_cosine=0.99)) == 14
    assert first_size([t("silu_1", False, loose)], ranked, b) == 1
    assert first_size([t("silu_1", False)], ranked, Budget(max_drop=1.0)) == 14
    assert first_size([t("silu_1", False)], [], b) == 0


def test_db_trials_lists_what_recover_learned(tmp_path, capsys) -> None:
    path = str(tmp_path / "lat.sqlite")
    budget = json.dumps(Budget(min_cosine=0.999).to_dict())
    with LatencyDB(path) as db:
        db.put_trials(
            [
                Trial("fam", "ort-cpu", "silu_1", "silu", "standard:relu", 4.71, 2.06, False, "t",
                      0.0, budget, 768, "train=all augment=none epochs=30 lr=0.001"),
                Trial("fam", "ort-cpu", "silu_0", "silu", "standard:relu", 3.0, 0.5, True, "t"),
            ]
        )  # fmt: skip
    assert main(["db", "trials", "--db", path]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 replacement(s) tried by --recover" in out
    assert "4.71 -> 2.06" in out and "min_cosine 0.999" in out and "768" in out
    assert main(["db", "trials", "--db", path, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [(t["site"], t["recovered"]) for t in got] == [("silu_0", True), ("silu_1", False)]


def _runs(n: int, start: int, longest: int) -> tuple[int, int]:
    """(attempts, prefix found) of a PrefixSearch where every prefix up to ``longest`` sites
    recovers and no longer one does (retraining's outcome is monotone in this model)."""
    from rewriter.plan.recover import PrefixSearch

    s, tries = PrefixSearch(n, start), 0
    while not s.done():
        tries += 1
        s.record(s.k <= longest)
    return tries, s.lo


def test_prefix_search_from_a_record_tries_its_neighbour_next() -> None:
    n = 14
    for longest in range(n + 1):  # from scratch: plain bisection, the longest prefix found
        tries, found = _runs(n, n, longest)
        assert found == longest and tries <= 5
    for start in range(1, n):
        for longest in range(n + 1):
            tries, found = _runs(n, start, longest)
            assert found == longest, (start, longest)
            if longest == n:  # a sibling recovers everything: the record, then all
                assert tries == 2, (start, tries)
            if longest == start - 1:  # the same as the record: one site more, then the record
                assert tries == (1 if start == 1 else 2), (start, tries)
            assert tries <= _runs(n, n, longest)[0] + 2  # never much worse than from scratch


def test_recover_with_an_in_memory_database_writes_no_file(tmp_path, monkeypatch) -> None:
    """``--db :memory:`` is no database; --recover opened one at the path ":memory:" of the
    working directory and kept its trials there."""
    from rewriter.accuracy.latency import TableLatency
    from rewriter.plan import plan_recover

    monkeypatch.chdir(tmp_path)
    src = str(tmp_path / "m.onnx")
    _silu_then_custom(src)
    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    lat = TableLatency({}, base=10.0, default={"keep": 1.0, "standard:relu": 0.5, "": 2.0})
    batches = [{"x": x[i : i + 8]} for i in range(0, 32, 8)]
    plan = plan_recover(
        src, "pau_all", None, batches, min_cosine=0.999999, allow_standard=True, latency=lat,
        db=":memory:", progress=False,
    )  # fmt: skip
    assert plan.recover.attempts and sorted(os.listdir(tmp_path)) == ["m.onnx"]
