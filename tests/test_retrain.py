"""Retraining a rewritten ONNX model end to end (`rewrite finetune --mode distill --train ...`)."""

from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

import rewriter
from rewriter.api import rewrite_onnx
from rewriter.candidates import Candidate
from rewriter.cli import main
from rewriter.emit import emit_result
from rewriter.errors import ModelError
from rewriter.ir import run_model
from rewriter.ir.graph import subgraph_attrs
from rewriter.tune.e2e import (
    COEFFICIENT,
    finetune_e2e,
    for_training,
    site_outputs,
    split_labels,
    trainable_initializers,
)
from rewriter.tune.refit import compare_over

sys.path.insert(0, os.path.dirname(__file__))
from accuracy_models import make_model  # noqa: E402
from conftest import loop_scan_model  # noqa: E402
from onnx_models import text_tfidf_model, zipmap_mlp  # noqa: E402


def _relu_student(teacher: onnx.ModelProto) -> onnx.ModelProto:
    """GELU and SiLU replaced by ReLU: a coarse swap with something to win back."""
    return emit_result(teacher, lambda s: Candidate("standard", "standard:relu", op="relu")).model


@pytest.fixture(scope="module")
def mlp():
    teacher = make_model()
    rng = np.random.default_rng(0)
    batches = [{"x": rng.normal(0, 1.5, (32, 8)).astype(np.float32)} for _ in range(10)]
    return teacher, batches


def _inits(m: onnx.ModelProto) -> dict[str, bytes]:
    return {t.name: t.SerializeToString() for t in m.graph.initializer}


def test_what_each_train_choice_trains(mlp) -> None:
    teacher, _ = mlp
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    coeffs = trainable_initializers(student, "coefficients")
    assert coeffs and all(COEFFICIENT.match(n) for n in coeffs)
    assert trainable_initializers(student, "weights") == ["w1", "w2", "w3"]
    assert set(trainable_initializers(student, "all")) == set(coeffs) | {"w1", "w2", "w3"}
    # clip bounds and gates of the rationals are never trained
    assert not any(n.endswith(("clip_hi", "clip_lo", "g0")) for n in coeffs)
    assert site_outputs(student, teacher) == {"gelu_0": "a1", "silu_0": "a2"}


def test_train_all_wins_back_a_relu_swap_and_keeps_the_graph(mlp) -> None:
    teacher, batches = mlp
    student = _relu_student(teacher)
    tuned, history = finetune_e2e(student, teacher, batches, train="all", epochs=15, lr=3e-3)
    h = history.heldout
    assert h is not None and h.batches == 2 and h.of_batches == 10 and h.note is None
    assert h.after.rel_l2 < 0.7 * h.before.rel_l2
    before, after = compare_over(teacher, [student, tuned], [batches[i] for i in range(10)])
    assert after.rel_l2 < before.rel_l2
    assert history.trained == ["w1", "w2", "w3"] and history.sites == {
        "gelu_0": "a1",
        "silu_0": "a2",
    }
    assert [n.SerializeToString() for n in tuned.graph.node] == [
        n.SerializeToString() for n in student.graph.node
    ]
    old, new = _inits(student), _inits(tuned)
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in ("w1", "w2", "w3"))
    onnx.checker.check_model(tuned, full_check=True)


def test_weights_leave_coefficients_and_coefficients_leave_weights(mlp) -> None:
    teacher, batches = mlp
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    w, _ = finetune_e2e(student, teacher, batches, train="weights", epochs=2, lr=1e-4)
    c, _ = finetune_e2e(student, teacher, batches, train="coefficients", epochs=2, lr=1e-4)
    old, nw, nc = _inits(student), _inits(w), _inits(c)
    assert all(nw[k] == old[k] for k in old if COEFFICIENT.match(k))
    assert any(nw[k] != old[k] for k in ("w1", "w2", "w3"))
    assert all(nc[k] == old[k] for k in ("w1", "w2", "w3"))
    assert all(
        (numpy_helper.to_array(t) >= 0).all()
        for t in c.graph.initializer
        if (hit := COEFFICIENT.match(t.name)) and hit.group(1) == "q"
    )


def test_same_inputs_and_seed_give_the_same_bytes(mlp) -> None:
    teacher, batches = mlp
    student = _relu_student(teacher)
    a, _ = finetune_e2e(student, teacher, batches, train="all", epochs=3, seed=3)
    b, _ = finetune_e2e(student, teacher, batches, train="all", epochs=3, seed=3)
    c, _ = finetune_e2e(student, teacher, batches, train="all", epochs=3, seed=4)
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
    assert a.SerializeToString() != c.SerializeToString()


