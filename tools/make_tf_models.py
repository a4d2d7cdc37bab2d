"""Make the small TensorFlow / TFLite test models in tests/data/ (deterministic; ~10 s).

    python tools/make_tf_models.py          # needs the [tensorflow] extra

Writes (a few KB each; committed, so TFLite-only tests need no TensorFlow):
    tests/data/tf_acts.keras        Keras 3 model, input [1,8,8,3] NHWC, output [1,10]:
                                    Conv2D(relu6) then GELU (erf), swish, hard
                                    swish, tanh, sigmoid and PReLU branches, concatenated, Dense
    tests/data/tf_acts.h5           the same model in the legacy HDF5 format
    tests/data/tf_acts.tflite       the same model converted by TensorFlow's TFLite converter
                                    (float32): CONV_2D with fused RELU6, GELU, LOGISTIC, TANH,
                                    HARD_SWISH, PRELU
    tests/data/tf_acts_fp16.tflite  float16 weights behind DEQUANTIZE
    tests/data/tf_acts_int8.tflite  full-integer quantized (int8 in and out, calibrated on 16
                                    seeded images): every tensor int8 between QUANTIZE and
                                    DEQUANTIZE, which tf2onnx spells as QDQ pairs
    tests/data/tf_custom.tflite     a TensorFlow op TFLite has no builtin for, kept as a
                                    custom op (``allow_custom_ops``): no converter handles it
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def build_keras():  # type: ignore[no-untyped-def]
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3), batch_size=1, name="image")
    h = layers.Conv2D(8, 3, padding="same", activation="relu6", name="conv")(x)
    branches = [
        layers.Activation("gelu", name="gelu")(h),  # erf form (Keras 3's default)
        layers.Activation("swish", name="swish")(h),
        layers.Activation("hard_swish", name="hard_swish")(h),
        layers.Activation("tanh", name="tanh")(h),
        # on its own input: on h, converters share swish's Sigmoid with it (no SiLU site)
        layers.Activation("sigmoid", name="sigmoid")(layers.Conv2D(4, 1, name="pre_sigmoid")(h)),
        layers.PReLU(shared_axes=[1, 2, 3], name="prelu")(layers.Conv2D(4, 1, name="pre_prelu")(h)),
    ]
    y = layers.Concatenate(name="concat")(branches)
    y = layers.GlobalAveragePooling2D(name="pool")(y)
    y = layers.Dense(10, name="logits")(y)
    m = keras.Model(x, y, name="tf_acts")
    # PReLU's alpha starts at 0 (a ReLU); make it a real PReLU
    w = m.get_layer("prelu").get_weights()
    m.get_layer("prelu").set_weights([np.full_like(w[0], 0.25)])
    return m


def to_tflite(model, fp16: bool = False, int8: bool = False) -> bytes:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if fp16:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    if int8:
        rng = np.random.default_rng(0)
        images = [rng.standard_normal((1, 8, 8, 3)).astype(np.float32) for _ in range(16)]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([x] for x in images)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def custom_tflite() -> bytes:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32, name="x")])
    def f(x):  # type: ignore[no-untyped-def]
        return tf.math.tanh(tf.math.bessel_i1e(x) * 2.0)  # Bessel I1e: no TFLite builtin

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.allow_custom_ops = True
    return conv.convert()


def main() -> None:
    t0 = time.perf_counter()
    DATA.mkdir(parents=True, exist_ok=True)
    m = build_keras()
    m.save(DATA / "tf_acts.keras")
    m.save(DATA / "tf_acts.h5")
    (DATA / "tf_acts.tflite").write_bytes(to_tflite(m))
    (DATA / "tf_acts_fp16.tflite").write_bytes(to_tflite(m, fp16=True))
    (DATA / "tf_acts_int8.tflite").write_bytes(to_tflite(m, int8=True))
    (DATA / "tf_custom.tflite").write_bytes(custom_tflite())
    for p in sorted(DATA.glob("tf_*")):
        print(f"{p.relative_to(DATA.parent.parent)}: {p.stat().st_size / 1024:.1f} KB")
    print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
