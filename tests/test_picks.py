"""Outputs that pick (``rewriter.ir.picks``): a detector exported with its NonMaxSuppression, a
TopK, an ArgMax. Verification compared NonMaxSuppression's index triples as numbers ("'selected':
max-abs 136, cosine 0.83" where 0 of 3 boxes were the same) and an accuracy budget was judged on
them; retraining refused the detector (NonMaxSuppression is not in the ONNX-to-torch
interpreter). Now they are compared by agreement and judged on what they pick by."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rewriter.accuracy.evaluate import Evaluator
from rewriter.api import rewrite_onnx
from rewriter.cli import main
from rewriter.cost.torch_convert import OnnxModule
from rewriter.ir.picks import Pick, picks
from rewriter.ir.runtime import run_model
from rewriter.tune.e2e import finetune_e2e, for_training, force_picks
from rewriter.verify import compare, pick_diff


def _init(name: str, a: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(a), name)


def detector(iou: float = 0.3, threshold: float = 0.5) -> onnx.ModelProto:
    """Conv + SiLU (x * sigmoid(x)) + 1x1 head of 9 channels + Sigmoid, as a YOLO export's
    decoding: boxes ``[B, N, 4]`` (centre, size, scaled to pixels) and scores ``[B, 5, N]`` into
    NonMaxSuppression; outputs the kept boxes (GatherND) and the index triples. Batch dynamic."""
    rng = np.random.default_rng(0)
    inits = [
        _init("w1", rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.5),
        _init("w2", rng.standard_normal((9, 8, 1, 1)).astype(np.float32) * 0.5),
        _init("shape3", np.array([0, 9, -1], np.int64)),
        _init("s0", np.array([0], np.int64)),
        _init("s4", np.array([4], np.int64)),
        _init("s9", np.array([9], np.int64)),
        _init("ax1", np.array([1], np.int64)),
        _init("scale", np.array([16, 16, 6, 6], np.float32).reshape(1, 1, 4)),
        _init("maxo", np.array([20], np.int64)),
        _init("iou", np.array([iou], np.float32)),
        _init("thr", np.array([threshold], np.float32)),
        _init("cols", np.array([0, 2], np.int64)),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c1"], ["g1"]),
        helper.make_node("Mul", ["c1", "g1"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2"], ["c2"]),
        helper.make_node("Sigmoid", ["c2"], ["head"]),
        helper.make_node("Reshape", ["head", "shape3"], ["flat"]),
        helper.make_node("Slice", ["flat", "s0", "s4", "ax1"], ["xywh"]),
        helper.make_node("Slice", ["flat", "s4", "s9", "ax1"], ["scores"]),
        helper.make_node("Transpose", ["xywh"], ["unit"], perm=[0, 2, 1]),
        helper.make_node("Mul", ["unit", "scale"], ["boxes"]),
        helper.make_node(
            "NonMaxSuppression",
            ["boxes", "scores", "maxo", "iou", "thr"],
            ["selected"],
            center_point_box=1,
        ),
        helper.make_node("Gather", ["selected", "cols"], ["where"], axis=1),
        helper.make_node("GatherND", ["boxes", "where"], ["det_boxes"]),
    ]
    g = helper.make_graph(
        nodes,
        "detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [
            helper.make_tensor_value_info("det_boxes", TensorProto.FLOAT, ["num", 4]),
            helper.make_tensor_value_info("selected", TensorProto.INT64, ["num", 3]),
        ],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m, full_check=True)
    return m


def _images(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, 3, 16, 16)).astype(np.float32)


def _relu_site(model: onnx.ModelProto) -> onnx.ModelProto:
    """The SiLU replaced by a ReLU: a change that moves boxes and scores by a few percent."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [n for n in m.graph.node if n.output[0] not in ("g1", "a1")]
    keep.insert(1, helper.make_node("Relu", ["c1"], ["a1"]))
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def test_picking_outputs_and_their_sources_are_found() -> None:
    found = picks(detector())
    assert set(found) == {"det_boxes", "selected"}
    for p in found.values():
        assert p.ops == ("NonMaxSuppression",) and p.sources == ("boxes", "scores")
        assert p.counted and p.indices == ("selected",)


def _one_op_model(op: str, x_type: int, **attrs: object) -> onnx.ModelProto:
    """ids -> Reshape -> ``op``, or logits -> Tanh -> ``op`` (a computed float)."""
    nodes, inits = [], [_init("flat", np.array([1, -1], np.int64))]
    if x_type == TensorProto.FLOAT:
        nodes.append(helper.make_node("Tanh", ["x"], ["v"]))
    else:  # token ids, reshaped: no value a rewrite changes
        nodes.append(helper.make_node("Reshape", ["x", "flat"], ["v"]))
    outs = ["picked"]
    if op == "TopK":
        inits.append(_init("k", np.array([2], np.int64)))
        nodes.append(helper.make_node("TopK", ["v", "k"], ["top", "picked"]))
    elif op == "NonZero":
        inits.append(_init("half", np.array(0.5, np.float32)))
        nodes += [
            helper.make_node("Greater", ["v", "half"], ["mask"]),
            helper.make_node("NonZero", ["mask"], ["picked"]),
        ]
    else:
        nodes.append(helper.make_node(op, ["v"], ["picked"], **attrs))
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", x_type, [1, 6])],
        [helper.make_tensor_value_info(o, TensorProto.INT64, None) for o in outs],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op", ["ArgMax", "TopK", "NonZero"])
