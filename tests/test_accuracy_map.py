"""The sensitivity map: data-aware fits, per-site numbers against a direct computation, the
offline HTML page and map.json."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from rewriter.accuracy import TableLatency, site_rationals
from rewriter.api import find_sites, rewrite_onnx
from rewriter.calibrate import observe_sites
from rewriter.cli.map import main as map_main
from rewriter.errors import UsageError
from rewriter.functions import FUNCTIONS
from rewriter.plan.sitemap import sensitivity_map
from rewriter.rational import fit
from rewriter.report import write_map

sys.path.insert(0, os.path.dirname(__file__))
from accuracy_models import make_model  # noqa: E402


def make_data(m: onnx.ModelProto) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.normal(0, 1.5, (32, 8)).astype(np.float32)} for _ in range(4)]
    logits = np.concatenate([run(m, f)[0] for f in feeds])
    labels = logits.argmax(-1)
    labels[::7] = (labels[::7] + 1) % 4  # not a perfect model
    return feeds, labels


def run(m: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, feed)


TABLE = {
    "gelu_0": {"keep": 2.0, "rational:5_4:gated": 1.0, "rational:3_2:gated": 0.8},
    "silu_0": {"keep": 1.0, "rational:5_4:gated": 1.5, "rational:3_2:gated": 1.2},
}


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    m = make_model()
    feeds, labels = make_data(m)
    mp = sensitivity_map(
        m,
        "pau_all",
        feeds,
        labels=labels,
        degrees=(5, 4),
        degrees_set=((5, 4), (3, 2)),
        latency=TableLatency(TABLE, base=10.0),
        progress=False,
    )
    return m, feeds, labels, mp


def test_site_rationals_fit_observed_inputs_and_stay_safe():
    m = make_model()
    feeds, _ = make_data(m)
    sites = find_sites(m)
    assert [s.name for s in sites] == ["gelu_0", "silu_0"]
    rats = site_rationals(m, sites, feeds, (5, 4))
    obs = observe_sites(m, sites, feeds)
    for s in sites:
        r = rats[s.name]
        assert r.form == "gated" and r.clamp is not None
        x = obs[s.name].samples
        f = FUNCTIONS[s.function].bind()
        assert np.max(np.abs(r(x) - f(x))) < 2e-3
        assert (
            math.isfinite(r.global_error) and r.global_error < 0.05
        )  # safe outside the observed range
        far = r(np.array([-np.inf, np.inf, -1e6, 1e6]))
        assert (
            not np.any(np.isnan(far)) and abs(far[0]) < 1e-3 and far[1] == np.inf
        )  # right at +-inf
        assert far[3] == pytest.approx(1e6, rel=1e-6) and abs(far[2]) < 1e-3
    out = rewrite_onnx(m, rationals=rats).model
    onnx.checker.check_model(out, full_check=True)
    a = np.concatenate([run(m, f)[0] for f in feeds])
    b = np.concatenate([run(out, f)[0] for f in feeds])
    assert np.max(np.abs(a - b)) < 1e-2
    # coefficient initializers are named by a digest of the coefficients (emit.rational_key):
    # two different fits of one function never share them, identical ones do
    from rewriter.emit import rational_key
    from rewriter.rational import table_rational

    g = table_rational("gelu", (5, 4))
    other = fit("gelu", degrees=(5, 4), samples=obs["gelu_0"].samples)
    assert rational_key(g, 1) == rational_key(table_rational("gelu", (5, 4)), 1)
    assert rational_key(g, 1) != rational_key(other, 1)


def test_map_numbers_equal_a_direct_computation(setup):
    m, feeds, labels, mp = setup
    rats = site_rationals(m, find_sites(m), feeds, (5, 4))
    ref = np.concatenate([run(m, f)[0] for f in feeds]).astype(np.float64)
    base_acc = float(np.mean(ref.argmax(-1) == labels) * 100)
    obs = observe_sites(m, find_sites(m), feeds, max_samples=20_000)
    for row in mp.sites:
        name = row["name"]
        out = rewrite_onnx(
            m, "pau_all", select=lambda s, n=name: s.name == n, rationals={name: rats[name]}
        ).model
        assert sum(n.name.startswith(f"pau/{name}/") for n in out.graph.node) > 0
        got = np.concatenate([run(out, f)[0] for f in feeds]).astype(np.float64)
        a, b = ref.ravel(), got.ravel()
        cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        rel = np.linalg.norm(b - a) / np.linalg.norm(a)
        acc = float(np.mean(got.argmax(-1) == labels) * 100)
        od = row["output_deviation"]
        assert od["cosine"] == pytest.approx(cos, abs=1e-12)
        assert od["rel_l2"] == pytest.approx(rel, rel=1e-9, abs=1e-15)
        assert od["max_abs"] == pytest.approx(np.max(np.abs(b - a)), abs=1e-12)
        assert od["accuracy"] == pytest.approx(acc)
        assert od["accuracy_drop"] == pytest.approx(base_acc - acc)
        x = obs[name].samples
        err = np.abs(rats[name](x) - FUNCTIONS[row["function"]].bind()(x))
        assert row["approx_error"]["max_abs"] == pytest.approx(float(err.max()), rel=1e-9)
        assert row["observed_range"] == [
            pytest.approx(float(obs[name].min)),
            pytest.approx(float(obs[name].max)),
        ]
        assert row["gain"] == pytest.approx(TABLE[name]["keep"] / TABLE[name]["rational:5_4:gated"])
    assert mp.to_dict()["base_accuracy"] == pytest.approx(base_acc)


def test_map_html_is_self_contained_and_json_has_documented_keys(setup, tmp_path):
    _, _, _, mp = setup
    html_path, json_path = write_map(mp, str(tmp_path / "map.html"))
    assert json_path == str(tmp_path / "map.json")
    page = open(html_path, encoding="utf-8").read()
    for bad in ("http://", "https://", 'src="//', "<script", "<link"):
        assert bad not in page
    assert page.count('src="data:image/png;base64,') >= 2 + len(
        mp.sites
    )  # sites, gain/sensitivity, Pareto
    assert "Pareto front" in page and "Gain vs sensitivity" in page
    d = json.load(open(json_path))
    assert isinstance(d["sites"], list) and len(d["sites"]) == 2
    num = (int, float)
    for s in d["sites"]:
        assert {
            "name",
            "function",
            "observed_range",
            "approx_error",
            "output_deviation",
            "gain",
        } <= set(s)
        assert isinstance(s["name"], str) and isinstance(s["function"], str)
        assert len(s["observed_range"]) == 2 and all(
            isinstance(v, num) for v in s["observed_range"]
        )
        assert s["observed_range"][0] < s["observed_range"][1]
        assert isinstance(s["approx_error"]["max_abs"], float) and isinstance(
            s["approx_error"]["rms"], float
        )
        for k in ("cosine", "rel_l2", "max_abs", "accuracy", "accuracy_drop"):
            assert isinstance(s["output_deviation"][k], float)
        assert isinstance(s["gain"], float)
        assert all(
            {"choice", "approx_error", "output_deviation", "gain"} <= set(c)
            for c in s["candidates"]
        )
    assert d["pareto"] and all(
        isinstance(p["predicted_speedup"], float) and isinstance(p["cosine"], float)
        for p in d["pareto"]
    )
    speeds = [p["predicted_speedup"] for p in d["pareto"]]
    assert speeds == sorted(speeds, reverse=True)  # fastest first, quality increasing


def test_site_plots_drawn_in_workers_are_the_same_page(setup, monkeypatch):
    """The site plots are drawn in worker processes when there are enough of them (here the
    threshold is lowered to this map's two sites): the page is the same string as drawn here,
    one plot after another."""
    import contextlib

    from rewriter import procs
    from rewriter.report import html

    _, _, _, mp = setup
    pools = []
    real_pool = procs.worker_pool

    @contextlib.contextmanager
    def counted(workers):  # type: ignore[no-untyped-def]
        pools.append(workers)
        with real_pool(workers) as pool:
            yield pool

    monkeypatch.setattr(procs, "worker_pool", counted)
    monkeypatch.setattr(html, "PARALLEL_PLOTS", 2)
    monkeypatch.setenv("PAU_REWRITER_WORKERS", "1")
    here = html.render_html(mp)
    assert pools == []
    monkeypatch.setenv("PAU_REWRITER_WORKERS", "2")
    assert html.render_html(mp) == here and pools == [2]
    assert here.count('src="data:image/png;base64,') >= 2 + len(mp.sites)


def test_map_cli_without_target(tmp_path):
    m = make_model()
    feeds, labels = make_data(m)
    model_path, data = tmp_path / "m.onnx", tmp_path / "d.npz"
    onnx.save(m, model_path)
    np.savez(data, x=np.concatenate([f["x"] for f in feeds]), labels=labels)
    out = tmp_path / "map.html"
    assert (
        map_main(
            [
                str(model_path),
                "--calibration",
                str(data),
                "--labels",
                "labels",
                "-o",
                str(out),
                "--degrees",
                "3,2",
                "-q",
            ]
        )
        == 0
    )
    d = json.load(open(tmp_path / "map.json"))
    assert d["target"] is None and all(s["gain"] is None for s in d["sites"]) and d["pareto"] == []
    assert all(isinstance(s["output_deviation"]["accuracy"], float) for s in d["sites"])
    assert "http" not in out.read_text()
    with pytest.raises(UsageError):
        map_main([str(model_path), "-o", str(tmp_path / "map.txt")])
    with pytest.raises(UsageError):
        map_main(
            [str(model_path), "--calibration", str(data), "--labels", "nope", "-o", str(out), "-q"]
        )


def test_a_second_map_reads_its_fits_from_the_database(tmp_path, monkeypatch, capsys) -> None:
    """``rewrite map`` twice on one model and data with one ``--db``: the second run reads
    every data-aware fit from the database instead of fitting again (fitting fails here) and
    writes the same bytes. Fits made by other fitting code are not used."""
    from rewriter.accuracy import fits
    from rewriter.cost.db import LatencyDB

    m = make_model()
    feeds, labels = make_data(m)
    model_path, data, db = tmp_path / "m.onnx", tmp_path / "d.npz", tmp_path / "lat.sqlite"
    onnx.save(m, model_path)
    np.savez(data, x=np.concatenate([f["x"] for f in feeds]), labels=labels)

    def map_to(name: str) -> tuple[bytes, bytes]:
        out = tmp_path / f"{name}.html"
        argv = [str(model_path), "--calibration", str(data), "-o", str(out), "--db", str(db)]
        assert map_main(argv) == 0
        return out.read_bytes(), (tmp_path / f"{name}.json").read_bytes()

    monkeypatch.setattr(fits, "_FITS", {})
    first = map_to("first")
    with LatencyDB(str(db)) as ldb:
        assert ldb.fit_count() == 8  # 2 sites x 4 degrees
    capsys.readouterr()

    def fitted_again(key, x):  # type: ignore[no-untyped-def]
        raise AssertionError(f"fitted again: {key[0]} {key[3]}")

    monkeypatch.setattr(fits, "_FITS", {})
    monkeypatch.setattr(fits, "_fit_job", fitted_again)
    assert map_to("second") == first
    assert "8 of 8 rational(s) read from the fit cache" in capsys.readouterr().err
    monkeypatch.setattr(fits, "_FITS", {})
    monkeypatch.setattr(fits, "code_digest", lambda: "other fitting code")
    with pytest.raises(AssertionError, match="fitted again"):
        map_to("third")


def test_map_without_a_usable_cache_folder(tmp_path, monkeypatch, capsys) -> None:
    """The map keeps its fits in the user cache folder's database; where that folder cannot be
    made (here: its parent is a file), the map runs without it and says so."""
    m = make_model()
    model_path, blocker = tmp_path / "m.onnx", tmp_path / "not_a_folder"
    onnx.save(m, model_path)
    blocker.write_text("")
    monkeypatch.delenv("PAU_REWRITER_DB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert map_main([str(model_path), "-o", str(tmp_path / "map.html"), "--degrees", "3,2"]) == 0
    assert "fit cache not used" in capsys.readouterr().err
    assert json.loads((tmp_path / "map.json").read_text())["sites"]


def test_prefetched_fits_are_the_fits(monkeypatch) -> None:
    """``prefetch`` fits in worker processes what ``fit_observed`` will ask for and has not
    fitted; the results are the same coefficients as fitting here, and ``fit_observed`` takes
    them."""
    from rewriter.accuracy import fits

    rng = np.random.default_rng(0)
    jobs = [
        ("gelu", {}, rng.normal(0, 1.5, 500), (5, 4), "auto"),
        ("silu", {}, rng.normal(1, 2.0, 500), (4, 3), "auto"),
        ("tanh", {}, rng.uniform(-3, 3, 500), (3, 2), "auto"),
    ]
    here = [fits._fit_job(*fits._job(*j)) for j in jobs]
    monkeypatch.setattr(fits, "_FITS", {})
    monkeypatch.setattr(fits, "PARALLEL_FITS", 2)
    monkeypatch.setenv("PAU_REWRITER_WORKERS", "2")
    ticks: list[tuple[int, int]] = []
    assert fits.prefetch(jobs, progress=lambda *t: ticks.append(t)) == 3
    assert len(fits._FITS) == 3 and ticks == [(1, 3), (2, 3), (3, 3)]
    assert fits.prefetch(jobs) == 0  # fitted already: not again
    got = [fits.fit_observed(*j) for j in jobs]
    assert len(fits._FITS) == 3  # fit_observed took the workers' fits
    for a, b in zip(here, got, strict=True):
        assert np.array_equal(a.p, b.p) and np.array_equal(a.q, b.q)
    monkeypatch.setattr(fits, "_FITS", {})
    monkeypatch.setenv("PAU_REWRITER_WORKERS", "1")  # one process: nothing fitted ahead
    assert fits.prefetch(jobs) == 0 and not fits._FITS
    monkeypatch.setenv("PAU_REWRITER_WORKERS", "two")
    with pytest.raises(UsageError, match="PAU_REWRITER_WORKERS must be a whole number"):
        fits.prefetch(jobs)


def test_prefetch_from_a_script_without_a_main_guard(tmp_path) -> None:
    """spawn runs the main script's top level again in every worker: a user's script calling
    the API without ``if __name__ == "__main__":`` started the job again in each worker, and
    ``sensitivity_map`` on MobileViT failed with BrokenProcessPool. The workers need only
    ``rewriter.accuracy.fits``: the script's top level runs once."""
    import subprocess
    import sys

    script = tmp_path / "user_script.py"
    script.write_text(
        "import sys\n"
        "import numpy as np\n"
        "from rewriter.accuracy import fits\n"
        "print('top level ran', file=sys.stderr)\n"
        "fits.PARALLEL_FITS = 2\n"
        "rng = np.random.default_rng(0)\n"
        "jobs = [(f, {}, rng.normal(0, 2, 300), (4, 3), 'auto') for f in ('gelu', 'silu', 'tanh')]\n"
        "print(fits.prefetch(jobs), len(fits._FITS))\n"
    )
    env = {**os.environ, "PAU_REWRITER_WORKERS": "2"}
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["3", "3"]
    assert r.stderr.count("top level ran") == 1
