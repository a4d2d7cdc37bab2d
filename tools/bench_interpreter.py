"""The ONNX-to-torch interpreter on the zoo: recurrent nodes through torch's own kernels against
the step-by-step form, and torch-inductor's whole-model compile of exported models.

    python tools/bench_interpreter.py [--zoo DIR] [--no-inductor]

1. ``crnn_lstm`` (two bidirectional LSTM layers over 112 steps): a forward at 1x1x32x224 and a
   training step at batch 8, with the LSTMs as the model has them (torch.lstm) and with a
   ``clip`` too large to change a value (which sends them step by step), interleaved, medians.
2. torch-inductor: each zoo model compiled whole at its generated inputs (folded first, see
   ``rewriter.cost.targets``), seconds to the first result, and the largest difference from
   ONNX Runtime on those inputs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
import zoo  # tools/zoo.py: this script's folder is on sys.path when run as a script
from onnx import helper

from rewriter.cost.targets import get_target
from rewriter.cost.torch_convert import to_torch
from rewriter.inputs import generate_inputs
from rewriter.ir import run_model

INDUCTOR = ["bert_torchscript", "gpt2_dynamo", "vit_dynamo", "clip_torchscript", "llama_kv",
            "yolo_silu", "mobilenet_hswish", "crnn_lstm", "reflect_pad"]  # fmt: skip


def _stepwise(m: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(m)
    for n in out.graph.node:
        if n.op_type in ("LSTM", "GRU"):
            n.attribute.append(helper.make_attribute("clip", 1e9))
    return out


def recurrent(path: str, rounds: int = 20) -> None:
    m = onnx.load(path)
    forms = {"torch.lstm": to_torch(m).eval(), "step by step": to_torch(_stepwise(m)).eval()}
    x1 = torch.randn(1, 1, 32, 224)
    x8 = torch.randn(8, 1, 32, 224)
    fwd: dict[str, list[float]] = {k: [] for k in forms}
    train: dict[str, list[float]] = {k: [] for k in forms}
    for _ in range(rounds):  # interleaved: both forms see the same machine state
        for k, mod in forms.items():
            with torch.no_grad():
                t0 = time.perf_counter()
                mod(x1)
                fwd[k].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mod(x8.requires_grad_())[0].sum().backward()
            train[k].append(time.perf_counter() - t0)
    base_f, base_t = (
        statistics.median(fwd["step by step"]),
        statistics.median(train["step by step"]),
    )
    print("crnn_lstm | forward 1x1x32x224 ms | training step, batch 8, ms")
    for k in forms:
        f, t = statistics.median(fwd[k]), statistics.median(train[k])
        print(f"{k:12s} | {f * 1e3:.1f} (x{base_f / f:.1f}) | {t * 1e3:.0f} (x{base_t / t:.1f})")


def inductor(models: dict[str, str]) -> None:
    target = get_target("torch-inductor")
    print("model | compile + first run s | max diff vs ONNX Runtime")
    for name in INDUCTOR:
        if name not in models:
            continue
        m = onnx.load(models[name])
        feeds = generate_inputs(m).feeds
        t0 = time.perf_counter()
        try:
            got = target.session(m)(feeds)
        except Exception as e:  # said, not hidden: the table is what the README quotes
            print(f"{name} | failed: {str(e).splitlines()[0][:120]} |")
            continue
        s = time.perf_counter() - t0
        diff = max(
            float(np.abs(np.asarray(g, np.float64) - np.asarray(r, np.float64)).max())
            for g, r in zip(got, run_model(m, feeds), strict=True)
        )
        print(f"{name} | {s:.1f} | {diff:.2g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", help="folder of already built zoo models (NAME.onnx)")
    ap.add_argument("--no-inductor", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        names = ["crnn_lstm"] if a.no_inductor else INDUCTOR
        if a.zoo:
            models = {n: os.path.join(a.zoo, f"{n}.onnx") for n in names}
        else:
            models = zoo.build_zoo(os.path.join(tmp, "zoo"), names)
        torch.set_num_threads(1)
        recurrent(models["crnn_lstm"])
        if not a.no_inductor:
            inductor(models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
