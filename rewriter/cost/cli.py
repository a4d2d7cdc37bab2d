"""``rewrite bench``, ``rewrite profile`` and ``rewrite db``: each ``main(argv) -> int``.

rewrite bench A.onnx [B.onnx] --target ort-cpu:threads=1 [--headroom] [--batch-sweep]
rewrite profile --target openvino-cpu [--sizes 1x256x768,...] [--functions gelu,mish] [--db PATH]
rewrite db stats [--db PATH] [--json]
rewrite db clear [--db PATH]
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import onnx

from rewriter.cli import Parser as _Parser
from rewriter.cli import console as _console
from rewriter.cli import degrees_arg
from rewriter.errors import UsageError

__all__ = ["bench_main", "profile_main", "db_main"]


# -- bench ----------------------------------------------------------------------------------
def relu_model(model: onnx.ModelProto, pipeline: str = "pau_all") -> onnx.ModelProto:
    """``model`` with every site of ``pipeline`` replaced by one Relu node: the headroom limit."""
    from rewriter.api import find_sites

    from .candidates import Candidate, build_candidate

    relu = Candidate("standard", "standard:relu", op="relu")
    return build_candidate(model, {s.output: relu for s in find_sites(model, pipeline)})


def _dynamic_batch(m: onnx.ModelProto) -> bool:
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        dims = vi.type.tensor_type.shape.dim
        if dims and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
            return True
    return False


def bench_models(
    models: dict[str, onnx.ModelProto],
    target: str,
    *,
    batch: int = 1,
    dims: dict[str, int] | None = None,
    time_cap: float = 10.0,
    precision: float = 0.02,
) -> Any:
    """Interleaved whole-model comparison of ``models`` (first is the baseline) on ``target``."""
    from .harness import compare
    from .micro import random_feeds, resolve_dims
    from .targets import get_target

    t = get_target(target)
    first = next(iter(models.values()))
    feeds = random_feeds(resolve_dims(first, batch, dims))
    runs = {k: t.session(m) for k, m in models.items()}
    return compare(
        {k: functools.partial(r, feeds) for k, r in runs.items()},
        time_cap=time_cap,
        precision=precision,
        warmup_cap=3.0,
    )


def bench_main(argv: list[str]) -> int:
    from rich.table import Table

    from rewriter.ir import load_model

    p = _Parser(
        prog="rewrite bench", description="Whole-model latency, models interleaved, with spread."
    )
    p.add_argument("models", nargs="+", help="A.onnx [B.onnx]")
    p.add_argument("--target", default="ort-cpu", help="NAME[:key=value,...] (default ort-cpu)")
    p.add_argument(
        "--headroom",
        action="store_true",
        help="also the ReLU limit and gain capture (B defaults to A rewritten with -p)",
    )
    p.add_argument(
        "-p", "--pipeline", default="pau_all", help="sites for --headroom (default pau_all)"
    )
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--batch-sweep",
        action="store_true",
        help="with a dynamic batch dim: batch 1,2,4,... until --latency-cap",
    )
    p.add_argument(
        "--latency-cap",
        type=float,
        default=200.0,
        help="ms per run where the batch sweep stops (default 200)",
    )
    p.add_argument(
        "--time-cap", type=float, default=10.0, help="seconds per comparison (default 10)"
    )
    p.add_argument(
        "--precision",
        type=float,
        default=0.02,
        help="relative CI width of the median ratio to stop at",
    )
    p.add_argument("--json", help="write results here")
    a = p.parse_args(argv)
    if len(a.models) > 2:
        raise UsageError("rewrite bench takes one or two models")
    ms = {f"A ({a.models[0]})": load_model(a.models[0])}
    if len(a.models) == 2:
        ms[f"B ({a.models[1]})"] = load_model(a.models[1])
    elif a.headroom:
        from rewriter.api import rewrite_onnx

        ms[f"B (A -p {a.pipeline})"] = rewrite_onnx(ms[next(iter(ms))], a.pipeline).model
    names = list(ms)
    if a.headroom:
        ms["ReLU limit"] = relu_model(ms[names[0]], a.pipeline)
    con = _console()
    out: dict[str, Any] = {"target": a.target}
    c = bench_models(ms, a.target, batch=a.batch, time_cap=a.time_cap, precision=a.precision)
    t = Table(title=f"rewrite bench on {a.target}, batch {a.batch} ({c.rounds} interleaved rounds)")
    for col in ("model", "median ms", "IQR ms", "min ms", "speed-up vs A", "95% CI"):
        t.add_column(col)
    for k, st in c.stats.items():
        r = c.ratios[k]
        t.add_row(
            k,
            f"{st.median * 1e3:.3f}",
            f"{st.iqr * 1e3:.3f}",
            f"{st.min * 1e3:.3f}",
            f"x{r.speedup:.3f}",
            f"{1 / r.hi:.3f}-{1 / r.lo:.3f}",
        )
    con.print(t)
    out["comparison"] = c.to_dict()
    if a.headroom and len(names) == 2:
        to, tb, tr = (c.stats[k].median for k in (names[0], names[1], "ReLU limit"))
        cap = (to - tb) / (to - tr) if to != tr else float("nan")
        con.print(f"gain capture (t_A - t_B) / (t_A - t_ReLU) = {cap:.1%}")
        out["gain_capture"] = cap
    if a.batch_sweep and _dynamic_batch(ms[names[0]]):
        t2 = Table(title="batch sweep (throughput = batch / median)")
        for col in ("batch", *[f"{k} ms" for k in ms], *[f"{k} items/s" for k in ms]):
            t2.add_column(col)
        best: dict[str, tuple[float, int]] = {}
        b, sweep = 1, []
        while b <= 256:
            cb = bench_models(ms, a.target, batch=b, time_cap=a.time_cap / 2, precision=a.precision)
            meds = {k: cb.stats[k].median for k in ms}
            t2.add_row(
                str(b),
                *[f"{v * 1e3:.2f}" for v in meds.values()],
                *[f"{b / v:.1f}" for v in meds.values()],
            )
            sweep.append({"batch": b, "ms": {k: v * 1e3 for k, v in meds.items()}})
            for k, v in meds.items():
                if b / v > best.get(k, (0.0, 0))[0]:
                    best[k] = (b / v, b)
            if max(meds.values()) * 1e3 > a.latency_cap:
                break
            b *= 2
        con.print(t2)
        for k, (thr, bb) in best.items():
            con.print(f"best throughput {k}: {thr:.1f} items/s at batch {bb}")
        out["batch_sweep"] = sweep
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


# -- profile --------------------------------------------------------------------------------
PROFILE_FUNCTIONS = ("gelu", "gelu_tanh", "silu", "mish", "tanh", "sigmoid", "softplus")
PROFILE_SIZES = ("matmul:1x128x256x1024", "conv:1x32x56x56")
LONG_SIZES = (
    "matmul:1x128x256x1024",
    "matmul:8x128x768x3072",
    "conv:1x32x56x56",
    "conv:1x64x112x112",
    "conv:1x256x14x14",
)


def synthetic_site_model(kind: str, dims: list[int], function: str) -> onnx.ModelProto:
    """A producer (MatMul+bias or Conv) followed by ``function`` spelled as exporters do."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits: list[onnx.TensorProto] = []

    def c(name: str, v: object) -> str:
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
        return name

    if kind == "matmul":
        b, t, k, n = dims
        xin = helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, t, k])
        nodes = [
            helper.make_node(
                "MatMul", ["x", c("W", rng.standard_normal((k, n)) / np.sqrt(k))], ["mm"]
            ),
            helper.make_node("Add", ["mm", c("B", rng.standard_normal(n) * 0.1)], ["h"]),
        ]
        shape = [b, t, n]
    elif kind == "conv":
        b, ch, hh, ww = dims
        xin = helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, ch, hh, ww])
        nodes = [
            helper.make_node(
                "Conv",
                [
                    "x",
                    c("W", rng.standard_normal((ch, ch, 3, 3)) / np.sqrt(9 * ch)),
                    c("B", rng.standard_normal(ch) * 0.1),
                ],
                ["h"],
                pads=[1, 1, 1, 1],
            )
        ]
        shape = [b, ch, hh, ww]
    else:
        raise UsageError(f"--sizes: producer {kind!r} is not matmul or conv")
    nodes += _activation_nodes(function, "h", "y", c)
    g = helper.make_graph(
        nodes,
        f"{kind}_{function}",
        [xin],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _activation_nodes(function: str, x: str, y: str, c: Any) -> list[onnx.NodeProto]:
    import math

    from onnx import helper

    mk = helper.make_node
    if function == "gelu":
        return [
            mk("Div", [x, c("sq2", math.sqrt(2))], ["d"]),
            mk("Erf", ["d"], ["e"]),
            mk("Add", ["e", c("one", 1.0)], ["a"]),
            mk("Mul", [x, "a"], ["m"]),
            mk("Mul", ["m", c("half", 0.5)], [y]),
        ]
    if function == "gelu_tanh":
        return [
            mk("Pow", [x, c("three", 3.0)], ["p"]),
            mk("Mul", ["p", c("k", 0.044715)], ["pk"]),
            mk("Add", [x, "pk"], ["s"]),
            mk("Mul", ["s", c("r", math.sqrt(2 / math.pi))], ["sr"]),
            mk("Tanh", ["sr"], ["t"]),
            mk("Add", ["t", c("one", 1.0)], ["a"]),
            mk("Mul", [x, "a"], ["m"]),
            mk("Mul", ["m", c("half", 0.5)], [y]),
        ]
    if function == "silu":
        return [mk("Sigmoid", [x], ["s"]), mk("Mul", [x, "s"], [y])]
    if function == "mish":
        return [mk("Softplus", [x], ["s"]), mk("Tanh", ["s"], ["t"]), mk("Mul", [x, "t"], [y])]
    native = {
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "softplus": "Softplus",
        "elu": "Elu",
        "relu": "Relu",
    }
    if function in native:
        return [mk(native[function], [x], [y])]
    raise UsageError(
        f"--functions: no synthetic spelling for {function!r}; known: {', '.join(PROFILE_FUNCTIONS)}, elu"
    )


def _parse_size(text: str) -> tuple[str, list[int]]:
    kind, _, rest = text.partition(":")
    try:
        return kind, [int(v) for v in rest.split("x")]
    except ValueError:
        raise UsageError(
            f"--sizes: {text!r} is not KIND:AxBxC..., e.g. matmul:1x128x256x1024 or conv:1x32x56x56"
        ) from None


def profile_main(argv: list[str]) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from rewriter.api import find_sites

    from .candidates import candidates_for
    from .db import LatencyDB
    from .micro import cut_site
    from .model import CostModel, HarnessOptions
    from .targets import get_target

    p = _Parser(
        prog="rewrite profile",
        description="Fill the latency database with a sweep over producers, sizes and candidates.",
    )
    p.add_argument("--target", default="ort-cpu")
    p.add_argument("--db", help="database path (default: the user cache dir)")
    p.add_argument("--functions", default=",".join(PROFILE_FUNCTIONS))
    p.add_argument(
        "--sizes", default=",".join(PROFILE_SIZES), help="matmul:BxTxKxN and conv:BxCxHxW items"
    )
    p.add_argument(
        "--long", action="store_true", help="the long sweep (more sizes, degrees (3,2) to (7,6))"
    )
    p.add_argument("--degrees", default="5,4")
    p.add_argument(
        "--time-cap", type=float, default=1.0, help="seconds per micro-model (default 1)"
    )
    p.add_argument("--remeasure", action="store_true", help="measure even what the database has")
    a = p.parse_args(argv)
    t = get_target(a.target)
    deg = degrees_arg(a.degrees)
    sizes = LONG_SIZES if a.long else tuple(s for s in a.sizes.split(",") if s)
    fns = [f for f in a.functions.split(",") if f]
    db = LatencyDB(a.db)
    cm = CostModel(
        t,
        db,
        HarnessOptions(time_cap=a.time_cap, warmup_cap=0.5, min_rounds=8),
        reuse=not a.remeasure,
    )
    con = _console()
    rows = []
    with Progress(console=con, transient=True) as prog:
        task = prog.add_task(f"profiling {t.spec}", total=len(sizes) * len(fns))
        for size in sizes:
            kind, dims = _parse_size(size)
            for fn in fns:
                m = synthetic_site_model(kind, dims, fn)
                for s in find_sites(m, "pau_all"):
                    micro = cut_site(m, s)
                    extra = ((3, 2), (4, 3), (7, 6)) if a.long else ()
                    cands = candidates_for(
                        s, deg, extra_degrees=extra, max_error=float("inf"), allow_standard=a.long
                    )
                    recs = cm.site_costs(micro, cands)
                    for name, rec in recs.items():
                        rows.append(
                            (
                                size,
                                fn,
                                name,
                                rec.median * 1e3,
                                rec.ratio,
                                rec.ratio_lo,
                                rec.ratio_hi,
                            )
                        )
                prog.advance(task)
    tab = Table(title=f"profile {t} -> {db.path}")
    for col in ("size", "function", "candidate", "median ms", "speed-up vs keep", "95% CI"):
        tab.add_column(col)
    for size, fn, name, ms, r, lo, hi in rows:
        tab.add_row(size, fn, name, f"{ms:.3f}", f"x{1 / r:.2f}", f"{1 / hi:.2f}-{1 / lo:.2f}")
    con.print(tab)
    con.print(
        f"{cm.measured} micro-model(s) measured, {cm.reused} reused; {db.count()} rows in {db.path}"
    )
    db.close()
    return 0


# -- db -------------------------------------------------------------------------------------
def db_main(argv: list[str]) -> int:
    from rich.table import Table

    from .db import LatencyDB

    p = _Parser(prog="rewrite db", description="Inspect the latency database.")
    p.add_argument("action", choices=["stats", "path", "clear"])
    p.add_argument("--db", help="database path (default: the user cache dir)")
    p.add_argument("--json", action="store_true", help="stats as JSON")
    a = p.parse_args(argv)
    db = LatencyDB(a.db)
    if a.action == "path":
        print(db.path)
    elif a.action == "clear":
        print(f"removed {db.clear()} row(s) from {db.path}")
    else:
        st = db.stats()
        if a.json:
            print(json.dumps(st, indent=1))
        else:
            con = _console()
            t = Table(title=f"{st['path']}: {st['rows']} rows, {st['bytes'] / 1024:.0f} KiB")
            for col in (
                "target",
                "runtime",
                "threads",
                "hardware",
                "contexts",
                "rows",
                "candidates faster than keep",
            ):
                t.add_column(col)
            for g in st["groups"]:
                hw = st["hardware"].get(g["hw"], {}).get("cpu", g["hw"])
                t.add_row(
                    g["target"],
                    g["runtime"],
                    str(g["threads"]),
                    hw,
                    str(g["contexts"]),
                    str(g["rows"]),
                    str(g["faster"]),
                )
            con.print(t)
            t2 = Table(title="per candidate")
            for col in ("candidate", "rows", "mean ratio to keep"):
                t2.add_column(col)
            for k, v in st["candidates"].items():
                t2.add_row(k, str(v["rows"]), f"{v['median_ratio']:.3f}")
            con.print(t2)
    db.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(bench_main(sys.argv[1:]))
