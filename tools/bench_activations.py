"""DESIGN section 6's per-activation table, for every installed target, plus rational variants.

One activation applied to a float32 tensor (default 2x128x3072; ``--shape 8,128,3072`` for the
DESIGN size), one thread, all activations of one target interleaved in one run; medians (ms)
with IQR, and the ratio to ReLU measured in the same run.

    python tools/bench_activations.py [--shape 8,128,3072] [--targets ort-cpu,openvino-cpu]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

from rewriter.candidates import fold
from rewriter.cost import compare, get_target, installed_targets
from rewriter.cost.bench import activation_nodes
from rewriter.emit import exact_nodes
from rewriter.rational import emit_onnx, table_rational


def _model(shape: list[int], build) -> onnx.ModelProto:
    inits: list[onnx.TensorProto] = []

    def c(name: str, v: float) -> str:
        inits.append(onnx.numpy_helper.from_array(np.asarray(v, np.float32), name))
        return name

    nodes, extra = build(c)
    g = helper.make_graph(
        nodes,
        "act",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        inits + extra,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _rat(name: str, variant: str = "horner"):
    r = table_rational(name)
    r = fold(r) if variant == "folded" else r
    return lambda c: emit_onnx(r, "x", "y", prefix="p/", const_prefix="k/")


ACTS = {
    "ReLU": lambda c: (activation_nodes("relu", "x", "y", c), []),
    "GELU": lambda c: (activation_nodes("gelu", "x", "y", c), []),
    "tanh-GELU chain": lambda c: (activation_nodes("gelu_tanh", "x", "y", c), []),
    "SiLU chain": lambda c: (activation_nodes("silu", "x", "y", c), []),
    "Mish": lambda c: (activation_nodes("mish", "x", "y", c), []),
    "Softplus": lambda c: (activation_nodes("softplus", "x", "y", c), []),
    "Elu": lambda c: (activation_nodes("elu", "x", "y", c), []),
    "PAU gelu (5,4) horner": _rat("gelu"),
    "PAU gelu (5,4) folded": _rat("gelu", "folded"),
    "PAU silu (5,4) folded": _rat("silu", "folded"),
    "PAU mish (5,4) horner": _rat("mish"),
    "exact mish_exp": lambda c: exact_nodes("mish_exp", "x", "y", "e/"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="2,128,3072")
    ap.add_argument(
        "--targets", default=None, help="comma list (default: every installed CPU target)"
    )
    ap.add_argument("--time-cap", type=float, default=8.0)
    a = ap.parse_args(argv)
    shape = [int(v) for v in a.shape.split(",")]
    targets = a.targets.split(",") if a.targets else installed_targets()
    x = {"x": np.random.default_rng(0).uniform(-4, 4, shape).astype(np.float32)}
    models = {k: _model(shape, b) for k, b in ACTS.items()}
    print(
        f"shape {'x'.join(map(str, shape))} float32, 1 thread; median ms (IQR) and ratio to ReLU, one interleaved run per target\n"
    )
    print("| target | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for tn in targets:
        t = get_target(f"{tn}:threads=1")
        runs = {k: t.session(m) for k, m in models.items()}
        c = compare(
            {k: (lambda r=r: r(x)) for k, r in runs.items()},
            "ReLU",
            time_cap=a.time_cap,
            precision=0.03,
            warmup_cap=1.0,
        )
        cells = [
            f"{c.stats[k].median * 1e3:.2f} ({c.stats[k].iqr * 1e3:.2f}) x{c.ratios[k].median:.1f}"
            for k in models
        ]
        print(f"| {t.runtime} {t.version} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
