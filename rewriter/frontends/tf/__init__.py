"""TensorFlow-family inputs: TFLite flatbuffers, SavedModel folders and Keras ``.keras``/``.h5``
files, converted to ONNX with tf2onnx and checked against their own runtime.

    rewrite model.tflite -p pau_all -o out.onnx      # also saved_model_dir/ and model.keras

``rewriter.ir.load_model`` calls ``convert`` for such a path (``source_kind`` says which), so
every command accepts them. The ONNX path then runs as usual; ``source_check`` runs the original
in its own runtime (LiteRT for TFLite, TensorFlow for SavedModel and Keras) and the converted and
rewritten ONNX models in ONNX Runtime on the same inputs, and reports both deviations.

Why tf2onnx (measured in /work/notes/tflite.md): it is the converter the ONNX project maintains,
converts TFLite, SavedModel and Keras 3 (through a ``tf.function``) alike, folds float16 weights
behind DEQUANTIZE into float32 initializers, and keeps the source's NHWC input layout (it puts
Transposes around Conv), so one set of inputs feeds both runtimes unchanged. tflite2onnx 0.4.1
(unmaintained since 2021) rejects GELU and CUSTOM ops outright. Neither converts TFLite's GELU
nor TensorFlow's Erfc (Keras 3's GELU); ``_convert`` lowers both to the TensorFlow spelling of
the erf GELU the rule library matches.

Writing TFLite back is not supported: onnx2tf needs TensorFlow 2.19, numpy 1 and onnx 1.19,
which do not install beside this project's pins; ``-o out.tflite`` says so in one line.
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
