"""``rewrite db stats|path|clear``, ``rewrite db export OUT``, ``rewrite db import IN...``: the latency database."""

from __future__ import annotations

import json

from rewriter.cli.common import Parser, console


def db_main(argv: list[str]) -> int:
    from rich.table import Table

    from rewriter.cost.db import LatencyDB

    p = Parser(prog="rewrite db", description="Inspect the latency database.")
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
            con = console()
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