def test_picks_count_only_where_computed_floats_decide(op: str) -> None:
    """An ArgMax over token ids (reshaped: CLIP's pooling) picks the same rows in any rewrite;
    over computed values (through a comparison, for NonZero) it picks."""
    assert picks(_one_op_model(op, TensorProto.INT64, axis=1)) == {}
    got = picks(_one_op_model(op, TensorProto.FLOAT, axis=1))
    assert got == {"picked": Pick("picked", (op,), ("v",), op == "NonZero", ("picked",))}


def test_pick_diff_matches_items_in_any_order_and_counts_them() -> None:
    counted = Pick("selected", ("NonMaxSuppression",), ("boxes",), True)
    a = np.array([[0, 0, 5], [0, 1, 7], [0, 2, 9]], np.int64)
    d = pick_diff("selected", a, a[::-1].copy(), counted)
    assert d.agreement == 1.0 and d.items == (3, 3) and d.role == "picks"
    d = pick_diff("selected", a, np.array([[0, 1, 7], [0, 2, 8]], np.int64), counted)
    assert d.agreement == pytest.approx(1 / 3) and d.items == (3, 2)  # one of the larger count
    # float rows (gathered boxes): the same within 1e-3 of the peak, in any order
    boxes = np.array([[10.0, 20.0, 4.0, 4.0], [30.0, 5.0, 6.0, 2.0]], np.float32)
    moved = boxes[::-1] + np.float32(1e-4)
    assert pick_diff("b", boxes, moved, counted).agreement == 1.0
    assert pick_diff("b", boxes, boxes + np.float32(1.0), counted).agreement == 0.0
    # in place (labels, TopK indices): element by element
    labels = Pick("label", ("ArgMax",), ("probabilities",), False)
    d = pick_diff("label", np.array([3, 1, 4, 1]), np.array([3, 1, 4, 2]), labels)
    assert d.agreement == 0.75 and d.items == (4, 4)
    assert pick_diff("label", np.array([1, 2]), np.array([2, 1]), labels).agreement == 0.0


def test_pick_diff_matches_many_items_without_comparing_all_pairs() -> None:
    """A VITS waveform over the budget's 8 batches is 56,000 single values, matched all against
    all: 3e9 pairs, 92% of a 7-minute accuracy map. Single values are now matched sorted, in
    one sweep, and many rows through a k-d tree; the counts are those of matching all pairs."""
    counted = Pick("waveform", ("Cast",), ("durations",), True)
    rng = np.random.default_rng(0)
    wave = rng.standard_normal(56_000).astype(np.float32)
    moved = rng.permutation(wave + np.float32(1e-5))
    assert pick_diff("waveform", wave, moved, counted).agreement == 1.0
    off = moved.copy()
    off[:700] += 1.0  # some land near another value, unused: matched again
    assert 0.98 < pick_diff("waveform", wave, off, counted).agreement < 1.0
    rows = rng.uniform(0, 100, (3000, 4)).astype(np.float32)  # 9e6 pairs: the k-d tree
    shuffled = rng.permutation(rows) + np.float32(1e-4)
    assert pick_diff("boxes", rows, shuffled, counted).agreement == 1.0
    shuffled[:300] += 50.0
    assert pick_diff("boxes", rows, shuffled, counted).agreement == pytest.approx(0.9, abs=0.01)


def test_verification_judges_a_detector_on_what_nms_picks_by() -> None:
    model = detector()
    feeds = {"images": _images()}
    res = rewrite_onnx(model, "pau_all")
    assert [s.function for s in res.replaced] == ["silu", "sigmoid"]
    dev = compare(model, res.model, feeds, "given")
    by = {o.name: o for o in dev.outputs}
    assert [o.name for o in dev.outputs] == ["det_boxes", "selected", "boxes", "scores"]
    assert by["boxes"].role == by["scores"].role == "source"
    # the rational keeps every box the original keeps: picked alike, so the kept boxes are
    # compared as values too (judged), besides the boxes and scores
    assert by["selected"].role == by["det_boxes"].role == "alike"
    assert by["selected"].agreement == 1.0 and by["det_boxes"].agreement == 1.0
    assert by["det_boxes"] in dev.judged and 0 < by["det_boxes"].rel_l2 < 1e-3
    assert dev.cosine > 0.99999
    n = len(run_model(model, feeds)[1])
    assert f"'selected' {n} of {n} as before (picked alike by NonMaxSuppression)" in dev.summary()
    assert "picked alike, so compared as values too" in dev.summary()


def test_a_detector_that_keeps_no_box_is_judged_on_what_nms_picks_by() -> None:
    """torchvision's Faster R-CNN and FCOS, with random weights, keep no box on generated
    images: comparing the empty outputs crashed the CLI ("internal error: cannot reshape array of
    size 0 into shape (0,newaxis)"). Both keep none, and the scores and boxes are judged."""
    model = detector(threshold=1.01)  # above any sigmoid: no box is kept
    feeds = {"images": _images()}
    assert run_model(model, feeds)[0].shape == (0, 4)
    res = rewrite_onnx(model, "pau_all")
    dev = compare(model, res.model, feeds, "given")
    by = {o.name: o for o in dev.outputs}
    assert by["selected"].items == by["det_boxes"].items == (0, 0)
    assert by["selected"].agreement == 1.0
    assert dev.worst is not None and dev.worst.name in ("boxes", "scores")
    assert 0 < dev.rel_l2 < 1e-3
    assert "'selected' 0 of 0 as before" in dev.summary()


