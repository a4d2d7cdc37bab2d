"""``rewrite profile --target T [--sizes ...] [--functions ...]``: fill the latency database with a sweep.

With ``--cluster HEAD`` the sweep runs on the cluster's device workers: on the one for
``--target``, or, without ``--target``, on every device the cluster has (each target resource it
finds), one device after another; rows carry each device's fingerprint."""

from __future__ import annotations

from typing import Any

from rewriter.cli.common import Parser, add_cluster_option, console, degrees_arg, positive_arg
from rewriter.cost.bench import (
    LONG_SIZES,
    PROFILE_FUNCTIONS,
    PROFILE_SIZES,
    parse_size,
    synthetic_site_model,
)


def main(argv: list[str]) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from rewriter.cost.db import LatencyDB
    from rewriter.cost.model import CostModel, HarnessOptions

    p = Parser(
        prog="rewrite profile",
        description="Fill the latency database with a sweep over producers, sizes and candidates.",
    )
    p.add_argument(
        "--target",
        help="NAME[:key=value,...] (default ort-cpu; with --cluster: every device of the cluster)",
    )
    p.add_argument("--db", help="database path (default: the user cache dir)")
    p.add_argument("--functions", default=",".join(PROFILE_FUNCTIONS))
    p.add_argument(
        "--sizes", default=",".join(PROFILE_SIZES), help="matmul:BxTxKxN and conv:BxCxHxW items"
    )
    p.add_argument(
        "--long", action="store_true", help="the long sweep (more sizes, degrees (3,2) to (7,6))"
    )
    p.add_argument("--degrees", type=degrees_arg, default=(5, 4), help="rational degrees M,N")
    p.add_argument(
        "--time-cap", type=positive_arg, default=1.0, help="seconds per micro-model (default 1)"
    )
    p.add_argument("--remeasure", action="store_true", help="measure even what the database has")
    add_cluster_option(p)
    a = p.parse_args(argv)  # with --cluster: attached (and --target's device found) here
    deg = a.degrees
    sizes = LONG_SIZES if a.long else tuple(s for s in a.sizes.split(",") if s)
    fns = [f for f in a.functions.split(",") if f]
    for size in sizes:
        parse_size(size)
    devices = _devices(a)
    db = LatencyDB(a.db)
    con = console()
    from rich.console import Console

    for t, measurer in devices:
        cm = CostModel(
            t,
            db,
            HarnessOptions(time_cap=a.time_cap, warmup_cap=0.5, min_rounds=8),
            reuse=not a.remeasure,
            measurer=measurer,
        )
        where = "" if cm.device.where == "local" else f" on {cm.device.where}"
        rows = []
        with Progress(console=Console(stderr=True), transient=True) as prog:  # on stderr
            task = prog.add_task(f"profiling {t.spec}{where}", total=len(sizes) * len(fns))
            rows = _sweep(a, cm, sizes, fns, deg, prog, task)
        tab = Table(title=f"profile {t}{where} -> {db.path}")
        for col in ("size", "function", "candidate", "median ms", "speed-up vs keep", "95% CI"):
            tab.add_column(col)
        for size, fn, name, ms, r, lo, hi in rows:
            tab.add_row(size, fn, name, f"{ms:.3f}", f"x{1 / r:.2f}", f"{1 / hi:.2f}-{1 / lo:.2f}")
        con.print(tab)
        con.print(
            f"{t.spec} (threads {t.threads}){where}: {cm.measured} micro-model(s) measured, "
            f"{cm.reused} reused; {db.count()} rows in {db.path}"
        )
    db.close()
    return 0


def _devices(a: Any) -> list[tuple[Any, Any]]:
    """(Target, measurer) pairs to sweep: --target here or on its device; with --cluster and no
    --target, every device resource of the cluster."""
    from rewriter.cost.measure import current_measurer, parse_resource
    from rewriter.cost.targets import get_target

    m: Any = current_measurer()
    if not a.cluster or a.target:
        return [(get_target(a.target or "ort-cpu"), m)]
    found = m.devices()
    if not found:
        from rewriter.fleet import FleetError

        raise FleetError(
            f"no worker in the cluster at {a.cluster} advertises a target; start one with "
            f"`rewrite worker --target ort-cpu --address {m.join_address()}`"
        )
    return [(get_target(parse_resource(r)[0]), m.pinned(r)) for r in found]  # type: ignore[index]


def _sweep(
    a: Any, cm: Any, sizes: Any, fns: list[str], deg: Any, prog: Any, task: Any
) -> list[Any]:
    from rewriter.api import find_sites
    from rewriter.candidates import candidates_for
    from rewriter.cost.micro import cut_site

    rows = []
    for size in sizes:
        kind, dims = parse_size(size)
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
    return rows
