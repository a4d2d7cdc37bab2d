"""Make the example models in examples/ (deterministic; about half a minute on 2 cores).

    python tools/make_examples.py

Writes:
    examples/digits_cnn.onnx  the trained DigitsCNN (opset 17, input "input" [N,1,8,8],
                              output "logits" [N,10], dynamic batch), TorchScript exporter
    examples/digits_cnn.pt    its state dict (``tools.digits.load_trained``)
    examples/digits_test.npz  the held-out split: ``input`` [N,1,8,8] float32, ``labels`` [N]
    examples/digits_calib.npz the training split, same keys: calibration data for budgets and
                              ``--recover`` (retraining), so the test split stays unseen
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits import EXAMPLES, accuracy, load_digits_split, train_digits  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()
    split = load_digits_split()
    model = train_digits(split)
    acc = accuracy(model, split.x_test, split.y_test)
    if acc < 97.0:
        raise SystemExit(f"digits CNN reached only {acc:.2f}% test accuracy (< 97%)")
    EXAMPLES.mkdir(exist_ok=True)
    torch.save(model.state_dict(), EXAMPLES / "digits_cnn.pt")
    torch.onnx.export(
        model,
        (torch.from_numpy(split.x_test[:1]),),
        str(EXAMPLES / "digits_cnn.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    np.savez_compressed(EXAMPLES / "digits_test.npz", input=split.x_test, labels=split.y_test)
    save_calibration(split)
    _check(model, split)
    print(f"digits CNN: {acc:.2f}% test accuracy, {time.perf_counter() - t0:.1f} s")
    for name in ("digits_cnn.onnx", "digits_cnn.pt", "digits_test.npz", "digits_calib.npz"):
        print(f"  examples/{name}: {(EXAMPLES / name).stat().st_size / 1024:.0f} KiB")


def save_calibration(split: object) -> None:
    np.savez_compressed(
        EXAMPLES / "digits_calib.npz",
        input=split.x_train,  # type: ignore[attr-defined]
        labels=split.y_train,  # type: ignore[attr-defined]
    )


def _check(model: torch.nn.Module, split: object) -> None:
    """The ONNX file computes what the model computes, on the whole test split."""
    import onnxruntime as ort

    x = split.x_test  # type: ignore[attr-defined]
    sess = ort.InferenceSession(
        str(EXAMPLES / "digits_cnn.onnx"), providers=["CPUExecutionProvider"]
    )
    got = sess.run(["logits"], {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    if not np.allclose(got, want, atol=1e-4):
        raise SystemExit(f"ONNX export differs from the model: {np.abs(got - want).max():.2e}")


if __name__ == "__main__":
    main()