def test_many_unchecked_outputs_are_one_phrase_a_reason() -> None:
    """SSDLite gathers 180 tensors its outputs pick by, constant on random-weight inputs: the
    verification line named all 180 with the reason each time, in one line."""
    from rewriter.verify import Deviation, OutputDiff

    why = "constant on the inputs used; not evidence"
    gathered = [OutputDiff(f"/m/Gather_{k}", 0.0, 0.0, 1.0, checked=False, note=why,
                           role="source") for k in range(180)]  # fmt: skip
    other = OutputDiff("boxes", 0.0, 0.0, 1.0, checked=False, note="barely depends; not evidence")
    line = Deviation(outputs=[other, *gathered]).summary()
    assert line.count(why) == 1 and "/m/Gather_3" in line and "/m/Gather_4" not in line
    assert "/m/Gather_0, /m/Gather_1, /m/Gather_2, /m/Gather_3 and 176 more (constant" in line
    assert "boxes (barely depends; not evidence)" in line
    assert len(line) < 400


def test_a_detector_that_keeps_other_boxes_says_how_many() -> None:
    """A ReLU in place of the SiLU moves boxes and scores by percents: the index triples are no
    numbers to take a cosine of; how many boxes stayed the same is reported, and the error is
    judged on the boxes and scores."""
    model, relu = detector(), _relu_site(detector())
    feeds = {"images": _images()}
    a, b = run_model(model, feeds), run_model(relu, feeds)
    dev = compare(model, relu, feeds, "given")
    by = {o.name: o for o in dev.outputs}
    sel = by["selected"]
    assert sel.role == by["det_boxes"].role == "picks"  # picked otherwise: not judged as values
    assert "picked otherwise, so judged on what they pick by ('boxes', 'scores')" in dev.summary()
    assert sel.items == (len(a[1]), len(b[1]))
    rows_a = {tuple(r) for r in a[1].tolist()}
    same = sum(1 for r in b[1].tolist() if tuple(r) in rows_a)
    assert sel.agreement == pytest.approx(same / max(len(a[1]), len(b[1])))
    assert sel.agreement < 1.0
    assert dev.worst is not None and dev.worst.name in ("boxes", "scores")
    assert dev.rel_l2 == max(by["boxes"].rel_l2, by["scores"].rel_l2) > 1e-3


def test_budget_evaluator_reads_the_sources() -> None:
    model = detector()
    batches = [{"images": _images(seed=s)} for s in range(2)]
    ev = Evaluator(model, "pau_all", batches)
    assert [r.shape[-1] for r in ev.reference[2:]] == [4, 256]  # boxes [.., 4], scores [.., N]
    d = ev.of(_relu_site(model))
    assert [o.role for o in d.outputs] == ["picks", "picks", "source", "source"]
    assert d.cosine == min(o.cosine for o in d.outputs[2:])


def test_distillation_reads_what_nms_picks_by() -> None:
    cut, dropped = for_training(detector())
    assert dropped == ["det_boxes", "selected"]
    assert [o.name for o in cut.graph.output] == ["boxes", "scores"]
    assert "NonMaxSuppression" not in {n.op_type for n in cut.graph.node}


def test_cli_rewrites_and_retrains_a_detector_with_nms(tmp_path, capsys) -> None:
    src = tmp_path / "det.onnx"
    onnx.save(detector(), src)
    out, tuned = tmp_path / "out.onnx", tmp_path / "tuned.onnx"
    assert main([str(src), "-o", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "outputs that pick: 'det_boxes'" in text
    np.savez(tmp_path / "cal.npz", images=_images(32))
    args = ["finetune", str(out), "--teacher", str(src), "--calibration", str(tmp_path / "cal.npz")]
    args += ["--mode", "distill", "--train", "all", "--epochs", "2", "-o", str(tuned)]
    code = main(args)
    text = " ".join(capsys.readouterr().out.split())
    assert code == 0, text
    assert "distilled towards 'boxes', 'scores'" in text
    assert {n.op_type for n in onnx.load(tuned).graph.node} == {
        n.op_type for n in onnx.load(out).graph.node
    }


def _proposals(decoder: str, gain: float = 1.0, again: bool = False) -> onnx.ModelProto:
    """RT-DETR's query selection in small: scores = Tanh(x @ w1); TopK 3 proposals by score;
    their features gathered and decoded by ``decoder`` (Sigmoid, or a wrong Relu) into
    ``logits`` [1, 3, 4]. What follows the TopK is a network too. ``gain`` scales ``w1`` (at
    1 the Tanh saturates and many proposals tie near 1). ``again``: 2 of the 3 picked again by
    their smallest feature (a second TopK, ``a_idx``, whose name sorts before the first's)."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Tanh", ["h"], ["feat"]),
        helper.make_node("ReduceMax", ["feat"], ["score"], axes=[-1], keepdims=0),
        helper.make_node("TopK", ["score", "k"], ["top", "idx"], axis=1),
        helper.make_node("Squeeze", ["idx", "zero"], ["idx1"]),
        helper.make_node("Gather", ["feat", "idx1"], ["chosen"], axis=1),
    ]
    if again:
        nodes += [
            helper.make_node("ReduceMin", ["chosen"], ["score2"], axes=[-1], keepdims=0),
            helper.make_node("TopK", ["score2", "k2"], ["top2", "a_idx"], axis=1),
            helper.make_node("Squeeze", ["a_idx", "zero"], ["a_idx1"]),
            helper.make_node("Gather", ["chosen", "a_idx1"], ["chosen2"], axis=1),
        ]
    nodes += [
        helper.make_node("MatMul", ["chosen2" if again else "chosen", "w2"], ["d"]),
        helper.make_node(decoder, ["d"], ["logits"]),
    ]
    g = helper.make_graph(
        nodes,
        "proposals",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2 if again else 3, 4])],
        [
            _init("w1", (gain * rng.standard_normal((8, 8))).astype(np.float32)),
            _init("w2", rng.standard_normal((8, 4)).astype(np.float32)),
            _init("k", np.array([3], np.int64)),
            _init("k2", np.array([2], np.int64)),
            _init("zero", np.array([0], np.int64)),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_what_follows_a_topk_is_judged_when_it_picked_alike() -> None:
    """A decoder after a TopK over proposals (RT-DETR) computes the outputs from what was
    picked: where both models pick alike, its outputs are judged as values, so a wrong decoder
    fails verification; judging only the TopK's input would have passed it."""
    model = _proposals("Sigmoid")
    assert picks(model)["logits"].indices == ("idx",)
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 16, 8)).astype(np.float32)}
    good = compare(model, rewrite_onnx(model, "pau_all").model, feeds, "given")
    assert good.outputs[0].role == "alike" and not good.exceeds(1e-2)
    assert [o.role for o in good.outputs] == ["alike", "source", "index"]
    bad = compare(model, _proposals("Relu"), feeds, "given")  # the decoder's activation wrong
    assert bad.outputs[0].role == "alike" and bad.worst is not None
    assert bad.worst.name == "logits" and bad.exceeds(1e-2)


