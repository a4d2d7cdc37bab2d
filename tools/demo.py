"""`make demo`: rewrite the bundled digits CNN with rationals and show what changed.

1. `rewrite examples/digits_cnn.onnx -p pau_all -o out/digits_cnn_pau.onnx --report ...`
   (the real CLI: site table, verification against the original);
2. test-set accuracy of the original and the rewritten model with ONNX Runtime on the held-out
   split of scikit-learn's digits (examples/digits_test.npz);
3. the built-in rational table's global errors at (5,4).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def accuracy(model_path: str, data: dict[str, np.ndarray]) -> float:
    import onnx

    from rewriter.ir import run_model

    logits = run_model(onnx.load(model_path), {"input": data["input"]})[0]
    return float((logits.argmax(1) == data["labels"]).mean())


def main() -> int:
    from rewriter.cli import main as cli

    src = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    if not os.path.exists(src):
        import subprocess

        subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "make_examples.py")], check=True
        )
    out_dir = os.path.join(ROOT, "out")
    os.makedirs(out_dir, exist_ok=True)
    dst = os.path.join(out_dir, "digits_cnn_pau.onnx")
    report = os.path.join(out_dir, "digits_cnn_report.json")
    data = dict(np.load(os.path.join(ROOT, "examples", "digits_test.npz")))
    print(
        "$ rewrite examples/digits_cnn.onnx -p pau_all -o out/digits_cnn_pau.onnx --report out/digits_cnn_report.json\n"
    )
    code = cli(
        [src, "-p", "pau_all", "-o", dst, "--report", report, "--inputs", _inputs(data, out_dir)]
    )
    if code != 0:
        return code
    a0, a1 = accuracy(src, data), accuracy(dst, data)
    print(
        f"\ntest accuracy on {len(data['labels'])} held-out digits: original {a0:.2%}, rewritten {a1:.2%} "
        f"({(a1 - a0) * 100:+.2f} points)"
    )
    sites = json.load(open(report))["sites"]
    print(f"{sum(s['replaced'] for s in sites)} activation sites replaced by (5,4) rationals\n")
    from rewriter.rational import table_rational

    print("| function | form | global max-abs error on [-40,40] |\n|---|---|---|")
    for f in ("gelu", "gelu_tanh", "silu", "tanh", "sigmoid", "mish", "softplus", "elu"):
        r = table_rational(f, degrees=(5, 4))
        print(f"| {f} | {r.form} | {r.global_error:.2e} |")
    return 0


def _inputs(data: dict[str, np.ndarray], out_dir: str) -> str:
    path = os.path.join(out_dir, "digits_inputs.npz")
    np.savez(path, input=data["input"][:64])
    return path


if __name__ == "__main__":
    sys.exit(main())
