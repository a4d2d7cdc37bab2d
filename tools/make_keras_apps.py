"""keras.applications models as users save them, random weights (``weights=None``, nothing
downloaded): the README's keras.applications sweep.

    python tools/make_keras_apps.py DIR   # NAME.keras and NAME.tflite for each, then
                                          #   rewrite DIR/NAME.keras -o out.onnx (no flags)

MobileNetV2 and V3-Large (96x96), EfficientNetV2-B0 (96x96), ConvNeXt-T, ResNet50V2,
DenseNet121, NASNetMobile (64x64), Xception (75x75); seeded. Needs the ``[tensorflow]`` extra.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = {
    "mnv2": ("MobileNetV2", 96),
    "mnv3l": ("MobileNetV3Large", 96),
    "effv2b0": ("EfficientNetV2B0", 96),
    "convnext_t": ("ConvNeXtTiny", 64),
    "resnet50v2": ("ResNet50V2", 64),
    "densenet121": ("DenseNet121", 64),
    "nasnetmobile": ("NASNetMobile", 64),
    "xception": ("Xception", 75),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    a = ap.parse_args()
    import keras
    import tensorflow as tf

    a.out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    for name, (cls, size) in MODELS.items():
        m = getattr(keras.applications, cls)(input_shape=(size, size, 3), weights=None)
        m.save(a.out / f"{name}.keras")
        (a.out / f"{name}.tflite").write_bytes(
            tf.lite.TFLiteConverter.from_keras_model(m).convert()
        )
        print(f"wrote {a.out / name}.keras and .tflite", flush=True)


if __name__ == "__main__":
    main()
