"""`make demo`: the job a user comes for, on the bundled digits CNN, in about a minute.

    rewrite examples/digits_cnn.onnx --target ort-cpu:threads=1 \\
        --calibration examples/digits_calib.npz --min-cosine 0.999 --allow-standard --recover \\
        -o out/digits_cnn_fast.onnx --report out/digits_cnn_report.json

1. the real CLI plans the rewrite on ONNX Runtime CPU (one thread) from latencies it measures,
   replaces activations beyond the budget where retraining the network (on the calibration
   data, the training split) wins the accuracy back, verifies the budget on a held-out part of
   the calibration data, and measures the whole model against the original;
2. then the test split (examples/digits_test.npz, never seen by the plan or the retraining)
   gives the accuracy of the original and the written model, next to the measured speed-up.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def accuracy(model_path: str, data: dict[str, np.ndarray]) -> float:
    import onnx

    from rewriter.ir import run_model

    logits = run_model(onnx.load(model_path), {"input": data["input"]})[0]
    return float((logits.argmax(1) == data["labels"]).mean())


def main() -> int:
    from rewriter.cli import main as cli

    ex = os.path.join(ROOT, "examples")
    src = os.path.join(ex, "digits_cnn.onnx")
    if not all(
        os.path.exists(os.path.join(ex, f)) for f in ("digits_cnn.onnx", "digits_calib.npz")
    ):
        import subprocess

        subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "make_examples.py")], check=True
        )
    out_dir = os.path.join(ROOT, "out")
    os.makedirs(out_dir, exist_ok=True)
    dst = os.path.join(out_dir, "digits_cnn_fast.onnx")
    report = os.path.join(out_dir, "digits_cnn_report.json")
    args = [
        "--target", "ort-cpu:threads=1",
        "--calibration", os.path.join(ex, "digits_calib.npz"),
        "--min-cosine", "0.999", "--allow-standard", "--recover",
    ]  # fmt: skip
    print(
        "$ rewrite examples/digits_cnn.onnx " + " ".join(args)
        + " -o out/digits_cnn_fast.onnx --report out/digits_cnn_report.json\n"
    )  # fmt: skip
    t0 = time.perf_counter()
    code = cli(
        [src, *args, "-o", dst, "--report", report, "--db", os.path.join(out_dir, "latency.sqlite")]
    )
    if code != 0:
        return code
    seconds = time.perf_counter() - t0
    r = json.load(open(report))
    plan = r["plan"]
    data = dict(np.load(os.path.join(ex, "digits_test.npz")))
    a0, a1 = accuracy(src, data), accuracy(dst, data)
    replaced = [d for d in plan["decisions"] if d["decision"] == "replace"]
    what = ", ".join(f"{d['site']} -> {d['choice']}" for d in replaced) or "nothing"
    w = plan["whole"]
    speed = (
        f"x{w['speedup']:.2f} (95% CI {w['speedup_lo']:.2f}-{w['speedup_hi']:.2f}) measured on "
        f"{plan['target']}"
        if w
        else f"not measured: nothing was replaced on {plan['target']}"
    )
    rec = plan.get("recover") or {}
    print(f"\nreplaced: {what}; {rec.get('retraining_runs', 0)} retraining run(s)")
    print(f"whole-model speed-up: {speed}")
    print(
        f"test accuracy on {len(data['labels'])} digits the plan never saw: original {a0:.2%}, "
        f"rewritten {a1:.2%} ({(a1 - a0) * 100:+.2f} points); {seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
