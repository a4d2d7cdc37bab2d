"""Engine speed against onnxscript's rewriter, measured side by side in one run.

A generated graph of N erf-GELU chains (6 nodes each: a bias Add then the chain) in the spelling
onnxscript's erf-GELU rule matches, ``Mul(0.5, Mul(x, Add(Erf(Div(x, sqrt2)), 1)))``. Both engines
turn each chain into one ``com.microsoft.Gelu`` node, ModelProto in, ModelProto out; then
``rewrite -p pau_all`` (rationals, verification excluded) end to end on the same graph, and the
part of it the search for sites by their values (``rewriter.passes.identify.find``) takes.

    python tools/bench_engine.py [--chains 20000] [--repeats 3]
    python tools/bench_engine.py --zoo DIR   # the value search per emit on DIR's models
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(chains: int) -> onnx.ModelProto:
    inits = [
        numpy_helper.from_array(np.array(v, np.float32), n)
        for n, v in (("sqrt2", 1.4142135), ("one", 1.0), ("half", 0.5), ("bias", 0.1))
    ]
    nodes = []
    cur = "x"
    for i in range(chains):
        a, d, e, p, m, y = (f"{k}{i}" for k in "adepmy")
        nodes += [
            helper.make_node("Add", [cur, "bias"], [a], name=f"bias{i}"),
            helper.make_node("Div", [a, "sqrt2"], [d], name=f"div{i}"),
            helper.make_node("Erf", [d], [e], name=f"erf{i}"),
            helper.make_node("Add", [e, "one"], [p], name=f"plus{i}"),
            helper.make_node("Mul", [a, p], [m], name=f"mul{i}"),
            helper.make_node("Mul", ["half", m], [y], name=f"half{i}"),
        ]
        cur = y
    g = helper.make_graph(
        nodes,
        "gelu_chains",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [4, 16])],
        inits,
    )
    return helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
    )


def ours_fused(m: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    from rewriter.patterns.gelu import RULES

    from rewriter.match.engine import Options, run

    gelu = next(r for r in RULES if r.name == "gelu_erf")

    def one_node(site, rule, g):  # the same replacement as onnxscript's rule
        return (
            [
                helper.make_node(
                    "Gelu",
                    [site.input],
                    [site.output],
                    name=f"pau/{site.name}",
                    domain="com.microsoft",
                )
            ],
            [],
            None,
        )

    out = onnx.ModelProto()
    out.CopyFrom(m)
    sites = run(out, [gelu], Options(replacement=one_node, max_iterations=1))
    return out, sum(s.replaced for s in sites)


def theirs_fused(m: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    import onnxscript.rewriter as osr
    from onnxscript.rewriter.ort_fusions.erfgelu import rules

    out = osr.rewrite(m, pattern_rewrite_rules=rules)
    return out, sum(n.op_type == "Gelu" for n in out.graph.node)


def ours_pau_all(m: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    import rewriter

    res = rewriter.rewrite_onnx(m, "pau_all")
    return res.model, len(res.replaced)


def search_times(folder: str) -> int:
    """``passes.identify.find`` on each model of ``folder``, first call and again (its results
    cached per region, as a plan's many emits see it), in ms."""
    import glob
    import os

    from rewriter.passes.identify import find

    from rewriter.ir import default_opset, load_model
    from rewriter.match.rules import all_rules

    print("| model | nodes | found | first ms | again ms |\n|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(folder, "*.onnx"))):
        m = load_model(path)
        ms = []
        for _ in range(2):
            t0 = time.perf_counter()
            found = find(m, all_rules(), default_opset(m))
            ms.append((time.perf_counter() - t0) * 1e3)
        name = os.path.basename(path)
        print(f"| {name} | {len(m.graph.node)} | {len(found)} | {ms[0]:.1f} | {ms[1]:.1f} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--zoo",
        metavar="DIR",
        help="instead: the value search's time per emit on each DIR/*.onnx (tools/zoo.py)",
    )
    a = ap.parse_args()
    if a.zoo:
        return search_times(a.zoo)
    m = build(a.chains)
    print(f"graph: {a.chains} erf-GELU chains, {len(m.graph.node)} nodes")
    theirs_fused(build(50)), ours_fused(build(50))  # imports and first-call costs out of the way
    # interleaved, a collection before each run: the DESIGN.md section 6 protocol
    times: dict[str, list[float]] = {"theirs": [], "ours": []}
    counts = {}
    for k in range(a.repeats):
        order = (("theirs", theirs_fused), ("ours", ours_fused))
        for name, fn in order if k % 2 == 0 else order[::-1]:
            gc.collect()
            t0 = time.perf_counter()
            out, n = fn(m)
            times[name].append(time.perf_counter() - t0)
            counts[name] = (n, len(out.graph.node))
            del out
    ratios = sorted(t / o for t, o in zip(times["theirs"], times["ours"], strict=True))
    gc.collect()
    t0 = time.perf_counter()
    out, n = ours_pau_all(m)
    t_all = time.perf_counter() - t0
    from rewriter.passes.identify import find

    from rewriter.match.rules import all_rules

    gc.collect()
    t0 = time.perf_counter()
    find(m, all_rules(), 17)  # the search for sites by their values, inside each emit above
    t_find = time.perf_counter() - t0
    print(
        "| engine | median s | min | max | sites replaced | nodes after |\n|---|---|---|---|---|---|"
    )
    for label, key in (
        ("onnxscript.rewriter.rewrite (erfgelu rules)", "theirs"),
        ("pau-rewriter engine (gelu_erf rule)", "ours"),
    ):
        ts = times[key]
        print(
            f"| {label} | {statistics.median(ts):.2f} | {min(ts):.2f} | {max(ts):.2f} | {counts[key][0]} | {counts[key][1]} |"
        )
    print(
        f"| rewrite -p pau_all (rationals, end to end) | {t_all:.2f} | | | {n} | {len(out.graph.node)} |"
    )
    print(f"| of which the value search (passes/identify.find) | {t_find:.2f} | | | | |")
    print(
        f"\nspeed-up over onnxscript, median of {a.repeats} interleaved pairs: {statistics.median(ratios):.2f}x "
        f"(pairs range {ratios[0]:.2f}x-{ratios[-1]:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