def test_an_unchecked_picking_output_gives_its_reason_once() -> None:
    """RT-DETR with transformers' initial weights: its box head starts at zero, so the boxes
    barely depend on the inputs. That reason is said under "not checked", not again beside its
    agreement ("'pred_boxes' 80 of 80 as before (barely depends ...)" read it twice)."""
    from rewriter.verify import Deviation, OutputDiff

    why = "barely depends on the inputs; not evidence"
    boxes = OutputDiff("pred_boxes", 0.0, 0.0, 1.0, checked=False, note=why, agreement=1.0,
                       items=(80, 80), role="alike")  # fmt: skip
    logits = OutputDiff("logits", 1e-7, 1e-7, 1.0, note="picked alike by TopK", agreement=1.0,
                        items=(100, 100), role="alike")  # fmt: skip
    index = OutputDiff("/m/TopK_output_1", 0.0, 0.0, 1.0, checked=False,
                       note="constant on the inputs used; not evidence", role="index")  # fmt: skip
    dev = Deviation(outputs=[logits, boxes, index])
    assert dev.unchecked() == [boxes]  # what TopK picked is no output of the user's
    line = dev.summary()
    assert "'pred_boxes' 80 of 80 as before;" in line or "'pred_boxes' 80 of 80 as before," in line
    assert "'logits' 100 of 100 as before (picked alike by TopK)" in line
    assert line.count(why) == 1


