"""Latency database: round trip, reuse keys, concurrent writers (processes and threads)."""

from __future__ import annotations

import multiprocessing as mp
import threading

from rewriter.cost.db import LatencyDB, Record, default_db_path


def _rec(sig: str, cand: str, median: float = 1e-3, threads: int = 1) -> Record:
    return Record(
        "hw0",
        "ort-cpu",
        "onnxruntime",
        "1.32.0",
        threads,
        sig,
        "float",
        cand,
        "{}",
        median,
        median * 0.9,
        median * 1.1,
        0.5,
        0.45,
        0.55,
        20,
    )


def test_round_trip(tmp_path):
    path = str(tmp_path / "lat.sqlite")
    with LatencyDB(path) as db:
        db.put(
            [_rec("Conv>mish#1", "keep"), _rec("Conv>mish#1", "rational:5_4:gated_x:horner", 5e-4)]
        )
        db.put_hardware("hw0", {"cpu": "test"})
    with LatencyDB(path) as db:  # persisted, reopened
        got = db.get("hw0", "ort-cpu", "onnxruntime", "1.32.0", 1, "Conv>mish#1", "float")
        assert set(got) == {"keep", "rational:5_4:gated_x:horner"}
        assert got["rational:5_4:gated_x:horner"].median == 5e-4
        assert got["keep"].created > 0
        assert (
            db.get("hw0", "ort-cpu", "onnxruntime", "1.32.0", 2, "Conv>mish#1", "float") == {}
        )  # threads is a key
        db.put([_rec("Conv>mish#1", "keep", 2e-3)])  # same key replaces
        assert (
            db.get("hw0", "ort-cpu", "onnxruntime", "1.32.0", 1, "Conv>mish#1", "float")[
                "keep"
            ].median
            == 2e-3
        )
        st = db.stats()
        assert (
            st["rows"] == 2
            and st["groups"][0]["contexts"] == 1
            and st["hardware"]["hw0"]["cpu"] == "test"
        )
        assert db._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_respects_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("PAU_REWRITER_DB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_db_path() == str(tmp_path / "pau-rewriter" / "latency.sqlite")


def _writer(path: str, wid: int, n: int) -> None:
    db = LatencyDB(path)
    for i in range(n):
        db.put([_rec(f"sig{wid}_{i}", "keep"), _rec(f"sig{wid}_{i}", "cand")])
        db.get("hw0", "ort-cpu", "onnxruntime", "1.32.0", 1, f"sig{wid}_{i}", "float")
    db.close()


def test_concurrent_processes(tmp_path):
    path = str(tmp_path / "lat.sqlite")
    LatencyDB(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with LatencyDB(path) as db:
        assert db.count() == 4 * 25 * 2


def test_concurrent_threads(tmp_path):
    path = str(tmp_path / "lat.sqlite")
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            _writer(path, w, 20)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    with LatencyDB(path) as db:
        assert db.count() == 6 * 20 * 2


def test_fits_table_keeps_the_newest_and_is_not_exported(tmp_path, monkeypatch, capsys):
    """The ``fits`` table (the data-aware fit cache): rows by key, the newest ``FITS_KEPT``
    kept, removed by ``clear`` with everything else, and left out of an export (a fit is this
    machine's numbers; it is recomputed where it is used)."""
    from rewriter.cost import db as dbmod
    from rewriter.cost.predict.share import export_db

    path = str(tmp_path / "lat.sqlite")
    monkeypatch.setattr(dbmod, "FITS_KEPT", 3)
    with LatencyDB(path) as db:
        db.put([_rec("Conv>mish#1", "keep")])
        for i in range(5):  # one transaction each: created increases
            db.put_fits([(f"k{i}", "silu", f'{{"i": {i}}}')])
        assert db.fit_count() == 3
        assert db.get_fits([f"k{i}" for i in range(5)]) == {
            "k2": '{"i": 2}',
            "k3": '{"i": 3}',
            "k4": '{"i": 4}',
        }
        assert db.stats()["fits"] == 3
        out = str(tmp_path / "shared.sqlite")
        assert export_db(path, out)["rows"] == 1
    with LatencyDB(out) as exported:
        assert exported.count() == 1 and exported.fit_count() == 0
    from rewriter.cli import main

    assert main(["db", "stats", "--db", path]) == 0
    assert "1 rows, 3 cached fits" in " ".join(capsys.readouterr().out.split())
    assert main(["db", "clear", "--db", path]) == 0
    assert "removed 1 row(s) and 3 cached fit(s)" in capsys.readouterr().out
    with LatencyDB(path) as db:
        assert db.count() == 0 and db.fit_count() == 0
