"""OpenVINO CPU with dynamic against static input shapes, for a model and its rewrite.

    python tools/bench_openvino_static.py [--model M.onnx] [--shape 1x3x224x224] [--profile]

Rewrites ``--model`` (default: the zoo's YOLO-like ``yolo_silu``, built in a temporary folder)
with ``-p pau_all`` (every site a (5,4) rational), then compiles the original and the rewrite
on OpenVINO's CPU plugin twice each, one thread, f32, LATENCY hint: as the model is (dynamic
input dims stay dynamic) and reshaped to ``--shape`` first. Prints the median of 200 runs after
20 warm-up runs for all four, interleaved per round. ``--profile`` also prints the slowest
kernels of each compiled rewrite (OpenVINO's PERF_COUNT), which shows whether the rational's
nodes ran fused into one "Subgraph" kernel or one kernel each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="an .onnx model with one float input (default: zoo yolo_silu)")
    ap.add_argument("--shape", default="1x3x224x224", help="the static input shape")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--profile", action="store_true", help="the slowest kernels of the rewrite")
    a = ap.parse_args(argv)
    import onnx
    import openvino as ov

    import rewriter

    shape = [int(d) for d in a.shape.split("x")]
    with tempfile.TemporaryDirectory() as d:
        src = a.model
        if src is None:
            import zoo

            src = zoo.build_zoo(d, ["yolo_silu"])["yolo_silu"]
        dst = os.path.join(d, "rewritten.onnx")
        onnx.save(rewriter.rewrite(src, "pau_all"), dst)
        core = ov.Core()
        cfg = {
            "INFERENCE_NUM_THREADS": 1,
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "PERF_COUNT": "YES" if a.profile else "NO",
        }
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        runs = {}
        for label, path in (("original", src), ("rewritten", dst)):
            for static in (False, True):
                m = core.read_model(path)
                if static:
                    m.reshape({m.inputs[0].get_any_name(): shape})
                runs[(label, static)] = core.compile_model(m, "CPU", cfg).create_infer_request()
        times: dict[tuple[str, bool], list[float]] = {k: [] for k in runs}
        for r in runs.values():
            for _ in range(20):
                r.infer({0: x})
        for _ in range(a.rounds):
            for k, r in runs.items():
                t = time.perf_counter()
                r.infer({0: x})
                times[k].append(time.perf_counter() - t)
        print(
            f"| model at {a.shape}, openvino {ov.get_version().split('-')[0]} | dynamic ms | static ms |"
        )
        print("| --- | --- | --- |")
        for label in ("original", "rewritten"):
            dyn, st = (np.median(times[(label, s)]) * 1e3 for s in (False, True))
            print(f"| {label} | {dyn:.3f} | {st:.3f} |")
        if a.profile:
            for static in (False, True):
                prof = runs[("rewritten", static)].profiling_info
                top = sorted(prof, key=lambda p: -p.real_time.total_seconds())[:6]
                print(f"rewritten, {'static' if static else 'dynamic'}: slowest kernels")
                for p in top:
                    ms = p.real_time.total_seconds() * 1e3
                    print(f"  {ms:.3f} ms  {p.node_type:12s} {p.node_name[:60]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