def _tts(scale: float = 2.0) -> onnx.ModelProto:
    """A TTS model's length regulation: durations ``Ceil(Exp(Tanh(x * w)) * scale)`` set the
    waveform's length (``Range`` over their sum, cast to int64), and noise is added to it
    (``RandomNormalLike``), as in VITS / MMS-TTS / Piper exports. Input ``x [1, T]``."""
    nodes = [
        helper.make_node("Mul", ["x", "w"], ["xw"]),
        helper.make_node("Tanh", ["xw"], ["logw"]),
        helper.make_node("Exp", ["logw"], ["w_exp"]),
        helper.make_node("Mul", ["w_exp", "scale"], ["dur_f"]),
        helper.make_node("Ceil", ["dur_f"], ["dur"]),
        helper.make_node("ReduceSum", ["dur"], ["total_f"], keepdims=0),
        helper.make_node("Cast", ["total_f"], ["total"], to=TensorProto.INT64),
        helper.make_node("Range", ["zero", "total", "one"], ["t"]),
        helper.make_node("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["t_f", "freq"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["tone"]),
        helper.make_node("RandomNormalLike", ["tone"], ["noise"], scale=0.01),
        helper.make_node("Add", ["tone", "noise"], ["wave1"]),
        helper.make_node("Unsqueeze", ["wave1", "ax0"], ["waveform"]),
    ]
    inits = [
        _init("w", np.array([1.5], np.float32)),
        _init("scale", np.array([scale], np.float32)),
        _init("zero", np.array(0, np.int64)),
        _init("one", np.array(1, np.int64)),
        _init("freq", np.array([0.3], np.float32)),
        _init("ax0", np.array([0], np.int64)),
    ]
    g = helper.make_graph(
        nodes, "tts",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T"])],
        [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, [1, "samples"])],
        inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_length_decided_by_rounded_durations_is_judged_on_the_durations() -> None:
    """A TTS model's waveform is as long as its rounded durations say: a rewrite that moves
    one duration across an integer makes it longer, where no value can be compared. It read
    "'waveform' 0 of 1 as before", judged on nothing that moved; now it names the shapes and is
    judged on the durations before rounding (``dur_f``)."""
    model = _tts()
    found = picks(model)["waveform"]
    assert found.ops == ("Cast",) and found.sources == ("dur_f",)
    x = {"x": np.linspace(-1, 1, 12, dtype=np.float32).reshape(1, 12)}
    same = compare(model, model, x, "given")  # alike: compared as values, nothing said
    assert same.outputs[0].role == "" and same.outputs[0].max_abs == 0.0
    assert "outputs that pick" not in same.summary()
    longer = compare(model, _tts(2.2), x, "given")
    n = int(np.ceil(np.exp(np.tanh(1.5 * x["x"])) * 2.0).sum())
    m = int(np.ceil(np.exp(np.tanh(1.5 * x["x"])) * 2.2).sum())
    assert m > n
    assert f"'waveform' shape 1x{n} -> 1x{m}, by Cast" in longer.summary()
    assert longer.worst is not None and longer.worst.name == "dur_f"
    assert longer.worst.rel_l2 == pytest.approx(0.1, rel=1e-3)


def test_random_ops_draw_alike_in_every_run_of_verification() -> None:
    """A random op's seed seeds it once per ONNX Runtime session, and every run draws on from
    there, so a run's noise depended on the runs before it in that session (the original runs
    more often than the rewrite: the noise floor). Now each run of verification has its own
    session where a model has random ops; the budget's
    evaluator keeps one session over its batches (the two models draw alike while they draw as
    many numbers), and pins the seeds as verification does."""
    from rewriter.ir.runtime import runner
    from rewriter.verify import pin_random_seeds

    model = _tts()
    x = {"x": np.linspace(-1, 1, 12, dtype=np.float32).reshape(1, 12)}
    pinned = pin_random_seeds(model)[0]
    shared = runner(pinned)
    assert not np.array_equal(shared(x)[0], shared(x)[0])  # the draws go on
    run = runner(pinned, fresh=True)
    assert np.array_equal(run(x)[0], run(x)[0])
    ev = Evaluator(model, "pau_all", [x, x])
    assert all(o.max_abs == 0.0 for o in ev.of(model).outputs)


def test_a_float_computed_from_shapes_picks_nothing() -> None:
    """An exporter's Resize sizes, ``Cast(Floor(Cast(Shape(x)) * 2))``, are floats cast to
    integers, but from shapes alone: the same in any rewrite, so the output is no pick."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "two", "four"], ["hw"]),
        helper.make_node("Cast", ["hw"], ["hw_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["hw_f", "factor"], ["hw2"]),
        helper.make_node("Floor", ["hw2"], ["hw2f"]),
        helper.make_node("Cast", ["hw2f"], ["hw2i"], to=TensorProto.INT64),
        helper.make_node("Slice", ["shape", "zero", "two"], ["nc"]),
        helper.make_node("Concat", ["nc", "hw2i"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["up"], mode="nearest"),
        helper.make_node("Sigmoid", ["up"], ["y"]),
    ]
    inits = [
        _init("zero", np.array([0], np.int64)),
        _init("two", np.array([2], np.int64)),
        _init("four", np.array([4], np.int64)),
        _init("factor", np.array([2.0], np.float32)),
    ]
    g = helper.make_graph(
        nodes, "up",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, None, None])],
        inits,
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert picks(model) == {}


def test_a_mask_max_pooled_and_cast_picks_nothing() -> None:
    """CANINE downsamples its attention mask by max-pooling it (``MaxPool(Cast(mask))``) and
    casts the result to int64: values of a graph input selected among, which no rewrite
    changes, so its hidden state is no pick (it was, and distillation then read the pooled mask
    instead of the hidden state: "student has no rational coefficients or float weight
    initializers")."""
    nodes = [
        helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "one"], ["mask3"]),
        helper.make_node("MaxPool", ["mask3"], ["pooled"], kernel_shape=[2], strides=[2]),
        helper.make_node("Squeeze", ["pooled", "one"], ["squeeze"]),
        helper.make_node("Cast", ["squeeze"], ["keep"], to=TensorProto.INT64),
        helper.make_node("Cast", ["keep"], ["keep_f"], to=TensorProto.FLOAT),
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("Mul", ["s", "keep_f"], ["y"]),
    ]
    g = helper.make_graph(
        nodes, "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["B", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 4])],
        [_init("one", np.array([1], np.int64))],
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    assert picks(model) == {}
    from rewriter.tune.e2e import for_training

    assert for_training(model) == (model, [])


def _nms_in_if() -> onnx.ModelProto:
    """torchvision's ``batched_nms`` as its detectors export it: the NonMaxSuppression runs in
    an If that returns no index where no box is left. Input ``x [1, N, 5]``: four box numbers
    and a logit per box; outputs the kept boxes."""
    then = helper.make_graph(
        [
            helper.make_node("NonMaxSuppression", ["boxes", "scores", "maxo", "iou"], ["sel"]),
            helper.make_node("Gather", ["sel", "two"], ["keep"], axis=1),
        ],
        "nms", [], [helper.make_tensor_value_info("keep", TensorProto.INT64, ["k"])],
    )  # fmt: skip
    none = helper.make_graph(
        [helper.make_node("Constant", [], ["empty"], value=_init("e", np.zeros(0, np.int64)))],
        "none", [], [helper.make_tensor_value_info("empty", TensorProto.INT64, ["k"])],
    )  # fmt: skip
    nodes = [
        helper.make_node("Slice", ["x", "s0", "s4", "ax2"], ["raw"]),
        helper.make_node("Mul", ["raw", "scale"], ["boxes"]),
        helper.make_node("Slice", ["x", "s4", "s5", "ax2"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Transpose", ["prob"], ["scores"], perm=[0, 2, 1]),
        helper.make_node("Size", ["boxes"], ["n"]),
        helper.make_node("Greater", ["n", "zero"], ["any"]),
        helper.make_node("If", ["any"], ["kept"], then_branch=then, else_branch=none),
        helper.make_node("Squeeze", ["boxes", "ax0"], ["flat"]),
        helper.make_node("Gather", ["flat", "kept"], ["det"], axis=0),
    ]
    inits = [
        _init("s0", np.array([0], np.int64)), _init("s4", np.array([4], np.int64)),
        _init("s5", np.array([5], np.int64)), _init("ax2", np.array([2], np.int64)),
        _init("ax0", np.array([0], np.int64)), _init("two", np.array(2, np.int64)),
        _init("zero", np.array(0, np.int64)), _init("scale", np.array(10, np.float32)),
        _init("maxo", np.array([4], np.int64)), _init("iou", np.array([0.5], np.float32)),
    ]  # fmt: skip
    g = helper.make_graph(
        nodes, "det",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "N", 5])],
        [helper.make_tensor_value_info("det", TensorProto.FLOAT, ["k", 4])],
        inits,
    )  # fmt: skip
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m, full_check=True)
    return m


