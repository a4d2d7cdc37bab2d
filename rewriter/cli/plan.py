"""``rewrite plan MODEL --target T [--predict-only | --prune K] [-o OUT]``: predicted or pruned plans."""

from __future__ import annotations

import os
from typing import Any

from rewriter.cli.common import (
    Parser,
    add_cluster_option,
    add_input_options,
    console,
    degrees_arg,
    model_inputs,
    nonnegative_arg,
    progress,
    speed_said,
    write_json,
)
from rewriter.errors import RewriterError, UsageError


def _write(model: Any, res: Any, a: Any, con: Any, inputs: Any) -> None:
    """Write a planned model as every `rewrite` output is written: checked and compared with the
    original first (on the inputs the plan was measured on), then atomically."""
    from rewriter.ir import check_output_path, save_atomic

    check_output_path(a.model, a.output)
    v = inputs.verify(model, res.model, a.tolerance)
    if res.whole is not None:
        w = res.whole
        con.print(f"whole model: x{w.speedup:.3f} (CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f})")
    print(v.summary())
    if v.exceeds(a.tolerance) and not a.force:
        w = v.worst
        where = f" (worst output {w.name!r})" if w is not None else ""
        raise RewriterError(
            f"{a.model}: the planned model's relative L2 error {v.rel_l2:.3g}{where} exceeds "
            f"--tolerance {a.tolerance:g} above its noise floor; nothing written (`rewrite "
            f"{a.model} --target {a.target}` backs the worst sites off; or --force)"
        )
    save_atomic(res.model, a.output)
    print(  # one line, never wrapped
        f"wrote {a.output}: {len(res.replaced)} of {len(res.decisions)} site(s) replaced; "
        + speed_said(res, res, None)
    )


def main(argv: list[str]) -> int:
    """``rewrite plan``: predicted (``--predict-only``), pruned (``--prune K``) or full plan."""
    from rewriter.cost.db import default_db_path
    from rewriter.ir import load_model

    p = Parser(
        prog="rewrite plan",
        description="Plan a rewrite on a target: predicted, pruned or fully measured.",
    )
    p.add_argument("model", help="input .onnx model (never modified)")
    p.add_argument("--target", default="ort-cpu", help="NAME[:key=value,...] (default ort-cpu)")
    p.add_argument("-p", "--pipeline", default="pau_all")
    p.add_argument("--degrees", type=degrees_arg, default=(5, 4), help="rational degrees M,N")
    p.add_argument("--form", default="auto")
    p.add_argument("--db", help="latency database (default: the user cache dir)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--predict-only",
        action="store_true",
        help="predicted decisions from the database and probes; measure nothing",
    )
    mode.add_argument(
        "--prune",
        type=int,
        metavar="K",
        help="measure keep + the K best predicted candidates per site",
    )
    p.add_argument(
        "--allow-standard",
        action="store_true",
        help="also standard activations (ReLU, HardSwish, ...)",
    )
    p.add_argument("--max-site-error", type=nonnegative_arg)
    p.add_argument("-o", "--output", help="write the planned model here (not with --predict-only)")
    p.add_argument(
        "--tolerance",
        type=nonnegative_arg,
        default=1e-2,
        help="with -o: relative L2 output error allowed above the noise floor (default 1e-2)",
    )
    p.add_argument("--force", action="store_true", help="with -o: write above --tolerance too")
    p.add_argument("--json", help="write the plan as JSON here")
    add_input_options(p)
    add_cluster_option(p)
    a = p.parse_args(argv)
    if a.prune is not None and a.prune < 1:
        raise UsageError(f"--prune {a.prune}: K must be >= 1")
    if a.predict_only and a.output:
        raise UsageError(
            "--predict-only measures nothing and writes no model; drop -o or use --prune K"
        )
    model = load_model(a.model)
    db_path = a.db or default_db_path()
    os.makedirs(os.path.dirname(os.path.abspath(db_path)), exist_ok=True)
    deg = a.degrees
    con = console()
    log = progress("plan")
    inputs = model_inputs(a, model)  # sites are measured at the shapes they have on these
    kw: dict[str, Any] = dict(
        pipeline=a.pipeline,
        degrees=deg,
        form=a.form,
        allow_standard=a.allow_standard,
        max_site_error=a.max_site_error,
        feeds=inputs.feeds,
        log=log,
    )
    from rewriter.plan import plan_sites, predict_plan, pruned_plan
    from rewriter.report import print_plan, print_predictions

    if a.predict_only:
        res = predict_plan(model, a.target, db_path, **kw)  # type: ignore[arg-type]
        print_predictions(res, f"predicted plan on {a.target} (nothing measured)", con)
        con.print(f"{len(res.replaced)}/{len(res.decisions)} site(s) predicted to be replaced")
    elif a.prune is not None:  # one planner run: measured top-K, back-off, the model written
        res = pruned_plan(model, a.target, db_path, a.prune, **kw)  # type: ignore[arg-type]
        title = f"pruned plan on {a.target} (keep + top-{a.prune} measured per site)"
        print_predictions(res, title, con, measured=True)
        con.print(
            f"{len(res.replaced)}/{len(res.decisions)} site(s) replaced; {res.counts['measured']} "
            f"of {res.counts['full']} candidate measurements (full search) needed"
        )
    else:
        kw["progress"] = kw.pop("log")
        res = plan_sites(model, a.target, db=db_path, **kw)  # type: ignore[arg-type]
        print_plan(res, con)
    if inputs.generated:
        print(inputs.line())
    if a.output:
        _write(model, res, a, con, inputs)
    if a.json:
        write_json(a.json, {"target": a.target, **res.to_dict(), "inputs": inputs.to_dict()})
    return 0
