"""``rewrite bench A.onnx [B.onnx] --target T [--headroom] [--batch-sweep]``: whole models side by side."""

from __future__ import annotations

from typing import Any

from rewriter.cli.common import (
    ModelInputs,
    Parser,
    add_cluster_option,
    add_input_options,
    console,
    model_inputs,
    positive_arg,
    write_json,
)
from rewriter.cost.bench import _dynamic_batch, bench_models, relu_model, with_batch
from rewriter.cost.model import speed_verdict
from rewriter.errors import UsageError


def main(argv: list[str]) -> int:
    from rich.table import Table

    from rewriter.ir import load_model

    p = Parser(
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
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="rows of a dynamic batch dim (default: the inputs' own)",
    )
    p.add_argument(
        "--batch-sweep",
        action="store_true",
        help="with a dynamic batch dim: batch 1,2,4,... until --latency-cap",
    )
    p.add_argument(
        "--latency-cap",
        type=positive_arg,
        default=200.0,
        help="ms per run where the batch sweep stops (default 200)",
    )
    p.add_argument(
        "--time-cap", type=positive_arg, default=10.0, help="seconds per comparison (default 10)"
    )
    p.add_argument(
        "--precision",
        type=positive_arg,
        default=0.02,
        help="relative CI width of the median ratio to stop at",
    )
    p.add_argument("--json", help="write results here")
    add_input_options(p)
    add_cluster_option(p)
    a = p.parse_args(argv)
    if a.batch is not None and a.batch < 1:
        raise UsageError(f"--batch {a.batch}: must be >= 1")
    if len(a.models) > 2:
        raise UsageError("rewrite bench takes one or two models")
    ms = {f"A ({a.models[0]})": load_model(a.models[0])}
    if len(a.models) == 2:
        ms[f"B ({a.models[1]})"] = load_model(a.models[1])
    elif a.headroom:
        from rewriter.api import rewrite_onnx

        ms[f"B (A -p {a.pipeline})"] = rewrite_onnx(ms[next(iter(ms))], a.pipeline).model
    names = list(ms)
    if len(a.models) == 2:  # both run on the same feeds: they must take the same inputs
        ia, ib = (
            sorted(
                i.name
                for i in ms[n].graph.input
                if i.name not in {t.name for t in ms[n].graph.initializer}
            )
            for n in names
        )
        if ia != ib:
            raise UsageError(
                f"{a.models[1]}: its inputs {ib} differ from {a.models[0]}'s {ia}; "
                "rewrite bench compares two versions of one model (the original and its rewrite)"
            )
    if a.headroom:
        ms["ReLU limit"] = relu_model(ms[names[0]], a.pipeline)
    con = console()
    inputs = model_inputs(a, ms[names[0]])  # every model runs on the same feeds
    feeds = inputs.feeds if a.batch is None else with_batch(inputs.feeds, ms[names[0]], a.batch)
    shapes = ModelInputs(feeds, inputs.source).shapes_text()
    out: dict[str, Any] = {"target": a.target, "inputs": inputs.source, "shapes": shapes}
    c = bench_models(ms, a.target, feeds=feeds, time_cap=a.time_cap, precision=a.precision)
    t = Table(
        title=f"rewrite bench on {a.target}, {inputs.source} inputs ({shapes}), "
        f"{c.rounds} interleaved rounds"
    )
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
    if len(names) == 2:  # one line, never wrapped: what the interval says, in words
        r = c.ratios[names[1]]
        lo, hi = 1 / r.hi, 1 / r.lo
        verdict = speed_verdict(lo, hi)
        said = (
            "not faster or slower than A beyond noise"
            if verdict == "within noise"
            else f"{verdict} than A"
        )
        print(f"{names[1]}: {said} on {a.target}: x{r.speedup:.3f} (95% CI {lo:.3f}-{hi:.3f})")
        out["verdict"] = verdict
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
            cb = bench_models(
                ms,
                a.target,
                feeds=with_batch(inputs.feeds, ms[names[0]], b),
                time_cap=a.time_cap / 2,
                precision=a.precision,
            )
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
        write_json(a.json, out)
    return 0
