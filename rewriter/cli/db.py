"""``rewrite db stats|path|clear|trials``, ``rewrite db export OUT``, ``rewrite db import IN...``: the
latency database (``trials``: what ``--recover`` learned)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rewriter.cli.common import Parser, console

if TYPE_CHECKING:
    from rewriter.cost.db import LatencyDB


def db_main(argv: list[str]) -> int:
    from rich.table import Table

    from rewriter.cost.db import LatencyDB

    p = Parser(prog="rewrite db", description="Inspect the latency database.")
    p.add_argument(
        "action",
        choices=["stats", "path", "clear", "trials"],
        help="trials: the replacements --recover tried, per model family, and whether they "
        "recovered",
    )
    p.add_argument("--db", help="database path (default: the user cache dir)")
    p.add_argument("--json", action="store_true", help="stats or trials as JSON")
    a = p.parse_args(argv)
    db = LatencyDB(a.db)
    if a.action == "path":
        print(db.path)
    elif a.action == "clear":
        fits = db.fit_count()
        print(f"removed {db.clear()} row(s) and {fits} cached fit(s) from {db.path}")
    elif a.action == "trials":
        _print_trials(db, a.json)
    else:
        st = db.stats()
        if a.json:
            print(json.dumps(st, indent=1))
        else:
            con = console()
            t = Table(
                title=f"{st['path']}: {st['rows']} rows, {st['fits']} cached fits, "
                f"{st['bytes'] / 1024:.0f} KiB"
            )
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


def _print_trials(db: LatencyDB, as_json: bool) -> None:
    """``rewrite db trials``: one row per (family, runtime, site, candidate)."""
    import dataclasses

    from rich.table import Table

    rows = db.all_trials()
    if as_json:
        print(json.dumps([dataclasses.asdict(t) for t in rows], indent=1))
        return
    t = Table(title=f"{len(rows)} replacement(s) tried by --recover")
    for col in (
        "family",
        "runtime",
        "site",
        "candidate",
        "budget used before -> after",
        "recovered",
        "budget",
        "samples",
        "retraining",
    ):
        t.add_column(col, overflow="fold")
    for r in rows:
        limits = ", ".join(f"{k} {v}" for k, v in json.loads(r.budget).items() if v is not None)
        after = "-" if r.after is None else f"{r.after:.2f}"
        t.add_row(
            r.family,
            r.runtime,
            r.site,
            r.candidate,
            f"{r.before:.2f} -> {after}",
            "yes" if r.recovered else "no",
            limits or "-",
            str(r.samples or "-"),
            r.retraining or "-",
        )
    console().print(t)


def db_export_main(argv: list[str]) -> int:
    """``rewrite db export OUT.json|OUT.sqlite [--db PATH]``."""
    from rewriter.cost.db import default_db_path
    from rewriter.cost.predict.share import export_db

    p = Parser(
        prog="rewrite db export",
        description="Write the latency database to a JSON or SQLite file to share.",
    )
    p.add_argument("out", help="OUT.json or OUT.sqlite")
    p.add_argument("--db", help="database path (default: the user cache dir)")
    a = p.parse_args(argv)
    r = export_db(a.db or default_db_path(), a.out)
    print(f"exported {r['rows']} row(s), {r['hardware']} machine(s) to {r['out']}")
    return 0


def db_import_main(argv: list[str]) -> int:
    """``rewrite db import IN... [--db PATH]``: merge, newest row per key wins, provenance kept."""
    from rewriter.cost.db import default_db_path
    from rewriter.cost.predict.share import import_db

    p = Parser(
        prog="rewrite db import",
        description="Merge exported databases (JSON or SQLite) into the latency database.",
    )
    p.add_argument(
        "sources", nargs="+", help="files written by `rewrite db export` (or any latency .sqlite)"
    )
    p.add_argument("--db", help="database path (default: the user cache dir)")
    a = p.parse_args(argv)
    st = import_db(a.db or default_db_path(), a.sources)
    for s in st.sources:
        print(
            f"{s['source']} (host {s['host']}): {s['added']} added, {s['replaced']} replaced (newer), {s['kept']} older ignored"
        )
    print(
        f"total: {st.added} added, {st.replaced} replaced, {st.kept} ignored; {st.hardware} machine(s), {st.probes} probe set(s) new"
    )
    return 0


def main(argv: list[str]) -> int:
    """``rewrite db ACTION ...``: ``stats``, ``path``, ``clear`` (``db_main``), ``export``, ``import``."""
    if argv and argv[0] == "export":
        return db_export_main(argv[1:])
    if argv and argv[0] == "import":
        return db_import_main(argv[1:])
    return db_main(argv)