def test_labels_add_accuracy_to_the_heldout_report(mlp) -> None:
    teacher, batches = mlp
    student = _relu_student(teacher)
    logits = np.concatenate([np.asarray(v) for v in compare_outputs(teacher, batches)])
    labels = logits.argmax(1)
    assert [len(y) for y in split_labels(labels, batches)] == [32] * 10
    _, history = finetune_e2e(student, teacher, batches, train="all", epochs=2, labels=labels)
    h = history.heldout
    assert h is not None and h.teacher_accuracy == 100.0
    assert h.before.accuracy is not None and h.after.accuracy is not None
    with pytest.raises(rewriter.errors.UsageError, match="labels for 320"):
        split_labels(labels[:5], batches)
    # samples on axis 1 (a sequence-first input): labels split by that axis's sizes
    seq_first = [{"x": np.zeros((7, 4, 2))}, {"x": np.zeros((7, 6, 2))}]
    got = split_labels(np.arange(10), seq_first, {"x": 1})
    assert [y.tolist() for y in got] == [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]


def compare_outputs(model: onnx.ModelProto, batches) -> list[np.ndarray]:
    from rewriter.ir.runtime import run_values

    return [v["y"] for v in run_values(model, ["y"], batches)]


def test_nothing_to_train_is_one_clear_error(mlp) -> None:
    teacher, batches = mlp
    with pytest.raises(ModelError, match="no rational coefficients"):
        finetune_e2e(teacher, teacher, batches, train="coefficients", epochs=1)