def test_a_nonmaxsuppression_inside_an_if_picks() -> None:
    """torchvision's Faster R-CNN, FCOS and SSDLite run their NMS in an If: the boxes it keeps
    were compared in place as values, and a box swapped for another read as an error of 100%."""
    found = picks(_nms_in_if())
    assert set(found) == {"det"}
    p = found["det"]
    assert p.ops == ("NonMaxSuppression",) and p.counted
    assert set(p.sources) == {"boxes", "scores"} and p.indices == ("kept",)


def _two_stage(w1: float, w2: float) -> onnx.ModelProto:
    """A two-stage detector's shape: a first TopK picks 4 proposals by their scores ``s1``;
    the second stage scores those 4 (``s2``) and a second TopK keeps 2. Input ``x [8]``."""
    nodes = [
        helper.make_node("Mul", ["x", "w1"], ["xw"]),
        helper.make_node("Sigmoid", ["xw"], ["s1"]),
        helper.make_node("TopK", ["s1", "k4"], ["v1", "i1"]),
        helper.make_node("Gather", ["x", "i1"], ["proposals"]),
        helper.make_node("Mul", ["proposals", "w2"], ["pw"]),
        helper.make_node("Tanh", ["pw"], ["s2"]),
        helper.make_node("TopK", ["s2", "k2"], ["v2", "i2"]),
        helper.make_node("Gather", ["proposals", "i2"], ["out"]),
    ]
    inits = [
        _init("w1", np.array([w1], np.float32)), _init("w2", np.array([w2], np.float32)),
        _init("k4", np.array([4], np.int64)), _init("k2", np.array([2], np.int64)),
    ]  # fmt: skip
    g = helper.make_graph(
        nodes, "two_stage",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2])],
        inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_what_follows_a_pick_that_differs_is_not_compared_in_place() -> None:
    """Faster R-CNN's box head scores the proposals its RPN picked: where the RPN picks others,
    those scores belong to other proposals, and comparing them in place read 'rel-L2 0.87' for a
    rewrite whose 19 final boxes were all the same. They are left unjudged; the RPN's own scores
    are judged."""
    model = _two_stage(1.0, 0.5)
    (p,) = picks(model).values()
    assert dict(p.after) == {"s2": ("i1",)}
    feeds = {"x": np.array([0.3, -1.0, 2.0, 0.9, -0.2, 1.5, 0.1, -2.0], np.float32)}
    dev = compare(model, _two_stage(-1.0, 0.5), feeds, "given")  # stage 1 picks others
    by = {o.name: o for o in dev.outputs}
    assert not by["s2"].checked and "computed after a pick that differs" in by["s2"].note
    assert by["s1"].checked and by["s1"].rel_l2 > 0.1  # the change is seen where it is made
    dev = compare(model, _two_stage(1.0, 0.6), feeds, "given")  # stage 1 picks alike
    by = {o.name: o for o in dev.outputs}
    assert by["s2"].checked and 0 < by["s2"].rel_l2 < 0.2


def test_distillation_reads_only_what_follows_no_pick() -> None:
    """Faster R-CNN's box head scores the proposals its RPN picked; distilling on it needed
    NonMaxSuppression and RoiAlign in the interpreter ('not supported for retraining') and would
    compare scores of other proposals. The first stage's scores are read; the cut graph stops
    before the first TopK."""
    cut, dropped = for_training(_two_stage(1.0, 0.5))
    assert dropped == ["out"]
    assert [o.name for o in cut.graph.output] == ["s1"]
    assert [n.op_type for n in cut.graph.node] == ["Mul", "Sigmoid"]


