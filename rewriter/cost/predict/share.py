"""Sharing latency databases between devices: export one, import (merge) several.

    export_db("~/.cache/pau-rewriter/latency.sqlite", "box1.json")     # or "box1.sqlite"
    import_db("merged.sqlite", ["box1.json", "box2.sqlite"])           # -> ImportStats

Export writes either JSON (``{"format": "pau-rewriter-latency", "version": 1, "host",
"source", "exported", "hardware", "probes", "measurements", "provenance"}``) or a SQLite
snapshot (the backup API: consistent while other processes write) with an ``export_info`` table.

Import merges every source into ``db_path`` (created if missing), in one transaction each:

* Measurements are keyed as in the database (hardware, target, runtime, version, threads,
  signature, dtype, candidate). **On a key collision the newest row (``created``) wins; equal
  times go to the row with more rounds.** The key already pins the hardware and the runtime
  version, so two rows for one key are two measurements of the same thing; the newer one reflects
  the machine as it is now (and the current harness), while the round count is not a quality
  measure (a run that converges stops early, with few rounds and a tight interval).
* Provenance: a table ``provenance`` (same key, plus ``source``, ``host``, ``imported``) says,
  for every imported row that was kept, which file and host it came from; provenance carried in
  the source (a database that was itself merged) is kept as it was. Rows measured locally have
  no provenance row.
* Hardware fingerprints (table ``hardware``) and probe fingerprints (table ``probes``) are
  merged; a probe row follows the same newest-wins rule.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from rewriter.cost.db import LatencyDB, Record
from rewriter.errors import UsageError
from rewriter.ir import write_atomic

from .fingerprint import _PROBE_SCHEMA

__all__ = ["export_db", "import_db", "ImportStats", "read_source", "FORMAT"]

FORMAT = "pau-rewriter-latency"
KEY = ("hw", "target", "runtime", "version", "threads", "signature", "dtype", "candidate")
FIELDS = list(Record.__dataclass_fields__)
_PROV_SCHEMA = f"""CREATE TABLE IF NOT EXISTS provenance (
    {", ".join(f"{k} {'INTEGER' if k == 'threads' else 'TEXT'} NOT NULL" for k in KEY)},
    source TEXT NOT NULL, host TEXT NOT NULL, imported REAL NOT NULL,
    PRIMARY KEY ({", ".join(KEY)}))"""


@dataclass
class ImportStats:
    """What ``import_db`` did, per source and in total."""

    added: int = 0  # new keys
    replaced: int = 0  # existing keys whose row was older (or fewer rounds)
    kept: int = 0  # incoming rows older than what the database has (ignored)
    hardware: int = 0
    probes: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    return sqlite3.connect(path, timeout=60, isolation_level=None)  # explicit transactions below


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _dump(con: sqlite3.Connection) -> dict[str, Any]:
    have = _tables(con)
    if "measurements" not in have:
        raise UsageError("not a latency database: no `measurements` table")
    rows = [
        dict(zip(FIELDS, r, strict=False))
        for r in con.execute(f"SELECT {', '.join(FIELDS)} FROM measurements")
    ]
    hw = (
        {r[0]: json.loads(r[1]) for r in con.execute("SELECT hw, fingerprint FROM hardware")}
        if "hardware" in have
        else {}
    )
    probes = (
        [
            dict(
                zip(
                    ("hw", "target", "runtime", "version", "threads", "fingerprint", "created"),
                    (*r[:5], json.loads(r[5]), r[6]),
                    strict=False,
                )
            )
            for r in con.execute(
                "SELECT hw, target, runtime, version, threads, fingerprint, created FROM probes"
            )
        ]
        if "probes" in have
        else []
    )
    prov = (
        [
            dict(zip((*KEY, "source", "host", "imported"), r, strict=False))
            for r in con.execute(f"SELECT {', '.join(KEY)}, source, host, imported FROM provenance")
        ]
        if "provenance" in have
        else []
    )
    info = (
        dict(con.execute("SELECT key, value FROM export_info").fetchall())
        if "export_info" in have
        else {}
    )
    return {
        "measurements": rows,
        "hardware": hw,
        "probes": probes,
        "provenance": prov,
        "info": info,
    }


def export_db(db_path: str, out: str) -> dict[str, Any]:
    """Write the database at ``db_path`` to ``out`` (``.json`` or ``.sqlite``/``.db``).

    Returns a summary ``{"out", "rows", "hardware", "format"}``.

    Example:
        >>> export_db("lat.sqlite", "box1.json")     # doctest: +SKIP
        {'out': 'box1.json', 'rows': 312, 'hardware': 1, 'format': 'json'}
    """
    db_path = os.path.expanduser(db_path)
    if not os.path.exists(db_path):
        raise UsageError(
            f"db export: no database at {db_path}; measure first (rewrite profile / rewrite plan) or pass --db"
        )
    meta = {
        "format": FORMAT,
        "version": "1",
        "host": socket.gethostname(),
        "source": os.path.abspath(db_path),
        "exported": str(time.time()),
    }
    if out.endswith(".json"):
        con = _connect(db_path, readonly=True)
        try:
            d = _dump(con)
        finally:
            con.close()
        doc = {
            **meta,
            "version": 1,
            "exported": float(meta["exported"]),
            **{k: v for k, v in d.items() if k != "info"},
        }
        write_atomic(out, json.dumps(doc, indent=0))
        return {
            "out": out,
            "rows": len(d["measurements"]),
            "hardware": len(d["hardware"]),
            "format": "json",
        }
    if not out.endswith((".sqlite", ".db", ".sqlite3")):
        raise UsageError(f"db export: {out!r} must end in .json or .sqlite")
    if os.path.exists(out):
        os.remove(out)
    src, dst = _connect(db_path, readonly=True), _connect(out)
    try:
        src.backup(dst)
        # fits are this machine's cache (its BLAS, its numpy): recomputed where they are used
        dst.execute("DROP TABLE IF EXISTS fits")
        dst.execute(
            "CREATE TABLE IF NOT EXISTS export_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        dst.executemany("INSERT OR REPLACE INTO export_info VALUES (?, ?)", list(meta.items()))
        dst.commit()
        n = dst.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        nh = (
            dst.execute("SELECT COUNT(*) FROM hardware").fetchone()[0]
            if "hardware" in _tables(dst)
            else 0
        )
    finally:
        src.close()
        dst.close()
    return {"out": out, "rows": int(n), "hardware": int(nh), "format": "sqlite"}


def read_source(path: str) -> dict[str, Any]:
    """A source (exported JSON or any latency SQLite file) as plain rows plus ``host``/``source``."""
    if not os.path.exists(path):
        raise UsageError(f"db import: no file {path}")
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError(
                f"db import: {path} is not readable JSON ({e}); export it with `rewrite db export OUT.json`"
            ) from None
        if d.get("format") != FORMAT:
            raise UsageError(
                f"db import: {path} is not a `rewrite db export` file (format {d.get('format')!r})"
            )
        return {**d, "host": d.get("host", "?"), "source": path}
    try:
        con = _connect(path, readonly=True)
        try:
            d = _dump(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise UsageError(f"db import: {path} is not a SQLite latency database ({e})") from None
    except UsageError as e:
        raise UsageError(f"db import: {path}: {e}") from None
    return {**d, "host": d["info"].get("host", "?"), "source": path}


def _newer(a: tuple[float, int], b: tuple[float, int]) -> bool:
    """Does an incoming row with (created, rounds) ``a`` beat an existing one ``b``?"""
    return a[0] > b[0] or (a[0] == b[0] and a[1] > b[1])


def import_db(db_path: str, sources: list[str]) -> ImportStats:
    """Merge ``sources`` (exported JSON or SQLite files) into ``db_path`` (see module doc).

    Returns:
        ``ImportStats`` (added / replaced / kept counts, per source too).

    Example:
        >>> import_db("merged.sqlite", ["box1.json", "box2.sqlite"]).added   # doctest: +SKIP
        624
    """
    if not sources:
        raise UsageError("db import: name at least one file (exported .json or .sqlite)")
    LatencyDB(db_path).close()  # schema, WAL
    stats = ImportStats()
    con = _connect(db_path)
    try:
        con.execute(_PROV_SCHEMA)
        con.execute(_PROBE_SCHEMA)
        for path in sources:
            d = read_source(path)
            if os.path.abspath(path) == os.path.abspath(db_path):
                raise UsageError(f"db import: {path} is the database itself")
            s = {"source": path, "host": d["host"], "added": 0, "replaced": 0, "kept": 0}
            carried = {tuple(p[k] for k in KEY): p for p in d.get("provenance", [])}
            now = time.time()
            con.execute("BEGIN IMMEDIATE")
            try:
                for r in d["measurements"]:
                    key = tuple(r[k] for k in KEY)
                    old = con.execute(
                        f"SELECT created, rounds FROM measurements WHERE {' AND '.join(f'{k}=?' for k in KEY)}",
                        key,
                    ).fetchone()
                    if old is not None and not _newer(
                        (float(r["created"]), int(r["rounds"])), (float(old[0]), int(old[1]))
                    ):
                        s["kept"] += 1
                        continue
                    con.execute(
                        f"INSERT OR REPLACE INTO measurements ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
                        tuple(r[f] for f in FIELDS),
                    )
                    p = carried.get(
                        key, {"source": os.path.abspath(path), "host": d["host"], "imported": now}
                    )
                    con.execute(
                        "INSERT OR REPLACE INTO provenance VALUES ("
                        + ", ".join("?" * (len(KEY) + 3))
                        + ")",
                        (*key, p["source"], p["host"], p["imported"]),
                    )
                    s["added" if old is None else "replaced"] += 1
                for hw, fp in d.get("hardware", {}).items():
                    stats.hardware += con.execute(
                        "INSERT OR IGNORE INTO hardware VALUES (?, ?)",
                        (hw, json.dumps(fp, sort_keys=True)),
                    ).rowcount
                for p in d.get("probes", []):
                    k = (p["hw"], p["target"], p["runtime"], p["version"], int(p["threads"]))
                    old = con.execute(
                        "SELECT created FROM probes WHERE hw=? AND target=? AND runtime=? AND version=? AND threads=?",
                        k,
                    ).fetchone()
                    if old is None or float(p["created"]) > float(old[0]):
                        con.execute(
                            "INSERT OR REPLACE INTO probes VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (*k, json.dumps(p["fingerprint"], sort_keys=True), p["created"]),
                        )
                        stats.probes += 1
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            stats.added += s["added"]
            stats.replaced += s["replaced"]
            stats.kept += s["kept"]
            stats.sources.append(s)
    finally:
        con.close()
    return stats