def _fused_model() -> onnx.ModelProto:
    """x -> com.microsoft.CDist -> Tanh: ONNX Runtime runs it, the interpreter does not."""
    from onnx import TensorProto, helper

    w = numpy_helper.from_array(np.full((8, 8), 0.1, np.float32), "w")
    g = helper.make_graph(
        [
            helper.make_node(
                "CDist", ["x", "w"], ["h"], domain="com.microsoft", metric="euclidean"
            ),
            helper.make_node("Tanh", ["h"], ["y"]),
        ],
        "fused",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [w],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    m = helper.make_model(g, opset_imports=opsets)
    m.ir_version = 8
    return m


def test_unsupported_ops_are_named_for_retraining(mlp) -> None:
    _, batches = mlp
    m = _fused_model()
    with pytest.raises(
        ModelError, match="^student: com.microsoft.CDist is not supported for retraining"
    ):
        finetune_e2e(m, m, batches, train="weights", epochs=1)


def _tanh_then_fused() -> onnx.ModelProto:
    """x -> Tanh -> com.microsoft.CDist -> y: the site sits in what only ONNX Runtime
    runs, so that front differs between student and teacher and cannot be run for both."""
    m = _fused_model()
    nodes = list(m.graph.node)
    nodes[0].input[0], nodes[0].output[0] = "t", "y"
    nodes[1].input[0], nodes[1].output[0] = "x", "t"
    del m.graph.node[:]
    m.graph.node.extend([nodes[1], nodes[0]])
    return m


def test_a_front_onnx_runtime_runs_freezes_its_weights(mlp, tmp_path, capsys) -> None:
    """CDist then the Tanh site: ONNX Runtime runs the CDist for both models, its
    weight is not trained (and the line says so), and the rational after it is."""
    _, batches = mlp
    teacher = _fused_model()
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(student, tmp_path / "s.onnx")
    np.savez(tmp_path / "cal.npz", x=np.concatenate([b["x"] for b in batches]))
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill", "--train", "all"]
    code = main(args + ["-o", str(tmp_path / "o.onnx")])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "ONNX Runtime ran the 1 node(s) the interpreter does not cover (CDist)" in out
    assert "not trained there: w" in out
    tuned = {t.name: t for t in onnx.load(tmp_path / "o.onnx").graph.initializer}
    assert tuned["w"].SerializeToString() == next(
        t.SerializeToString() for t in student.graph.initializer if t.name == "w"
    )


def test_cli_unsupported_ops_are_one_line(mlp, tmp_path, capsys) -> None:
    _, batches = mlp
    teacher = _tanh_then_fused()
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(student, tmp_path / "s.onnx")
    np.savez(tmp_path / "cal.npz", x=batches[0]["x"])
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill"]
    code = main(args + ["-o", str(tmp_path / "o.onnx")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0, err
    assert "CDist is not supported for retraining" in err and "--mode layerwise" in err
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize(
    ("name", "train"), [("gru_state", "all"), ("crnn_lstm", "all"), ("quant_mlp", "all")]
)
def test_recurrent_and_dynamically_quantized_models_retrain(zoo_paths, name, train) -> None:
    """A GRU with its state input and a CRNN's bidirectional 2-layer LSTM (weights and
    rationals trained through every time step), and an ONNX Runtime quantize_dynamic MLP (its int8 weights stay; the float biases, if any, and
    the rationals train through DynamicQuantizeLinear's straight-through rounding)."""
    from rewriter.inputs import generate_inputs

    teacher = onnx.load(zoo_paths[name])
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    batches = [generate_inputs(teacher, seed=k).feeds for k in range(8)]
    tuned, history = finetune_e2e(student, teacher, batches, train=train, epochs=6, lr=3e-3)
    h = history.heldout
    assert h is not None and history.trained
    assert h.after.rel_l2 < h.before.rel_l2, (h.before, h.after)
    assert [n.SerializeToString() for n in tuned.graph.node] == [
        n.SerializeToString() for n in student.graph.node
    ]
    before, after = compare_over(teacher, [student, tuned], batches)
    assert after.rel_l2 < before.rel_l2


def test_a_loop_body_retrains_its_own_rationals_and_the_weight_it_reads() -> None:
    """A recurrence written as a Loop (tf2onnx writes a Keras GRU so): its body's rationals are
    the body's own initializers, its weight the main graph's; both train, and each is written
    back where it lives. Coefficients two bodies hold under one name (the Loop's and the
    Scan's tanh) are left alone: written back by name, they would be trained for one."""
    rng = np.random.default_rng(0)
    teacher = loop_scan_model()
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model

    def body(m: onnx.ModelProto, op: str) -> onnx.GraphProto:
        return dict(subgraph_attrs(next(n for n in m.graph.node if n.op_type == op)))["body"]

    def coeffs(g: onnx.GraphProto) -> dict[str, bytes]:
        return {t.name: t.SerializeToString() for t in g.initializer if COEFFICIENT.match(t.name)}

    loop, scan = coeffs(body(student, "Loop")), coeffs(body(student, "Scan"))
    own, shared = set(loop) - set(scan), set(loop) & set(scan)
    assert own and shared and not own & {t.name for t in student.graph.initializer}
    names = set(trainable_initializers(student, "all"))
    assert own <= names and "w" in names and not shared & names
    batches = [
        {
            "x": rng.normal(0, 1.5, (16, 6)).astype(np.float32),
            "xs": rng.normal(0, 1.5, (5, 16, 6)).astype(np.float32),
        }
        for _ in range(6)
    ]
    tuned, history = finetune_e2e(student, teacher, batches, train="all", epochs=8, lr=3e-3)
    h = history.heldout
    assert h is not None and h.after.rel_l2 < h.before.rel_l2
    assert _inits(student) != _inits(tuned)  # w, in the main graph
    new_loop = coeffs(body(tuned, "Loop"))
    assert all(new_loop[n] != loop[n] for n in own)
    assert all(new_loop[n] == loop[n] for n in shared)
    assert coeffs(body(tuned, "Scan")) == scan
    onnx.checker.check_model(tuned, full_check=True)


def test_cli_distill_all_with_labels(mlp, tmp_path, capsys) -> None:
    teacher, batches = mlp
    student = _relu_student(teacher)
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(student, tmp_path / "s.onnx")
    x = np.concatenate([b["x"] for b in batches])
    labels = np.concatenate(compare_outputs(teacher, batches)).argmax(1)
    np.savez(tmp_path / "cal.npz", x=x, labels=labels)
    before = (tmp_path / "s.onnx").read_bytes()
    outs = []
    for k in range(2):
        out = tmp_path / f"tuned{k}.onnx"
        args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
        args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill"]
        args += ["--train", "all", "--epochs", "4", "--seed", "1", "-o", str(out)]
        args += ["--report", str(tmp_path / "r.json")]
        code = main(args)
        captured = capsys.readouterr()
        assert code == 0, captured.err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and (tmp_path / "s.onnx").read_bytes() == before
    # stderr is not a terminal here (a log, a pipe): no progress bar redrawn with "\r"
    assert "\r" not in captured.err and "it/s" not in captured.err, captured.err
    assert "held-out split, 2 of 10 batch(es), 64 sample(s)" in captured.out
    assert "held-out accuracy: teacher 100.00%" in captured.out
    # a written model says what is known of its speed: the student's nodes, not measured
    assert "speed not measured: " in captured.out and "as fast as the student" in captured.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["train"] == "all" and report["heldout"]["samples"] == 64
    assert report["heldout"]["after"]["accuracy"] is not None and report["augment"] == "none"
    onnx.checker.check_model(onnx.load(tmp_path / "tuned0.onnx"), full_check=True)
    mixed = tmp_path / "mixed.onnx"
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill", "--augment"]
    args += ["mixup", "--epochs", "4", "--seed", "1", "-o", str(mixed), "--report"]
    assert main([*args, str(tmp_path / "m.json")]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["augment"] == "mixup" and mixed.read_bytes() != outs[0]
    assert report["heldout"]["after"]["rel_l2"] < report["heldout"]["before"]["rel_l2"]


def test_cli_rejects_train_with_layerwise(mlp, tmp_path, capsys) -> None:
    teacher, _ = mlp
    onnx.save(teacher, tmp_path / "t.onnx")
    args = ["finetune", str(tmp_path / "t.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    code = main(args + ["--train", "all", "-o", str(tmp_path / "o.onnx")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "--mode distill" in err


def test_api_distill_defaults_to_all_and_reads_npz_labels(mlp, tmp_path) -> None:
    teacher, batches = mlp
    student = _relu_student(teacher)
    x = np.concatenate([b["x"] for b in batches])
    np.savez(tmp_path / "cal.npz", x=x, labels=np.zeros(len(x), np.int64))
    tuned = rewriter.finetune(student, teacher, str(tmp_path / "cal.npz"), mode="distill", epochs=1)
    assert tuned.mode == "distill" and tuned.heldout.after.accuracy is not None
    assert tuned.history.trained == ["w1", "w2", "w3"]


def test_torch_student_retrains_every_weight() -> None:
    from rewriter.frontends.fx import rewrite_module

    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
    student, _ = rewrite_module(teacher, "pau_all", degrees=(3, 2))
    before = [p.detach().clone() for p in student.parameters()]
    data = [torch.randn(8, 4) * 2 for _ in range(4)]
    history = rewriter.finetune(student, teacher, data, train="all", epochs=2, progress=False)
    assert len(history) == 2
    after = list(student.parameters())
    moved = [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]
    assert history[0]["best"] is False or all(moved)
    w = rewriter.finetune(student, teacher, data, train="weights", epochs=1, progress=False)
    assert len(w) == 1


def test_labels_need_logits() -> None:
    teacher = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[N, 2, 4] x) => (float[N, 2, 4] y) { y = Tanh(x) }
        """
    )
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    batches = [{"x": np.ones((3, 2, 4), np.float32)}] * 2
    with pytest.raises(rewriter.errors.UsageError, match="labels need logits"):
        finetune_e2e(student, teacher, batches, train="all", labels=np.zeros(6, np.int64))


@pytest.mark.parametrize("name", ["gpt2_torchscript", "yolo_silu", "reflect_pad"])
def test_zoo_models_retrain_end_to_end(zoo_paths, name) -> None:
    from rewriter.calibrate import load_calibration

    teacher = onnx.load(zoo_paths[name])
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    cal = load_calibration(None, teacher, seeds=3)
    tuned, history = finetune_e2e(student, teacher, cal.batches, train="all", epochs=1, lr=1e-4)
    assert history.trained and history.sites and history.heldout is not None
    assert history.heldout.after.rel_l2 <= history.heldout.before.rel_l2 * (1 + 1e-6)
    assert [n.SerializeToString() for n in tuned.graph.node] == [
        n.SerializeToString() for n in student.graph.node
    ]
    onnx.checker.check_model(tuned, full_check=True)


def test_a_float16_student_trains_in_float32_master_weights(zoo_paths) -> None:
    # ONNX Runtime's float16 converter output (the zoo's fp16_cnn): Adam on the float16
    # weights themselves gave NaN at the first step, and --recover reported "budget used
    # 9.31 -> 9.31" after every retraining run
    from rewriter.tune.e2e import finetune_e2e

    teacher = onnx.load(zoo_paths["fp16_cnn"])
    student = emit_result(
        teacher, {"silu_0": Candidate("standard", "standard:relu", op="relu")}
    ).model
    x = np.random.default_rng(0).standard_normal((96, 3, 32, 32)).astype(np.float32)
    batches = [{"input": x[i : i + 32]} for i in range(0, 96, 32)]
    tuned, hist = finetune_e2e(student, teacher, batches, train="all", epochs=4, seed=0)
    assert all(np.isfinite(h["loss"]) and np.isfinite(h["val_loss"]) for h in hist)
    assert any(h["best"] for h in hist)
    before = {t.name: numpy_helper.to_array(t) for t in student.graph.initializer}
    after = {t.name: numpy_helper.to_array(t) for t in tuned.graph.initializer}
    w = "c1.weight"
    assert after[w].dtype == np.float16 and not np.array_equal(after[w], before[w])
    assert hist.heldout.after.cosine > hist.heldout.before.cosine
    onnx.checker.check_model(tuned, full_check=True)


def test_cli_says_when_no_epoch_beat_the_student(mlp, tmp_path, capsys) -> None:
    """A student that matches its teacher already (here: its own teacher): nothing to win, and
    the output says the values are the student's (it printed the unchanged numbers and 'wrote'
    as if it had trained)."""
    teacher, batches = mlp
    onnx.save(teacher, tmp_path / "t.onnx")
    assert main([str(tmp_path / "t.onnx"), "-q", "-o", str(tmp_path / "s.onnx")]) == 0
    np.savez(tmp_path / "cal.npz", x=np.concatenate([b["x"] for b in batches]))
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "s.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill", "--epochs", "2"]
    assert main([*args, "-o", str(tmp_path / "o.onnx")]) == 0
    out = capsys.readouterr().out
    assert "no epoch did better than the student" in out and "unchanged" in out
    assert _inits(onnx.load(tmp_path / "o.onnx")) == _inits(onnx.load(tmp_path / "s.onnx"))
    onnx.save(_relu_student(teacher), tmp_path / "relu.onnx")  # a ReLU swap trains: no line
    args[1], args[3] = str(tmp_path / "relu.onnx"), str(tmp_path / "t.onnx")
    assert main([*args, "-o", str(tmp_path / "o2.onnx")]) == 0
    assert "no epoch did better" not in capsys.readouterr().out


def test_a_classifier_with_label_and_zipmap_outputs_retrains(tmp_path, capsys) -> None:
    """scikit-learn classifiers as skl2onnx writes them: an int64 label through ArgMax and
    ArrayFeatureExtractor, probabilities as ZipMap's maps. Neither is a float tensor the loss
    reads, and the interpreter has no ai.onnx.ml ops, so retraining was refused ("ZipMap,
    ArrayFeatureExtractor are not supported for retraining"). It now distils towards ZipMap's
    float input and writes both outputs back unchanged in form."""
    teacher = zipmap_mlp()
    cut, dropped = for_training(teacher)
    assert [n.op_type for n in cut.graph.node] == ["MatMul", "Tanh", "MatMul", "Softmax"]
    assert [o.name for o in cut.graph.output] == ["p"] and dropped == [
        "label",
        "output_probability",
    ]
    student = _relu_student(teacher)  # Tanh -> Relu: something to win back
    assert "Relu" in [n.op_type for n in student.graph.node]
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(student, tmp_path / "s.onnx")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((320, 8)).astype(np.float32)
    labels = run_model(teacher, {"X": x})[0]  # the teacher's own label output: 100% for it
    np.savez(tmp_path / "cal.npz", X=x, labels=labels)
    out = tmp_path / "tuned.onnx"
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill", "--epochs", "30"]
    args += ["--seed", "0", "-o", str(out), "--report", str(tmp_path / "r.json")]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out_line = " ".join(captured.out.split())  # rich wraps long lines
    assert "distilled towards 'p'; left out (not float tensors, or outputs that pick" in out_line
    assert "boxes): 'label', 'output_probability'" in out_line
    # accuracy from the label output (the argmax of the first output, a [N] label vector read
    # as [N, 1], gave the share of class 0: "teacher 32.81%")
    assert "held-out accuracy: teacher 100.00%" in captured.out, captured.out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["outputs"] == ["p"] and r["dropped_outputs"] == ["label", "output_probability"]
    assert r["heldout"]["after"]["accuracy"] > r["heldout"]["before"]["accuracy"], r["heldout"]
    before, after = r["heldout"]["before"], r["heldout"]["after"]  # 0.81 -> 0.62 when written
    assert after["rel_l2"] < 0.85 * before["rel_l2"] and after["cosine"] > before["cosine"]
    tuned = onnx.load(out)
    assert [n.op_type for n in tuned.graph.node] == [n.op_type for n in student.graph.node]
    onnx.checker.check_model(tuned, full_check=True)
    x = {"X": rng.standard_normal((4, 8)).astype(np.float32)}
    label, probs = run_model(tuned, x)
    assert label.dtype == np.int64 and probs.shape == (4, 3)


def test_a_text_pipeline_retrains_after_the_front_onnx_runtime_runs(tmp_path, capsys) -> None:
    """A text column (StringNormalizer, Tokenizer, TfIdfVectorizer) in front of the layers: the
    interpreter has none of those ops, and distillation was refused ("StringNormalizer,
    TfIdfVectorizer, com.microsoft.Tokenizer are not supported for retraining"). ONNX Runtime now
    runs that front once per batch and the layers after it are trained on its TF-IDF features."""
    teacher = text_tfidf_model()
    student = _relu_student(teacher)  # Tanh -> Relu
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(student, tmp_path / "s.onnx")
    rng = np.random.default_rng(0)
    words = np.array(["cat", "dog", "ran", "sat", "the"])
    texts = np.array([[" ".join(rng.choice(words, rng.integers(1, 6)))] for _ in range(256)])
    np.savez(tmp_path / "cal.npz", text=texts)
    out = tmp_path / "tuned.onnx"
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill", "--train", "all"]
    args += ["--epochs", "40", "--seed", "0", "-o", str(out), "--report", str(tmp_path / "r.json")]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (
        "ONNX Runtime ran the 3 node(s) the interpreter does not cover (StringNormalizer, "
        "TfIdfVectorizer, Tokenizer) and the 2 they depend on; the rest was trained on what they "
        "make: 'tf'" in " ".join(captured.out.split())
    ), captured.out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["trained"] == ["w"] and r["front"]
    before, after = r["heldout"]["before"], r["heldout"]["after"]
    assert after["rel_l2"] < 0.9 * before["rel_l2"], r["heldout"]
    tuned = onnx.load(out)
    assert [n.op_type for n in tuned.graph.node] == [n.op_type for n in student.graph.node]
    inits = {t.name: t for t in tuned.graph.initializer}
    assert not np.array_equal(  # trained, and written back into the whole student
        onnx.numpy_helper.to_array(inits["w"]),
        onnx.numpy_helper.to_array(next(t for t in student.graph.initializer if t.name == "w")),
    )
    texts_out = run_model(tuned, {"text": texts[:4]})[0]
    assert texts_out.shape == (4, 4)


def test_a_model_with_a_quantized_output_distils_towards_the_float_it_quantizes(
    tmp_path, capsys
) -> None:
    """A full-integer TFLite model returns uint8 probabilities through a QuantizeLinear: no
    float output, so ``--mode distill`` said "student has no rational coefficients or float
    weight initializers", of a student that had both. It now reads the float the
    QuantizeLinear quantizes and wins the ReLU swap back on it."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "w1"], ["h"]),
            helper.make_node("Tanh", ["h"], ["t"]),
            helper.make_node("MatMul", ["t", "w2"], ["z"]),
            helper.make_node("Softmax", ["z"], ["p"], axis=1),
            helper.make_node("QuantizeLinear", ["p", "s", "zp"], ["probs"]),
        ],
        "q",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.UINT8, [None, 3])],
        [
            numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1"),
            numpy_helper.from_array(rng.standard_normal((16, 3)).astype(np.float32), "w2"),
            numpy_helper.from_array(np.array(1 / 255, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.uint8), "zp"),
        ],
    )
    teacher = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    cut, dropped = for_training(teacher)
    assert [o.name for o in cut.graph.output] == ["p"] and dropped == ["probs"]
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(_relu_student(teacher), tmp_path / "s.onnx")
    np.savez(tmp_path / "cal.npz", X=rng.standard_normal((320, 8)).astype(np.float32))
    args = ["finetune", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.onnx")]
    args += ["--calibration", str(tmp_path / "cal.npz"), "--mode", "distill", "--epochs", "20"]
    code = main([*args, "--seed", "0", "-o", str(tmp_path / "o.onnx")])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and "distilled towards 'p'" in out, out
    before, after = map(float, re.search(r"rel-L2 (\S+) -> (\S+),", out).groups())  # type: ignore[union-attr]
    assert after < 0.85 * before, out  # measured 0.774 -> 0.611