def _frame_lengths(gain: float = 1.0, mask: int = TensorProto.INT64) -> onnx.ModelProto:
    """A FastConformer encoder's output masking, as Parakeet exports it: the frames left after
    subsampling, ``Floor(ReduceSum(mask) / 2) + 1``, cast to int64 and compared with the frame
    indices; the output is the SiLU'd features, zero past the length. ``gain`` scales the
    SiLU's input (a rewrite's change); ``mask``: the attention mask's type (float in some
    exports)."""
    nodes = [
        helper.make_node("Mul", ["x", "gain"], ["xg"]),
        helper.make_node("Sigmoid", ["xg"], ["s"]),
        helper.make_node("Mul", ["x", "s"], ["feat"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["mask_f", "ax1"], ["len_f"], keepdims=0),
        helper.make_node("Div", ["len_f", "two"], ["half"]),
        helper.make_node("Floor", ["half"], ["floor"]),
        helper.make_node("Add", ["floor", "one_f"], ["frames"]),
        helper.make_node("Cast", ["frames"], ["frames_i"], to=TensorProto.INT64),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["t"], axis=0),
        helper.make_node("Range", ["zero", "t", "one"], ["idx"]),
        helper.make_node("Unsqueeze", ["idx", "ax0"], ["idx2"]),
        helper.make_node("Unsqueeze", ["frames_i", "ax1"], ["len2"]),
        helper.make_node("Less", ["idx2", "len2"], ["valid"]),
        helper.make_node("Cast", ["valid"], ["valid_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["valid_f", "ax2"], ["valid3"]),
        helper.make_node("Mul", ["feat", "valid3"], ["y"]),
    ]
    inits = [
        _init("gain", np.array(gain, np.float32)),
        _init("two", np.array(2.0, np.float32)),
        _init("one_f", np.array(1.0, np.float32)),
        _init("zero", np.array(0, np.int64)),
        _init("one", np.array(1, np.int64)),
        _init("ax0", np.array([0], np.int64)),
        _init("ax1", np.array([1], np.int64)),
        _init("ax2", np.array([2], np.int64)),
    ]
    g = helper.make_graph(
        nodes, "lengths",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", 4]),
         helper.make_tensor_value_info("attention_mask", mask, ["B", "T"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "T", 4])],
        inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_lengths_from_an_integer_mask_pick_nothing() -> None:
    """Parakeet's frame lengths come from its int64 attention mask and scalar constants alone:
    nothing a rewrite changes (no float input, weight or random draw behind them), so its
    hidden state is no pick. It was, and ``finetune --mode distill`` then judged the lengths
    and had nothing to train ("student has no rational coefficients or float weight
    initializers")."""
    model = _frame_lengths()
    assert picks(model) == {}
    assert for_training(model) == (model, [])


def test_a_length_from_the_mask_alone_that_picks_alike_goes_unsaid() -> None:
    """With a float attention mask (an input: data), the lengths pick the output; generated
    masks are all ones, so the lengths are the same on every input set. Verification said
    "not checked: add_388 (barely depends on the inputs ...)" beside the output it had compared
    as values: a tensor no pick needed, named as if evidence were missing. Now it is set aside
    (role "aside") and unsaid; the output is judged."""
    from rewriter.verify import verify

    model = _frame_lengths(mask=TensorProto.FLOAT)
    assert picks(model)["y"].sources == ("half",)  # what the Floor rounds
    dev = verify(model, _frame_lengths(1.001, TensorProto.FLOAT))
    roles = {o.name: o.role for o in dev.outputs}
    assert roles["half"] == "aside" and not dev.unchecked()
    assert "not checked" not in dev.summary()
    assert dev.worst is not None and dev.worst.name == "y" and dev.worst.rel_l2 > 1e-5


def test_a_float_cast_to_integers_for_integer_arithmetic_is_quantized_not_picked(
    tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """ddddocr's hand-quantized CRNN rounds each layer's values, casts them to int32, reshapes
    them, adds an int32 bias and casts back to float: read as a step (a decision, like a TTS
    duration), every value after the first such cast was "picked", and its logits were never
    compared (the line judged an inner tensor). Integers that only go back to values are
    quantized: the output is compared as values."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Sigmoid", ["h"], ["s"]),
            helper.make_node("Mul", ["s", "inv"], ["q"]),
            helper.make_node("Floor", ["q"], ["qf"]),
            helper.make_node("Cast", ["qf"], ["qi"], to=TensorProto.INT32),
            helper.make_node("Reshape", ["qi", "shape"], ["qr"]),
            helper.make_node("Add", ["qr", "bias"], ["qb"]),
            helper.make_node("Cast", ["qb"], ["back"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["back", "scale"], ["y"]),
        ],
        "quant",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])],
        [
            numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w"),
            numpy_helper.from_array(np.array(1000.0, np.float32), "inv"),
            numpy_helper.from_array(np.array([4, 16], np.int64), "shape"),
            numpy_helper.from_array(np.full(16, 3, np.int32), "bias"),
            numpy_helper.from_array(np.array(0.001, np.float32), "scale"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert picks(m) == {}
    src = tmp_path / "q.onnx"
    onnx.save(m, src)
    assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("verification"))
    assert "worst output 'y'" in line and "pick" not in line, line
    # a duration cast to integers for a length stays a step (the test above)


def _router(
    scatter_axis: int = 1, reduce_axis: int = -1, gather: str = "GatherElements"
) -> onnx.ModelProto:
    """A mixture of experts' router as onnxruntime-genai's builder writes LFM2-MoE's: a sigmoid
    over 4 experts' scores, the 2 largest picked (TopK), their scores gathered there, summed and
    normalized, scattered back into a ``[tokens, experts]`` tensor of zeros; the experts' mix
    (a MatMul) scaled by the sum. ``scatter_axis``, ``reduce_axis`` and ``gather`` move
    the picks elsewhere."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
        helper.make_node("TopK", ["score", "k"], ["top", "idx"], axis=-1),
        helper.make_node(gather, ["score", "idx"], ["picked"], axis=1),
        helper.make_node("ReduceSum", ["picked", "axes"], ["total"], keepdims=1),
        helper.make_node("Div", ["picked", "total"], ["weights"]),
        helper.make_node("Shape", ["score"], ["shape"]),
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"]),
        helper.make_node(
            "ScatterElements", ["zeros", "idx", "weights"], ["routed"], axis=scatter_axis
        ),
        helper.make_node("MatMul", ["routed", "experts"], ["mixed"]),
        helper.make_node("Mul", ["mixed", "total"], ["out"]),
    ]
    g = helper.make_graph(
        nodes,
        "router",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [
            _init("w", rng.standard_normal((8, 4)).astype(np.float32)),
            _init("experts", rng.standard_normal((4, 8)).astype(np.float32)),
            _init("k", np.array([2], np.int64)),
            _init("axes", np.array([reduce_axis], np.int64)),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_mixture_of_experts_router_puts_its_picks_back_in_place() -> None:
    """LFM2-MoE's router picks each token's 2 experts by TopK, but what it gives (each token's
    weight at each expert, scattered back where it was picked, and the picks' sum) is in place
    whatever was picked: the output after it is values. It was read as picked: distillation
    read the model at the first router's scores and left the logits out, and verification
    compared them by which experts were picked. A scatter along another axis, a sum over
    another axis, or picks gathered as rows (reordered) still pick."""
    model = _router()
    assert picks(model) == {}
    assert for_training(model, set(picks(model)))[1] == []  # nothing left out
    x = {"x": np.random.default_rng(1).standard_normal((6, 8)).astype(np.float32)}
    dev = compare(model, rewrite_onnx(model, "pau_all").model, x, "given")
    assert [(o.name, o.role, o.checked) for o in dev.outputs] == [("out", "", True)]  # values
    assert 0 < dev.outputs[0].rel_l2 < 1e-3
    for other in (_router(scatter_axis=0), _router(reduce_axis=0), _router(gather="Gather")):
        assert list(picks(other)) == ["out"]


@pytest.mark.parametrize("again", [False, True])
def test_distillation_gives_the_student_the_teachers_picks(again, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """RT-DETR's decoder refines the queries a TopK picks: read at the TopK's scores alone
    ("left out ... 'logits'"), the decoder's sites were never trained. The student now takes
    the teacher's picks (graph inputs of the same names in the cut student, a TopK's values
    gathered there), so both decode the same proposals in the same places and the decoder
    trains: a student whose decoder rational is off by a third is brought back. Two picks in
    a row are given each to its own input, whatever their names' order."""
    teacher = _proposals("Sigmoid", gain=0.2, again=again)
    student = rewrite_onnx(teacher, "pau_all").model
    for t in student.graph.initializer:  # the decoder's numerator off by a third
        if t.name.startswith("pau/") and "/p" in t.name and "sigmoid" in t.name:
            t.CopyFrom(_init(t.name, numpy_helper.to_array(t) * 1.3))
    rng = np.random.default_rng(2)
    batches = [{"x": rng.standard_normal((1, 16, 8)).astype(np.float32)} for _ in range(24)]
    runs = Counter()  # the interpreter's runs, by what they watch
    forward = OnnxModule.forward

    def counted(self, *xs):  # type: ignore[no-untyped-def]
        runs[tuple(sorted(self.watch))] += 1
        return forward(self, *xs)

    monkeypatch.setattr(OnnxModule, "forward", counted)
    tuned, history = finetune_e2e(student, teacher, batches, epochs=30, lr=2e-2)
    assert history.forced == ["logits"] and history.forced_by == ["TopK"] and not history.dropped
    # the teacher picks on each batch once, not at each of the 30 epochs' steps (269 before)
    picked = ("a_idx", "idx") if again else ("idx",)
    assert 0 < runs[picked] <= len(batches), runs
    before, after = (
        {o.name: o for o in d.outputs} for d in (history.heldout.before, history.heldout.after)
    )
    assert after["idx"].role == "index" and after["idx"].rel_l2 == 0  # picked alike
    assert after["logits"].rel_l2 < 0.1 * before["logits"].rel_l2  # 0.13 -> 0.0034
    if again:
        return
    # the cut student: the picks are inputs; a TopK whose values are read gathers them there
    forced = force_picks(_router(), {"idx"})
    assert [i.name for i in forced.graph.input] == ["x", "idx"]
    assert "TopK" not in {n.op_type for n in forced.graph.node}
    top = onnx.ModelProto()
    top.CopyFrom(_router())
    top.graph.output.append(helper.make_tensor_value_info("top", TensorProto.FLOAT, None))
    x = rng.standard_normal((6, 8)).astype(np.float32)
    want = run_model(top, {"x": x})
    idx = run_model(_with_output(_router(), "idx"), {"x": x})[-1]
    got = run_model(force_picks(top, {"idx"}), {"x": x, "idx": idx})
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def _with_output(m: onnx.ModelProto, name: str) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(m)
    out.graph.output.append(helper.make_tensor_value_info(name, TensorProto.INT64, None))
    return out
