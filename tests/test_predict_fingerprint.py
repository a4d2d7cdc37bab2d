"""Fingerprints: static facts present and stable; probes structured (tiny sizes, no timing asserts)."""

from __future__ import annotations

import onnx
import pytest

from rewriter.cost.predict.fingerprint import (
    PROBES,
    load_probes,
    probe_fingerprint,
    probe_model,
    probe_vector,
    static_fingerprint,
    store_probes,
)


def test_static_fields_present_and_stable() -> None:
    a, b = static_fingerprint(), static_fingerprint()
    assert a == b
    for k in (
        "cpu",
        "machine",
        "isa",
        "cores",
        "caches",
        "logical_cores",
        "physical_cores",
        "threads_per_core",
        "sockets",
        "memory_gb",
        "has_avx2",
        "has_avx512",
        "has_amx",
        "hw",
    ):
        assert k in a, k
    assert a["logical_cores"] >= a["physical_cores"] >= 1


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_models_are_valid(name: str) -> None:
    onnx.checker.check_model(probe_model(name, 64), full_check=True)


def test_probe_fingerprint_structure_and_static_stable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kw = dict(n=1024, copy_n=4096, repeats=3, budget=0.05)
    a = probe_fingerprint("ort-cpu", **kw)  # type: ignore[arg-type]
    b = probe_fingerprint("ort-cpu", **kw)  # type: ignore[arg-type]
    assert a["static"] == b["static"]
    assert (
        (a["target"], a["runtime"], a["threads"])
        == (b["target"], b["runtime"], b["threads"])
        == ("ort-cpu", "onnxruntime", 1)
    )
    assert set(a["probes"]) == set(PROBES)
    assert all(v > 0 for v in a["probes"].values())
    assert probe_vector(a).shape == (len(PROBES),)
    db = str(tmp_path / "p.sqlite")
    store_probes(db, a)
    (got,) = load_probes(db).values()
    assert got["probes"] == a["probes"]


def test_probe_vector_is_relative_to_copy() -> None:
    v = probe_vector({"probes": {k: 2.0 for k in PROBES}})
    assert v[0] == pytest.approx(0.6931, abs=1e-3)  # copy: absolute log
    assert all(abs(x) < 1e-12 for x in v[1:])
