"""TensorFlow-family inputs: TFLite flatbuffers, SavedModel folders, Keras ``.keras``/``.h5``
files and frozen GraphDefs (``.pb``), converted to ONNX with tf2onnx and checked against their
own runtime.

    rewrite model.tflite -p pau_all -o out.onnx      # also saved_model_dir/ and model.keras

``rewriter.ir.load_model`` calls ``convert`` for such a path (``source_kind`` says which), so
every command accepts them. The ONNX path then runs as usual; ``source_check`` runs the original
in its own runtime (LiteRT for TFLite, TensorFlow for SavedModel and Keras) and the converted and
rewritten ONNX models in ONNX Runtime on the same inputs, and reports both deviations.

Why tf2onnx (measured in the branch's notes, notes/tflite.md): it is the converter the ONNX
project maintains, converts TFLite, SavedModel and Keras 3 (through a ``tf.function``) alike,
folds float16 weights behind DEQUANTIZE into float32 initializers, and keeps the source's NHWC
input layout (Transposes around Conv inside), so one set of inputs feeds both runtimes
unchanged. tflite2onnx 0.4.1 (last release 2021) rejects TANH, HARD_SWISH, GELU and CUSTOM ops.
tf2onnx converts neither TFLite's GELU nor TensorFlow's Erfc (Keras 3's GELU); handlers here
lower both to the erf GELU spelling the rule library matches.

Writing TFLite back is not supported: onnx2tf 1.29 pins TensorFlow 2.19, numpy 1.26 and onnx
1.19; installed without its pins it runs, but reads tf2onnx's NHWC input as NCHW (the round
trip was off by 0.16 max-abs), and its keep-the-shape option fetches files from the network.
``-o out.tflite`` says so in one line.
"""

from __future__ import annotations

from rewriter.frontends.tf._convert import (
    Conversion,
    MissingExtraError,
    SourceCheck,
    convert,
    source_check,
    source_kind,
)

__all__ = [
    "Conversion",
    "MissingExtraError",
    "SourceCheck",
    "convert",
    "source_check",
    "source_kind",
]
