"""Where against tf2onnx's arithmetic select, side by side (the README's TensorFlow section).

tf2onnx spells a float Select as ``Cast(c)*a + Cast(Not c)*b``, which is NaN where the branch
not taken is inf; the TF front end makes it ``Where`` only when a branch can overflow, because
``Where`` costs more in ONNX Runtime. Both models compute ``select(x < 0, exp(x), x)`` on one
float32 tensor; one thread per target, interleaved in one run (``rewriter.cost.compare``);
medians (ms) and Where's time over the blend's.

    python tools/bench_where.py [--shape 1,64,112,112] [--targets ort-cpu,openvino-cpu]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

from rewriter.cost import compare, get_target, installed_targets


def _model(shape: list[int], where: bool) -> onnx.ModelProto:
    nodes = [helper.make_node("Less", ["x", "zero"], ["c"]), helper.make_node("Exp", ["x"], ["e"])]
    if where:
        nodes.append(helper.make_node("Where", ["c", "e", "x"], ["y"]))
    else:
        nodes += [
            helper.make_node("Cast", ["c"], ["cf"], to=TensorProto.FLOAT),
            helper.make_node("Not", ["c"], ["nc"]),
            helper.make_node("Cast", ["nc"], ["ncf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["cf", "e"], ["a"]),
            helper.make_node("Mul", ["x", "ncf"], ["b"]),
            helper.make_node("Add", ["a", "b"], ["y"]),
        ]
    graph = helper.make_graph(
        nodes,
        "select",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="1,64,112,112")
    ap.add_argument("--targets", default=None, help="comma list (default: installed CPU targets)")
    ap.add_argument("--time-cap", type=float, default=8.0)
    a = ap.parse_args(argv)
    shape = [int(v) for v in a.shape.split(",")]
    x = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    models = {"blend": _model(shape, False), "Where": _model(shape, True)}
    print(f"select(x < 0, exp(x), x) on {'x'.join(map(str, shape))} float32, 1 thread\n")
    print("| target | blend ms | Where ms | Where / blend |")
    print("|---|---|---|---|")
    for tn in a.targets.split(",") if a.targets else installed_targets():
        t = get_target(f"{tn}:threads=1")
        runs = {k: t.session(m) for k, m in models.items()}
        c = compare({k: (lambda r=r: r(x)) for k, r in runs.items()}, "blend", time_cap=a.time_cap)
        ms = {k: c.stats[k].median * 1e3 for k in models}
        print(
            f"| {t.runtime} {t.version} | {ms['blend']:.2f} | {ms['Where']:.2f} | "
            f"x{c.ratios['Where'].median:.2f} |",  # (a ratio is time / the blend's time)
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
