"""``rewrite zoo DIR --target T -o OUTDIR [--cluster HEAD]``: rewrite every model of a folder.

Each model of ``DIR`` (an ``.onnx``, or a file of another framework that ``rewrite FILE``
converts, written as ``.onnx``: ``fleet.zoo.output_names``) is planned on measured latencies,
verified and written to ``OUTDIR``, atomically; models whose output exists are skipped (a rerun
after a crash does the rest). With ``--cluster`` the models are planned in parallel as Ray
tasks and measured on the device workers; without it, here, one after another. One summary
table, also written as JSON (``--json``, default ``OUTDIR/zoo.json``). See
``rewriter.fleet.zoo``.
"""

from __future__ import annotations

import os

from rewriter.cli.common import (
    Parser,
    add_cluster_option,
    console,
    degrees_arg,
    nonnegative_arg,
    positive_arg,
    write_json,
)
from rewriter.errors import UsageError


def main(argv: list[str]) -> int:
    from rich.table import Table

    from rewriter.fleet.zoo import ZooOptions, ZooRow, run_zoo, zoo_models

    p = Parser(
        prog="rewrite zoo",
        description="Plan and rewrite every model of a folder (in parallel with --cluster).",
    )
    p.add_argument(
        "folder",
        help="folder of models (never modified): .onnx, and what rewrite converts (.tflite, "
        ".keras, SavedModel, .pt2, TorchScript), written as .onnx",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    p.add_argument("--target", default="ort-cpu", help="NAME[:key=value,...] (default ort-cpu)")
    p.add_argument("-p", "--pipeline", default="pau_all")
    p.add_argument("--degrees", type=degrees_arg, default=(5, 4), help="rational degrees M,N")
    p.add_argument("--form", default="auto")
    p.add_argument(
        "--tolerance", type=nonnegative_arg, default=1e-2, help="as for rewrite (default 1e-2)"
    )
    p.add_argument("--allow-standard", action="store_true", help="also standard activations")
    p.add_argument(
        "--time-cap",
        type=positive_arg,
        default=2.0,
        help="seconds per site measurement (whole models: twice that; default 2)",
    )
    p.add_argument(
        "--no-whole",
        action="store_true",
        help="trust the per-site measurements: no whole-model check and back-off (outputs then "
        "depend only on the database's rows, so a rerun on it gives the same bytes)",
    )
    p.add_argument("--db", help="latency database (default: the user cache dir)")
    p.add_argument("--json", help="summary JSON (default OUTDIR/zoo.json)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary table")
    add_cluster_option(p)
    a = p.parse_args(argv)  # with --cluster: attached, and --target's device found, here
    if not os.path.isdir(a.folder):
        raise UsageError(f"{a.folder}: not a folder of models")
    if not zoo_models(a.folder):
        raise UsageError(
            f"{a.folder}: no model in it (.onnx, .tflite, .keras, .h5, a SavedModel folder, .pt2, "
            "or a TorchScript .pt)"
        )
    if os.path.exists(a.output) and not os.path.isdir(a.output):
        raise UsageError(f"-o {a.output}: exists and is not a folder")
    if os.path.abspath(a.output) == os.path.abspath(a.folder):
        raise UsageError("-o: the output folder is the input folder; inputs are never overwritten")
    os.makedirs(a.output, exist_ok=True)
    opts = ZooOptions(
        a.target,
        a.pipeline,
        a.degrees,
        a.form,
        a.tolerance,
        a.time_cap,
        a.allow_standard,
        not a.no_whole,
    )
    from rewriter.cost.measure import current_measurer

    cluster = current_measurer() if a.cluster else None
    con = console()

    def line(r: ZooRow) -> None:
        if not a.quiet:
            what = r.error if r.status != "written" else f"{r.seconds:.1f} s"
            print(f"[zoo] {r.model}: {r.status} ({what})", flush=True)

    rows = run_zoo(a.folder, a.output, opts, db=a.db, cluster=cluster, on_row=line)
    where = f"cluster {a.cluster}" if a.cluster else "this process"
    t = Table(title=f"rewrite zoo {a.folder} -> {a.output} on {a.target} ({where})")
    for col in ("model", "status", "sites", "speed-up", "95% CI", "rel. L2", "cosine", "time s"):
        t.add_column(col)
    for r in rows:
        ci = f"{r.speedup_ci[0]:.2f}-{r.speedup_ci[1]:.2f}" if r.speedup_ci else "-"
        speed = "-"
        if r.speedup:
            speed = f"x{r.speedup:.3f}"
        elif r.status == "written":
            speed = "unchanged" if not r.replaced else "not measured"
        t.add_row(
            r.model,
            r.status if r.status != "failed" else f"failed: {r.error}",
            f"{r.replaced}/{r.sites}" if r.status == "written" else "-",
            speed,
            ci,
            f"{r.rel_l2:.2e}" if r.rel_l2 is not None else "-",
            f"{r.cosine:.6f}" if r.cosine is not None else "-",
            f"{r.seconds:.1f}" if r.status != "skipped" else "-",
        )
    con.print(t)
    n = {s: sum(r.status == s for r in rows) for s in ("written", "skipped", "failed")}
    same = sum(r.status == "written" and not r.replaced for r in rows)
    kept = f"; {same} of them unchanged: no replacement paid on {a.target}" if same else ""
    con.print(
        f"{n['written']} written, {n['skipped']} skipped (already there), "
        f"{n['failed']} failed{kept}"
    )
    write_json(
        a.json or os.path.join(a.output, "zoo.json"),
        {
            "folder": a.folder,
            "target": a.target,
            "cluster": a.cluster,
            "models": [r.to_dict() for r in rows],
        },
    )
    return 1 if n["failed"] else 0
