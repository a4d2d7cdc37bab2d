"""Planner decisions on synthetic latency tables (no timing), and the plan end to end on a
tiny model with a stubbed harness."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx_models import mish_cnn  # tests/ (pytest puts it on sys.path)

from rewriter.accuracy import Study, TableLatency
from rewriter.candidates import KEEP, Candidate, candidates_for
from rewriter.cost.db import Record
from rewriter.cost.harness import Comparison, Ratio, Stats
from rewriter.cost.model import WholeResult
from rewriter.ir import run_model
from rewriter.match.engine import Site
from rewriter.plan import SiteDecision, back_off, decide, plan_sites

RAT = Candidate("rational", "rational:5_4:gated_x:horner", 1.9e-3, (5, 4), "gated_x", "horner")
R32 = Candidate("rational", "rational:3_2:gated_x:horner", 9.2e-3, (3, 2), "gated_x", "horner")
STD = Candidate("standard", "standard:relu", 0.31, op="relu")


def rec(cand: str, ratio: float, lo: float, hi: float) -> Record:
    return Record(
        "hw",
        "ort-cpu",
        "ort",
        "1",
        1,
        "sig",
        "float",
        cand,
        "{}",
        ratio * 1e-3,
        0,
        0,
        ratio,
        lo,
        hi,
        30,
    )


def table(**ratios: tuple[float, float, float]) -> dict[str, Record]:
    out = {"keep": rec("keep", 1, 1, 1)}
    for k, v in ratios.items():
        out[k] = rec(k, *v)
    return out


def test_takes_largest_gain_within_error():
    recs = table(**{RAT.name: (0.5, 0.48, 0.52), R32.name: (0.4, 0.38, 0.42)})
    best, reason, r = decide([KEEP, RAT, R32], recs, max_error=2e-3)
    assert best is RAT and "x2.00" in reason
    best, _, _ = decide([KEEP, RAT, R32], recs, max_error=1e-2)
    assert best is R32


def test_keeps_when_gain_within_noise():
    recs = table(**{RAT.name: (0.97, 0.93, 1.01)})
    best, reason, r = decide([KEEP, RAT], recs, max_error=None)
    assert best is KEEP and r is None and "not faster beyond noise" in reason


def test_keeps_when_slower():
    best, reason, _ = decide([KEEP, RAT], table(**{RAT.name: (1.8, 1.7, 1.9)}), max_error=None)
    assert best is KEEP
    assert reason == f"{RAT.name} x0.56 (CI 0.53-0.59) slower beyond noise"


def test_keeps_when_gain_below_minimum():
    recs = table(**{RAT.name: (0.97, 0.96, 0.98)})
    best, reason, _ = decide([KEEP, RAT], recs, max_error=None, min_gain=1.05)
    assert best is KEEP and "faster, by less than the minimum gain x1.05" in reason


def test_standard_needs_error_budget():
    recs = table(**{RAT.name: (0.6, 0.58, 0.62), STD.name: (0.2, 0.19, 0.21)})
    assert decide([KEEP, RAT, STD], recs, max_error=2e-3)[0] is RAT
    assert decide([KEEP, RAT, STD], recs, max_error=None)[0] is STD


def test_unmeasured_site_is_kept():
    best, reason, _ = decide([KEEP, RAT], {}, max_error=None)
    assert best is KEEP and reason == "not measured"


def _fake_compare(speed: dict[str, float]):
    """A harness stub: candidate ratios from ``speed`` (name prefix -> ratio), CI +-1%."""

    def fake(fns, baseline=None, **kw):
        names = list(fns)
        base = baseline or names[0]
        st = {k: Stats(1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 10) for k in names}
        rat = {}
        for k in names:
            r = 1.0 if k == base else next((v for p, v in speed.items() if k.startswith(p)), 1.0)
            rat[k] = Ratio(r, r * 0.99, r * 1.01, 10)
        return Comparison(base, st, rat, 10, 1, 0.0, True)

    return fake


def test_plan_end_to_end_with_stub(monkeypatch, tmp_path):
    m = mish_cnn()
    monkeypatch.setattr(
        "rewriter.cost.measure.compare",
        _fake_compare({"exact": 0.4, "rational": 0.6, "rewritten": 0.5}),
    )
    res = plan_sites(m, "ort-cpu", db=str(tmp_path / "db.sqlite"), progress=False)
    assert [d.decision for d in res.decisions] == ["replace", "replace"]
    assert all(d.candidate.name == "exact:mish_exp" for d in res.decisions)
    onnx.checker.check_model(res.model, full_check=True)
    assert not any(n.op_type == "Softplus" for n in res.model.graph.node)
    # the emitted sites say what was replaced (the CLI's summary and report read them)
    assert [(s.name, s.replaced) for s in res.sites] == [("mish_0", True), ("mish_1", True)]
    meta = json.loads(next(p.value for p in res.model.metadata_props if p.key == "pau_rewriter"))
    assert [x["candidate"] for x in meta["sites"]] == ["exact:mish_exp", "exact:mish_exp"]
    # the exact rewrite computes the same function: the planned model's outputs are the original's
    x = {"x": np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(run_model(res.model, x)[0], run_model(m, x)[0], rtol=1e-5, atol=1e-6)
    d = res.to_dict()
    assert d["decisions"][0]["candidate"]["name"] == "exact:mish_exp"
    # second run: everything comes from the database
    res2 = plan_sites(
        m, "ort-cpu", db=str(tmp_path / "db.sqlite"), progress=False, measure_whole=False
    )
    assert res2.measured == 0 and res2.reused == 2


def test_plan_backs_off_until_faster(monkeypatch, tmp_path):
    m = mish_cnn()
    monkeypatch.setattr(
        "rewriter.cost.measure.compare",
        _fake_compare({"exact": 0.9, "rational": 0.95, "rewritten": 1.05}),  # never faster
    )
    res = plan_sites(m, "ort-cpu", db=":memory:", progress=False)
    assert [d.decision for d in res.decisions] == ["backed-off", "backed-off"]
    assert not any(n.name.startswith("pau/") for n in res.model.graph.node)
    assert res.whole is not None and sorted(res.backed_off) == ["mish_0", "mish_1"]
    assert not any(s.replaced for s in res.sites)


def test_back_off_undoes_least_gain_first():
    """The one back-off loop: least expected gain first, until the whole model is faster."""
    decisions = [
        SiteDecision(
            Site(f"s{i}", "mish", {}, "mish", "", "x", f"y{i}", [], "", None, "float", None),
            RAT,
            "replace",
            "",
            g,
        )
        for i, g in enumerate((3.0, 1.2, 2.0))
    ]
    builds: list[list[str]] = []

    def build() -> onnx.ModelProto:
        builds.append([d.name for d in decisions if d.decision == "replace"])
        return onnx.ModelProto()

    def measure(_m: onnx.ModelProto) -> WholeResult:  # faster once one site is left
        faster = len(builds[-1]) <= 1
        return WholeResult(1, 0, 1, 0, 1.2 if faster else 0.9, 1.1 if faster else 0.8, 1.3, 10)

    _, whole, backed = back_off(decisions, build, measure)
    assert backed == ["s1", "s2"] and whole is not None and whole.faster
    assert builds == [["s0", "s1", "s2"], ["s0", "s2"], ["s0"]]
    assert [d.decision for d in decisions] == ["replace", "backed-off", "backed-off"]


def test_candidate_filter_limits_what_is_measured(monkeypatch, tmp_path):
    """`rewrite plan --prune K` goes through this hook: only keep + the filtered candidates are
    measured, and the plan can only pick among them."""
    m = mish_cnn()
    measured: list[str] = []
    fake = _fake_compare({"exact": 0.4, "rational": 0.6, "rewritten": 0.6})

    def spy(fns, baseline=None, **kw):
        measured.extend(k for k in fns if k not in ("original", "rewritten"))
        return fake(fns, baseline, **kw)

    monkeypatch.setattr("rewriter.cost.measure.compare", spy)
    only_rationals = lambda site, micro, cands: [c for c in cands if c.kind == "rational"][:1]  # noqa: E731
    res = plan_sites(
        m,
        "ort-cpu",
        db=str(tmp_path / "db.sqlite"),
        progress=False,
        candidate_filter=only_rationals,
    )
    assert not any(k.startswith("exact") for k in measured)
    assert {k.split(":")[0] for k in measured} == {"keep", "rational"}
    assert all(d.candidate.kind == "rational" for d in res.decisions if d.decision == "replace")


def test_budget_and_map_offer_the_candidates_target_plans_offer():
    """The exact Mish rewrite `--target` takes is a candidate of budgets and maps too."""
    m = mish_cnn()
    lat = TableLatency({}, base=10.0, default={"keep": 2.0, "exact": 1.0, "rational": 1.5})
    st = Study(m, "pau_all", None, degrees_set=((5, 4),), latency=lat)
    for s in st.sites:
        planner = {c.kind for c in candidates_for(s.site)}
        assert {c.kind for c in s.candidates} == planner == {"keep", "rational", "exact"}
        assert "exact:mish_exp" in s.costs and s.solo["exact:mish_exp"].cosine > 0.999999


def test_plan_prune_with_output_runs_the_planner_once(monkeypatch, tmp_path):
    """`rewrite plan --prune K -o OUT`: one planner run measures, backs off and writes."""
    import importlib

    from rewriter.cli.plan import main as plan_main

    prune = importlib.import_module("rewriter.plan.prune")
    src, out, js = tmp_path / "m.onnx", tmp_path / "out.onnx", tmp_path / "plan.json"
    onnx.save(mish_cnn(), src)
    monkeypatch.setattr(
        "rewriter.cost.measure.compare",
        _fake_compare({"exact": 0.4, "rational": 0.6, "rewritten": 0.5}),
    )

    class Ranker:  # predicts the exact rewrite best, without probing the machine
        def __init__(self, *a, **k) -> None:
            pass

        def rank(self, micro, cands, db=None):  # type: ignore[no-untyped-def]
            r = {"keep": 1.0, "exact": 0.3}
            return sorted(((c, r.get(c.kind, 0.7)) for c in cands), key=lambda cr: cr[1]), "test"

    runs: list[str] = []
    real = prune.plan_sites

    def once(*a, **k):  # type: ignore[no-untyped-def]
        runs.append(k["strategy"])
        return real(*a, **k)

    monkeypatch.setattr(prune, "Ranker", Ranker)
    monkeypatch.setattr(prune, "plan_sites", once)
    args = [str(src), "--target", "ort-cpu", "--prune", "1", "--db", str(tmp_path / "db.sqlite")]
    assert plan_main([*args, "-o", str(out), "--json", str(js)]) == 0
    assert runs == ["pruned"] and out.exists()
    data = json.loads(js.read_text())
    assert data["counts"]["measured"] == 4 and data["counts"]["full"] > 4  # keep + top-1, 2 sites
    assert [d["candidate"]["name"] for d in data["decisions"]] == ["exact:mish_exp"] * 2
    assert all(d["predicted"]["exact:mish_exp"] == 0.3 for d in data["decisions"])


def test_hardswish_candidate_below_opset_14_is_hardsigmoid_times_x() -> None:
    from onnx import TensorProto, helper

    from rewriter.emit.nodes import standard_nodes
    from rewriter.functions import get_function
    from rewriter.ir import run_model

    x = np.linspace(-6, 6, 97, dtype=np.float32)
    for opset, ops in ((13, ["HardSigmoid", "Mul"]), (14, ["HardSwish"])):
        nodes, inits = standard_nodes("hardswish", "x", "y", "p/", opset=opset)
        assert [n.op_type for n in nodes] == ops
        g = helper.make_graph(
            nodes,
            "hs",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [97])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [97])],
            inits,
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        onnx.checker.check_model(m, full_check=True)
        (y,) = run_model(m, {"x": x})
        np.testing.assert_allclose(y, get_function("hardswish")(x), atol=1e-6)


_MISH_LOOP = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 16] x) => (float[N, 16] y) {
    sp = Softplus (x)
    t = Tanh (sp)
    mx = Mul (x, t)
    m = Constant <value = int64 {2}> ()
    c = Constant <value = bool {1}> ()
    y = Loop (m, c, mx) <body = body (int64 i, bool cin, float[N, 16] v)
                                       => (bool cout, float[N, 16] vo) {
        cout = Identity (cin)
        vo = Neg (v)
    }>
}
"""


