"""Export / import round trip: two real SQLite files merged, deduplicated, provenance kept."""

from __future__ import annotations

import sqlite3

import pytest

from rewriter.cost.db import LatencyDB, Record
from rewriter.cost.predict.share import export_db, import_db
from rewriter.errors import UsageError


def rec(
    cand: str, created: float, rounds: int = 10, median: float = 1e-3, sig: str = "Conv>mish#0"
) -> Record:
    return Record(
        "hwA",
        "ort-cpu",
        "onnxruntime",
        "1.0",
        1,
        sig,
        "float",
        cand,
        "{}",
        median,
        median,
        median,
        1.0,
        0.9,
        1.1,
        rounds,
        created,
    )


def rows(path: str) -> dict[str, tuple]:
    con = sqlite3.connect(path)
    try:
        return {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT candidate || '@' || signature, median, created, rounds FROM measurements"
            )
        }
    finally:
        con.close()


def test_export_import_merge(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b, merged = (
        str(tmp_path / "a.sqlite"),
        str(tmp_path / "b.sqlite"),
        str(tmp_path / "m.sqlite"),
    )
    with LatencyDB(a) as d:
        d.put_hardware("hwA", {"cpu": "box A"})
        d.put(
            [
                rec("keep", 100.0, median=1.0),
                rec("r54", 100.0, median=2.0),
                rec("keep", 100.0, sig="Conv>gelu#1"),
            ]
        )
    with LatencyDB(b) as d:
        d.put_hardware("hwB", {"cpu": "box B"})
        d.put(
            [
                rec("keep", 200.0, median=3.0),  # newer: wins
                rec("r54", 50.0, median=4.0),  # older: ignored
                rec("exact", 10.0, median=5.0),
            ]
        )  # new key
    ja, sb = str(tmp_path / "a.json"), str(tmp_path / "b_export.sqlite")
    assert export_db(a, ja)["rows"] == 3
    assert export_db(b, sb)["rows"] == 3
    st = import_db(merged, [ja, sb])
    assert (st.added, st.replaced, st.kept) == (4, 1, 1)
    got = rows(merged)
    assert (
        got["keep@Conv>mish#0"][0] == 3.0
        and got["r54@Conv>mish#0"][0] == 2.0
        and got["exact@Conv>mish#0"][0] == 5.0
    )
    con = sqlite3.connect(merged)
    prov = {
        r[0]: (r[1], r[2])
        for r in con.execute("SELECT candidate || '@' || signature, source, host FROM provenance")
    }
    hw = dict(con.execute("SELECT hw, fingerprint FROM hardware").fetchall())
    con.close()
    assert prov["keep@Conv>mish#0"][0].endswith("b_export.sqlite")
    assert prov["r54@Conv>mish#0"][0].endswith("a.json")
    assert all(h for _, h in prov.values())
    assert set(hw) == {"hwA", "hwB"}
    # importing again changes nothing; a merged database re-exported keeps the first provenance
    st2 = import_db(merged, [ja, sb])
    assert (st2.added, st2.replaced) == (0, 0)
    again = str(tmp_path / "again.sqlite")
    jm = str(tmp_path / "m.json")
    export_db(merged, jm)
    import_db(again, [jm])
    assert rows(again) == got
    con = sqlite3.connect(again)
    src = dict(
        con.execute("SELECT candidate || '@' || signature, source FROM provenance").fetchall()
    )
    con.close()
    assert src["r54@Conv>mish#0"].endswith("a.json")


def test_same_time_more_rounds_wins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b, m = (str(tmp_path / f"{x}.sqlite") for x in "abm")
    with LatencyDB(a) as d:
        d.put([rec("keep", 100.0, rounds=10, median=1.0)])
    with LatencyDB(b) as d:
        d.put([rec("keep", 100.0, rounds=40, median=2.0)])
    import_db(m, [a, b])
    assert rows(m)["keep@Conv>mish#0"][0] == 2.0


def test_bad_sources(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(UsageError):
        import_db(str(tmp_path / "m.sqlite"), [str(bad)])
    with pytest.raises(UsageError):
        import_db(str(tmp_path / "m.sqlite"), [str(tmp_path / "missing.sqlite")])
    with pytest.raises(UsageError):
        export_db(str(tmp_path / "none.sqlite"), str(tmp_path / "o.json"))
