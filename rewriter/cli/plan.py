"""``rewrite plan MODEL --target T [--predict-only | --prune K] [-o OUT]``: predicted or pruned plans."""

from __future__ import annotations

import json
import os
from typing import Any

from rewriter.cli.common import Parser, console, degrees_arg
from rewriter.errors import UsageError


def _plan(
    model: Any, a: Any, db_path: str, deg: tuple[int, int], progress: Any, prune: int | None
) -> Any:
    """``plan_rewrite`` with the command's options; with ``prune``, only keep and the predicted
    top-K candidates per site are measured (what was measured comes back from the database)."""
    from rewriter.cost import plan_rewrite
    from rewriter.cost.db import LatencyDB
    from rewriter.predict.prune import Ranker

    db = LatencyDB(db_path)
    try:
        top_k = None
        if prune is not None:
            rank = Ranker(a.target, db_path)

            def top_k(site: Any, micro: Any, cands: list[Any]) -> list[Any]:
                ranking, _ = rank.rank(micro, cands, db)
                return [c for c, _ in ranking if c.kind != "keep"][:prune]

        return plan_rewrite(
            model,
            a.pipeline,
            a.target,
            degrees=deg,
            form=a.form,
            db=db,
            max_site_error=a.max_site_error,
            allow_standard=a.allow_standard,
            batch=a.batch,
            progress=progress,
            candidate_filter=top_k,
        )
    finally:
        db.close()


def _write(model: Any, res: Any, a: Any, con: Any) -> None:
    """Write a planned model as every `rewrite` output is written: checked and compared with the
    original first, then atomically."""
    from rewriter.ir import check_output_path, save_atomic
    from rewriter.verify import make_inputs, verify

    check_output_path(a.model, a.output)
    v = verify(model, res.model, make_inputs(model))
    if res.whole is not None:
        w = res.whole
        con.print(f"whole model: x{w.speedup:.3f} (CI {w.speedup_lo:.3f}-{w.speedup_hi:.3f})")
    con.print(
        f"verification: max-abs {v.max_abs:.3g}, rel-L2 {v.rel_l2:.3g}, cosine {v.cosine:.6f}; "
        "checker passed"
    )
    save_atomic(res.model, a.output)
    con.print(f"wrote {a.output}: {len(res.replaced)} of {len(res.decisions)} site(s) replaced")


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
    p.add_argument("--degrees", default="5,4")
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
    p.add_argument("--max-site-error", type=float)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("-o", "--output", help="write the planned model here (not with --predict-only)")
    p.add_argument("--json", help="write the plan as JSON here")
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
    deg = degrees_arg(a.degrees)
    con = console()
    log = lambda s: con.print(f"[dim][plan] {s}[/dim]")  # noqa: E731
    kw = dict(
        pipeline=a.pipeline,
        degrees=deg,
        form=a.form,
        allow_standard=a.allow_standard,
        max_site_error=a.max_site_error,
        batch=a.batch,
        log=log,
    )
    out_json: dict[str, Any] = {"target": a.target}
    if a.predict_only or a.prune is not None:
        from rewriter.predict.prune import predict_plan, print_predictions, pruned_plan

        if a.predict_only:
            preds = predict_plan(model, a.target, db_path, **kw)  # type: ignore[arg-type]
            print_predictions(preds, f"predicted plan on {a.target} (nothing measured)", con)
            con.print(
                f"{sum(x.decision == 'replace' for x in preds)}/{len(preds)} site(s) predicted to be replaced"
            )
        else:
            preds, built, counts = pruned_plan(model, a.target, db_path, a.prune, **kw)  # type: ignore[arg-type]
            print_predictions(
                preds,
                f"pruned plan on {a.target} (keep + top-{a.prune} measured per site)",
                con,
                measured=True,
            )
            con.print(
                f"{sum(x.decision == 'replace' for x in preds)}/{len(preds)} site(s) replaced; "
                f"{counts['measured']} of {counts['full']} candidate measurements (full search) needed"
            )
            out_json["counts"] = counts
            if a.output:  # the written model goes through the planner, back-off and verification
                _write(model, _plan(model, a, db_path, deg, False, a.prune), a, con)
        out_json["sites"] = [x.to_dict() for x in preds]
    else:
        from rewriter.cost import print_plan

        res = _plan(model, a, db_path, deg, log, None)
        print_plan(res, con)
        out_json.update(res.to_dict())
        if a.output:
            _write(model, res, a, con)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out_json, f, indent=1, default=str)
    return 0
