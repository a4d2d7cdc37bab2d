"""The latency database: one SQLite file of in-context measurements, reused across runs and models.

Default path: ``$XDG_CACHE_HOME/pau-rewriter/latency.sqlite`` (``~/.cache/...`` when unset), or
``$PAU_REWRITER_DB``; ``--db PATH`` overrides. The file is in WAL mode with a busy timeout, and
every write is one short ``BEGIN IMMEDIATE`` transaction retried on contention, so several
processes (parallel ``rewrite`` runs, pytest-xdist workers) can fill it at once.

A row is one candidate measured in one micro-model, keyed by::

    hardware (fingerprint hash) | target spec | runtime | version | threads |
    signature (producer ops + attributes + activation + shapes, see micro.site_signature) |
    dtype | candidate

and holds the candidate's median time and quartiles and its ratio to ``keep`` measured in the
same interleaved run (median and 95% CI). A later measurement of the same key replaces it.

Two more tables: ``trials`` (what ``--recover`` learned, ``Trial``) and ``fits``, this machine's
cache of data-aware fits (``rewriter.accuracy.fits``: a rational per site, candidate degrees and
observed inputs, keyed by a digest of those and of the fitting code), the newest ``FITS_KEPT``
kept; ``rewrite db export`` leaves it out (a fit is recomputed where it is used).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["LatencyDB", "Record", "Trial", "default_db_path", "FITS_KEPT"]

FITS_KEPT = 20_000  # fits rows (about 1.2 KB each); the oldest go first

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    hw TEXT NOT NULL,
    target TEXT NOT NULL,
    runtime TEXT NOT NULL,
    version TEXT NOT NULL,
    threads INTEGER NOT NULL,
    signature TEXT NOT NULL,
    dtype TEXT NOT NULL,
    candidate TEXT NOT NULL,
    shapes TEXT NOT NULL,
    median REAL NOT NULL,
    q1 REAL NOT NULL,
    q3 REAL NOT NULL,
    ratio REAL NOT NULL,
    ratio_lo REAL NOT NULL,
    ratio_hi REAL NOT NULL,
    rounds INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (hw, target, runtime, version, threads, signature, dtype, candidate)
);
CREATE TABLE IF NOT EXISTS hardware (
    hw TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    family TEXT NOT NULL,
    runtime TEXT NOT NULL,
    site TEXT NOT NULL,
    function TEXT NOT NULL,
    candidate TEXT NOT NULL,
    before REAL NOT NULL,
    after REAL,
    recovered INTEGER NOT NULL,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    budget TEXT NOT NULL DEFAULT '{}',
    samples INTEGER NOT NULL DEFAULT 0,
    retraining TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (family, runtime, site, candidate)
);
CREATE TABLE IF NOT EXISTS fits (
    key TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    rational TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def default_db_path() -> str:
    env = os.environ.get("PAU_REWRITER_DB")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pau-rewriter", "latency.sqlite")


@dataclass
class Record:
    """One measured candidate in one context (a database row)."""

    hw: str
    target: str
    runtime: str
    version: str
    threads: int
    signature: str
    dtype: str
    candidate: str
    shapes: str
    median: float
    q1: float
    q3: float
    ratio: float
    ratio_lo: float
    ratio_hi: float
    rounds: int
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = list(Record.__dataclass_fields__)


@dataclass
class Trial:
    """One replacement tried by ``--recover`` (a ``trials`` row): how much of the accuracy
    budget it used before and after retraining, and whether the model came back inside it.

    ``family`` names models of one family (``rewriter.plan.recover.family_of``: the op types and
    the site sequence); ``runtime`` the target's runtime without its options, so a similar target
    (other threads, other machine) reuses what was learned. A later trial of the same key
    replaces the earlier one. ``budget``, ``samples`` and ``retraining`` say under what it was
    tried: a failure is only taken as final for a budget at least as strict, no more data and
    the same retraining (``rewriter.plan.recover.failure_stands``)."""

    family: str
    runtime: str
    site: str
    function: str
    candidate: str
    before: float
    after: float | None
    recovered: bool
    target: str
    created: float = 0.0
    budget: str = "{}"  # the accuracy budget it was tried under (``Budget.to_dict`` as JSON)
    samples: int = 0  # calibration samples retraining had (0: not recorded)
    retraining: str = ""  # how and by which code (``rewriter.plan.recover.retraining_key``)


_TRIAL_FIELDS = list(Trial.__dataclass_fields__)
_TRIAL_COLUMNS_ADDED = (
    ("budget", "TEXT NOT NULL DEFAULT '{}'"),
    ("samples", "INTEGER NOT NULL DEFAULT 0"),
    ("retraining", "TEXT NOT NULL DEFAULT ''"),
)


class LatencyDB:
    """SQLite-backed store of ``Record``s.

    Example:
        >>> db = LatencyDB("/tmp/lat.sqlite")                      # doctest: +SKIP
        >>> db.put([rec]); db.get(rec.hw, rec.target, ...)         # doctest: +SKIP
    """

    def __init__(self, path: str | None = None, timeout: float = 60.0) -> None:
        self.path = os.path.abspath(os.path.expanduser(path or default_db_path()))
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.timeout = timeout
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self._retry(lambda c: c.execute("PRAGMA journal_mode=WAL"))
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._write() as c:
            for stmt in (s for s in SCHEMA.split(";") if s.strip()):
                c.execute(stmt)
            have = {r[1] for r in c.execute("PRAGMA table_info(trials)")}
            for column, decl in _TRIAL_COLUMNS_ADDED:  # a database written by an older version
                if column not in have:
                    c.execute(f"ALTER TABLE trials ADD COLUMN {column} {decl}")

    def _retry(self, fn: Any) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return fn(self._conn)
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + random.random() * 0.05)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._retry(lambda c: c.execute("BEGIN IMMEDIATE"))
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._retry(lambda c: c.execute("COMMIT"))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LatencyDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put_hardware(self, hw: str, fingerprint: dict[str, Any]) -> None:
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO hardware VALUES (?, ?)",
                (hw, json.dumps(fingerprint, sort_keys=True)),
            )

    def put(self, records: list[Record]) -> None:
        """Insert or replace ``records`` in one transaction."""
        now = time.time()
        rows = [
            tuple(getattr(r, f) if f != "created" else (r.created or now) for f in _FIELDS)
            for r in records
        ]
        with self._write() as c:
            c.executemany(
                f"INSERT OR REPLACE INTO measurements ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
                rows,
            )

    def get(
        self,
        hw: str,
        target: str,
        runtime: str,
        version: str,
        threads: int,
        signature: str,
        dtype: str,
    ) -> dict[str, Record]:
        """Every candidate measured for one context: ``candidate name -> Record``."""
        cur = self._retry(
            lambda c: c.execute(
                f"SELECT {', '.join(_FIELDS)} FROM measurements WHERE hw=? AND target=? AND runtime=? AND version=? AND threads=? AND signature=? AND dtype=?",
                (hw, target, runtime, version, threads, signature, dtype),
            )
        )
        return {row[7]: Record(*row) for row in cur.fetchall()}

    def count(self) -> int:
        return int(
            self._retry(lambda c: c.execute("SELECT COUNT(*) FROM measurements")).fetchone()[0]
        )

    def stats(self) -> dict[str, Any]:
        """Summary for ``rewrite db stats``: rows per target/runtime/threads, contexts, candidates."""
        q = lambda sql: self._retry(lambda c: c.execute(sql)).fetchall()  # noqa: E731
        groups = [
            {
                "hw": r[0],
                "target": r[1],
                "runtime": f"{r[2]} {r[3]}",
                "threads": r[4],
                "contexts": r[5],
                "rows": r[6],
                "faster": r[7],
                "oldest": r[8],
                "newest": r[9],
            }
            for r in q(
                "SELECT hw, target, runtime, version, threads, COUNT(DISTINCT signature), COUNT(*), "
                "SUM(CASE WHEN candidate != 'keep' AND ratio_hi < 1 THEN 1 ELSE 0 END), MIN(created), MAX(created) "
                "FROM measurements GROUP BY hw, target, runtime, version, threads ORDER BY target"
            )
        ]
        cands = {
            r[0]: {"rows": r[1], "median_ratio": r[2]}
            for r in q(
                "SELECT candidate, COUNT(*), AVG(ratio) FROM measurements GROUP BY candidate ORDER BY candidate"
            )
        }
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = 0
        return {
            "path": self.path,
            "bytes": size,
            "rows": self.count(),
            "fits": self.fit_count(),
            "groups": groups,
            "candidates": cands,
            "hardware": {r[0]: json.loads(r[1]) for r in q("SELECT hw, fingerprint FROM hardware")},
        }

    def clear(self) -> int:
        """Remove every measurement, trial and cached fit; returns how many measurements."""
        with self._write() as c:
            n = c.execute("DELETE FROM measurements").rowcount
            c.execute("DELETE FROM trials")
            c.execute("DELETE FROM fits")
        return int(n)

    def get_fits(self, keys: list[str]) -> dict[str, str]:
        """``key -> rational JSON`` of the cached fits among ``keys``."""
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):  # SQLite's limit on parameters
            chunk = keys[i : i + 500]
            cur = self._retry(
                lambda c, chunk=chunk: c.execute(
                    f"SELECT key, rational FROM fits WHERE key IN ({', '.join('?' * len(chunk))})",
                    chunk,
                )
            )
            out.update(cur.fetchall())
        return out

    def put_fits(self, rows: list[tuple[str, str, str]]) -> None:
        """Insert or replace ``(key, function, rational JSON)`` rows; keep the newest
        ``FITS_KEPT``."""
        now = time.time()
        with self._write() as c:
            c.executemany(
                "INSERT OR REPLACE INTO fits VALUES (?, ?, ?, ?)",
                [(k, f, r, now) for k, f, r in rows],
            )
            c.execute(
                "DELETE FROM fits WHERE key IN "
                "(SELECT key FROM fits ORDER BY created DESC LIMIT -1 OFFSET ?)",
                (FITS_KEPT,),
            )

    def fit_count(self) -> int:
        return int(self._retry(lambda c: c.execute("SELECT COUNT(*) FROM fits")).fetchone()[0])

    def put_trials(self, trials: list[Trial]) -> None:
        """Insert or replace ``trials`` in one transaction (``--recover``'s memory)."""
        now = time.time()
        rows = [
            tuple(
                int(v) if f == "recovered" else (v or now) if f == "created" else v
                for f, v in ((f, getattr(t, f)) for f in _TRIAL_FIELDS)
            )
            for t in trials
        ]
        with self._write() as c:
            c.executemany(
                f"INSERT OR REPLACE INTO trials ({', '.join(_TRIAL_FIELDS)}) VALUES ({', '.join('?' * len(_TRIAL_FIELDS))})",
                rows,
            )

    def all_trials(self) -> list[Trial]:
        """Every ``trials`` row (``rewrite db trials``), by family, runtime, site, candidate."""
        return self._trials("", ())

    def trials(self, family: str, runtime: str) -> list[Trial]:
        """What ``--recover`` tried before on models of ``family`` on ``runtime``."""
        return self._trials("WHERE family=? AND runtime=?", (family, runtime))

    def _trials(self, where: str, args: tuple[str, ...]) -> list[Trial]:
        cur = self._retry(
            lambda c: c.execute(
                f"SELECT {', '.join(_TRIAL_FIELDS)} FROM trials {where} "
                "ORDER BY family, runtime, site, candidate",
                args,
            )
        )
        return [
            dataclasses.replace(t, recovered=bool(t.recovered)) for t in (Trial(*r) for r in cur)
        ]