class _Faster:
    """Predicted records (the SiteCosts seam ``predict_plan`` uses): exact Mish 2x faster."""

    def records(self, micro, candidates):
        return table(**{c.name: (0.5, 0.45, 0.55) for c in candidates if c.name != "keep"})


def test_a_whole_model_the_target_cannot_compile_is_said_not_hidden(tmp_path):
    """torch-inductor compiles the whole model with fullgraph=True; a Loop's trip count is
    data-dependent, so it cannot. Before: an internal error with torch's multi-line trace.
    Now the plan is kept as the sites were measured and says the whole was not measured."""
    m = onnx.parser.parse_model(_MISH_LOOP)
    res = plan_sites(
        m, "torch-inductor", db=str(tmp_path / "db.sqlite"), progress=False, costs=_Faster()
    )
    assert [d.decision for d in res.decisions] == ["replace"]
    assert res.whole is None and res.whole_note is not None
    assert "torch-inductor cannot compile this model into one graph" in res.whole_note
    assert "\n" not in res.whole_note and res.to_dict()["whole_note"] == res.whole_note


def test_bench_on_a_target_that_cannot_compile_the_model_is_one_line(tmp_path, capsys):
    from rewriter.cli import main

    src = tmp_path / "loop.onnx"
    onnx.save(onnx.parser.parse_model(_MISH_LOOP), src)
    assert main(["bench", str(src), "--target", "torch-inductor"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot compile this model into one graph" in err
    assert "measure it on torch-eager or an ONNX target" in err


def test_torch_inductor_compiles_an_exported_model_with_dynamic_axes(tmp_path):
    """An exporter's dynamic-axes graph computes shapes from tensors (Shape -> Gather ->
    Concat -> Reshape; Unsqueeze axes as inputs): torch.compile(fullgraph=True) could not trace
    one ("sort with non-constant keys", "could not guard on data-dependent expression"), so
    every zoo export failed its whole-model time on torch-inductor. Now it is folded at the
    feeds' shapes and its constants read as Python values: it compiles and matches ORT."""
    import torch

    from rewriter.cost.targets import get_target
    from rewriter.ir import run_model

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(12, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.nn.functional.gelu(self.fc(x.reshape(x.shape[0], x.shape[1], -1)))
            return h.unsqueeze(1).flatten(2).softmax(-1)

    torch.manual_seed(0)
    path = str(tmp_path / "net.onnx")
    torch.onnx.export(
        Net().eval(), (torch.randn(2, 5, 3, 4),), path, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch", 1: "seq"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    m = onnx.load(path)
    assert any(n.op_type == "Shape" for n in m.graph.node)
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 7, 3, 4)).astype(np.float32)}
    got = get_target("torch-inductor").session(m)(feeds)
    np.testing.assert_allclose(np.asarray(got[0]), run_model(m, feeds)[0], atol=1e-5)


_MISH_IF = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 16] x, bool c) => (float[N, 16] y) {
    sp = Softplus (x)
    t = Tanh (sp)
    mx = Mul (x, t)
    y = If (c) <then_branch = a () => (float[N, 16] ya) { ya = Neg (mx) },
                else_branch = b () => (float[N, 16] yb) { yb = Identity (mx) }>
}
"""


def test_a_whole_model_the_interpreter_does_not_cover_is_not_measured_on_torch(tmp_path):
    """An If (a VAD) is outside the ONNX-to-torch interpreter: the torch targets cannot run the
    whole model. Before, the plan stopped there ("torch converter: If is not supported")."""
    m = onnx.parser.parse_model(_MISH_IF)
    feeds = {"x": np.ones((1, 16), np.float32), "c": np.array(True)}
    res = plan_sites(m, "torch-eager", db=":memory:", progress=False, costs=_Faster(), feeds=feeds)
    assert [d.decision for d in res.decisions] == ["replace"] and res.whole is None
    assert res.whole_note is not None and res.whole_note.startswith(
        "torch-eager cannot run this model: If is not covered by the ONNX-to-torch interpreter"
    )


def test_the_written_line_says_what_is_known_of_the_speed(tmp_path, capsys):
    """The last line of ``rewrite`` names the target and the measured speed-up of the model as
    written, or says the written model is the input's computation, or that nothing was
    measured. Before, it said "N of M sites replaced" and nothing of speed."""
    from rewriter.cli import main

    src = tmp_path / "mish.onnx"
    onnx.save(mish_cnn(), src)
    assert main([str(src), "-o", str(tmp_path / "plain.onnx")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith("2 of 2 sites replaced; speed not measured (no --target)"), last

    rep = tmp_path / "r.json"
    args = [str(src), "--target", "ort-cpu:threads=1", "--db", str(tmp_path / "db.sqlite")]
    assert main([*args, "-o", str(tmp_path / "t.onnx"), "--report", str(rep)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    r = json.loads(rep.read_text())
    whole = r["plan"]["whole"]
    # nothing faster on this machine now (or the whole model, measured, was not): the input's
    # computation
    if not any(s["replaced"] for s in r["sites"]):
        assert last.endswith(
            "0 of 2 sites replaced; it computes what the input does (no replacement measured "
            "faster on ort-cpu)"
        ), last
    else:
        assert f"measured x{whole['speedup']:.2f} on ort-cpu (95% CI " in last, last
        faster = whole["speedup_lo"] > 1.0
        assert last.endswith(": faster" if faster else ": NOT faster beyond noise"), last


def test_plan_output_above_tolerance_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    """`rewrite plan --allow-standard -o OUT` verified the planned model and wrote it however
    far it was from the original (the digits CNN with ReLU for Mish: rel-L2 0.10, written);
    now it is held to --tolerance as `rewrite` is: one line, nothing written, --force writes."""
    from rewriter.cli import main

    src, out = tmp_path / "m.onnx", tmp_path / "out.onnx"
    onnx.save(mish_cnn(), src)
    monkeypatch.setattr(  # ReLU measured fastest: the plan takes it at both sites
        "rewriter.cost.measure.compare",
        _fake_compare({"standard": 0.2, "exact": 0.9, "rational": 0.9, "rewritten": 0.3}),
    )
    args = ["plan", str(src), "--target", "ort-cpu", "--allow-standard", "-o", str(out)]
    args += ["--db", str(tmp_path / "db.sqlite")]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the [plan] progress
    assert err.startswith("rewrite: error: ") and "exceeds --tolerance 0.01" in err, err
    assert "--force" in err and not out.exists()
    assert main([*args, "--force"]) == 0 and out.exists()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"wrote {out}: 2 of 2 site(s) replaced; measured x"), last


def test_a_site_empty_on_the_inputs_used_is_kept_not_measured() -> None:
    """X-MOD runs each language's adapter on the tokens of that language: on generated inputs
    the other adapters see 0x64x32. The site's micro-model declared a 0 dim, its inputs were
    generated anyway and refused ("Got invalid dimensions"), and the whole `--target` run
    stopped (exit 2). Such a site is kept, said why; the others are planned."""
    m = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[batch, 8] x) => (float[batch, 8] y, float[e, 8] z) {
            y = Sigmoid(x)
            zero = Constant <value = int64[1] {0}> ()
            none = Slice(x, zero, zero, zero)
            z = Tanh(none)
        }
        """
    )
    res = plan_sites(m, "ort-cpu:threads=1", db=":memory:", progress=False, measure_whole=False)
    by_fn = {d.site.function: d for d in res.decisions}
    assert set(by_fn) == {"sigmoid", "tanh"}
    assert by_fn["tanh"].decision == "keep"
    assert "'none' is empty (0x8) on the inputs used: nothing to measure" in by_fn["tanh"].reason
    assert "keep" in by_fn["sigmoid"].measured  # measured
