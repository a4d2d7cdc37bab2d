"""Sites found by their values in ONNX models (``rewriter.passes.identify``): a region no rule
spells that computes a catalogue function is a site of it, replaced when chosen and left node
for node when kept. The graphs are written here; no exporter needed."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from test_tf_normalize import GUARDED_GELU, C, _model, _run  # tests/ is on sys.path

from rewriter.api import find_sites, rewrite_onnx
from rewriter.cli import main

GELU_INITS = {"c": C, "zero": 0.0, "one": 1.0, "half": 0.5}
# SiLU as x * 0.5 * (1 + tanh(x / 2)): the rules read only its Tanh
SILU_TANH = "h = Mul(x, half)\n t = Tanh(h)\n a = Add(t, one)\n b = Mul(x, a)\n y = Mul(b, half)"
X = np.random.default_rng(0).normal(0, 3, (2, 8)).astype(np.float32)


def test_a_region_no_rule_spells_is_a_site_and_is_replaced() -> None:
    m = _model(GUARDED_GELU, GELU_INITS)
    (site,) = find_sites(m)
    assert (site.name, site.function, site.rule) == ("gelu_0", "gelu", "identified")
    assert site.spelling == "identified by its values (11 nodes)" and len(site.nodes) == 11
    res = rewrite_onnx(m)
    assert [s.replaced for s in res.sites] == [True]
    onnx.checker.check_model(res.model, full_check=True)
    ops = [n.op_type for n in res.model.graph.node]
    assert "Erf" not in ops and "Where" not in ops
    assert all(n.name.startswith("pau/gelu_0/") for n in res.model.graph.node)
    np.testing.assert_allclose(_run(res.model, X), _run(m, X), atol=1e-3)


def test_a_kept_region_stays_node_for_node() -> None:
    """Not in the pipeline (or kept by a plan): the user's nodes, names and constants stay."""
    m = _model(GUARDED_GELU, GELU_INITS)
    res = rewrite_onnx(m, "pau_silu")
    assert res.sites == []
    assert res.model.graph.node == m.graph.node
    assert {t.name for t in res.model.graph.initializer} == set(GELU_INITS)
    kept = rewrite_onnx(m, select=lambda s: False)
    assert [(s.name, s.replaced) for s in kept.sites] == [("gelu_0", False)]
    assert kept.model.graph.node == m.graph.node


def test_a_whole_function_wins_over_the_rule_site_inside_it() -> None:
    """Before, x * 0.5 * (1 + tanh(x/2)) had one site, its Tanh; now one SiLU site, whole."""
    m = _model(SILU_TANH, {"half": 0.5, "one": 1.0})
    assert [(s.name, s.rule) for s in find_sites(m)] == [("silu_0", "identified")]
    res = rewrite_onnx(m)
    assert "Tanh" not in [n.op_type for n in res.model.graph.node]
    np.testing.assert_allclose(_run(res.model, X), _run(m, X), atol=1e-3)


def test_a_rule_site_of_the_same_function_inside_stands() -> None:
    """Mamba's TorchScript export casts its SiLU to its own type, torch's softplus guards
    x > 20: the regions around are SiLU and softplus, but the rule sites inside them (the
    names and the spellings found before) stand, the Cast and the guard outside them."""
    m = _model("s = Sigmoid(x)\n p = Mul(x, s)\n y = Cast<to = 1>(p)", {})
    assert [(s.name, s.rule, s.output) for s in find_sites(m)] == [("silu_0", "silu", "p")]
    guard = "g = Greater(x, t)\n sp = Softplus(x)\n y = Where(g, x, sp)"
    m = _model(guard, {"t": 20.0})
    assert [(s.rule, s.output) for s in find_sites(m)] == [("softplus_native", "sp")]


def test_tanh_spelled_through_a_sigmoid_is_tanh() -> None:
    """2 * sigmoid(2x) - 1: a sigmoid site before (a piece), one tanh site now."""
    m = _model("a = Mul(x, two)\n s = Sigmoid(a)\n b = Mul(s, two)\n y = Sub(b, one)",
               {"two": 2.0, "one": 1.0})  # fmt: skip
    assert [(s.name, s.function, s.rule) for s in find_sites(m)] == [
        ("tanh_0", "tanh", "identified")
    ]
    res = rewrite_onnx(m)
    np.testing.assert_allclose(_run(res.model, X), _run(m, X), atol=1e-3)


def test_a_parameter_is_read_off_the_values() -> None:
    """jax.nn.celu(x, alpha=2) as XLA writes it, max(x,0) + 2*(exp(min(x,0)/2) - 1): the rule
    reads alpha 1 only (two captured constants would have to agree); by its values it is CELU
    with alpha 2, and replaced by that function's rational."""
    body = "r = Max(x, zero)\n mn = Min(x, zero)\n q = Div(mn, al)\n e = Exp(q)\n"
    body += " d = Sub(e, one)\n s = Mul(al, d)\n y = Add(r, s)"
    m = _model(body, {"zero": 0.0, "one": 1.0, "al": 2.0})
    assert [(s.function, s.rule, s.params) for s in find_sites(m)] == [
        ("celu", "identified", {"alpha": 2.0})
    ]
    res = rewrite_onnx(m)
    np.testing.assert_allclose(_run(res.model, X), _run(m, X), atol=1e-4)
    selu_alpha = 1.6732632423543772  # not 6 digits: read as it is, then checked
    elu = _model("s = Less(x, zero)\n e = Exp(x)\n d = Sub(e, one)\n m = Mul(d, al)\n"
                 " y = Where(s, m, x)", {"zero": 0.0, "one": 1.0, "al": selu_alpha})  # fmt: skip
    ((site),) = find_sites(elu)
    assert (site.function, site.rule) == ("elu", "identified")
    assert abs(site.params["alpha"] - selu_alpha) < 1e-6
    off = _model(body.replace("s = Mul(al, d)", "s = Mul(al3, d)"),
                 {"zero": 0.0, "one": 1.0, "al": 2.0, "al3": 3.0})  # fmt: skip
    assert all(s.function != "celu" for s in find_sites(off))  # 3*(exp(x/2) - 1): no CELU


def test_identified_sites_are_numbered_after_the_rule_sites() -> None:
    """Names must not move when identification finds more: the rule-spelled GELU after the
    identified one in graph order is still gelu_0, the identified one gelu_1."""
    body = GUARDED_GELU.replace("y = Mul(h, a)", "g = Mul(h, a)")
    body += (
        "\n r = Mul(g, c)\n e2 = Erf(r)\n a2 = Add(e2, one)\n h2 = Mul(g, half)\n y = Mul(h2, a2)"
    )
    m = _model(body, GELU_INITS)
    sites = find_sites(m)
    assert [(s.name, s.rule, s.output) for s in sites] == [
        ("gelu_0", "gelu_erf", "y"),
        ("gelu_1", "identified", "g"),
    ]
    res = rewrite_onnx(m, select=lambda s: s.name == "gelu_1")
    assert [(s.name, s.replaced) for s in res.sites] == [("gelu_0", False), ("gelu_1", True)]
    np.testing.assert_allclose(_run(res.model, X), _run(m, X), atol=1e-3)


@pytest.mark.parametrize(
    ("body", "inits", "why"),
    [
        (GUARDED_GELU.replace("Mul(x, c)", "Mul(x, c2)"), {**GELU_INITS, "c2": 0.69},
         "0.5 x (1 + erf(0.69 x)): near GELU, no multiple of it"),
        ("n = Mul(x, m2)\n e = Exp(n)\n a = Sub(one, e)\n b = Add(one, e)\n y = Div(a, b)",
         {"m2": -2.0, "one": 1.0}, "tanh as (1-e^-2x)/(1+e^-2x): NaN below -44, tanh is not"),
    ],
)  # fmt: skip
def test_what_is_not_the_function_everywhere_is_no_site(body: str, inits: dict, why: str) -> None:
    m = _model(body, inits)
    assert find_sites(m) == [], why
    assert rewrite_onnx(m).model.graph.node == m.graph.node


def test_the_cli_plans_and_writes_an_identified_site(tmp_path, capsys) -> None:
    src, out = tmp_path / "m.onnx", tmp_path / "out.onnx"
    onnx.save(_model(GUARDED_GELU, GELU_INITS, dims="4, 64"), src)
    before = src.read_bytes()
    assert main([str(src), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gelu_0" in text and "identified" in text and "1 of 1 sites replaced" in text
    assert src.read_bytes() == before
    args = [str(src), "--target", "ort-cpu:threads=1", "--db", str(tmp_path / "db.sqlite")]
    assert main([*args, "-o", str(tmp_path / "t.onnx")]) == 0  # measured like any site
    assert "gelu_0" in capsys.readouterr().out


def test_explain_says_what_was_identified_and_how_near_the_rest_came(tmp_path, capsys) -> None:
    """`rewrite explain MODEL --rule identified`: tf2onnx spells a select cond*a + (1-cond)*b,
    NaN where the branch not taken is inf; such a GELU is off at the points where it is NaN,
    and the line says where, so a user sees why it is no site."""
    blend = (  # the guarded GELU, its select blended, the negative branch dividing by x
        "n = Neg(x)\n nc = Mul(n, c)\n en = Erf(nc)\n neg = Neg(en)\n pc = Mul(x, c)\n"
        " ep = Erf(pc)\n s = Less(x, zero)\n q = Div(one, x)\n qq = Mul(q, zero)\n"
        " neg2 = Add(neg, qq)\n sf = Cast<to = 1>(s)\n a1 = Mul(sf, neg2)\n ns = Sub(one, sf)\n"
        " a2 = Mul(ns, ep)\n e = Add(a1, a2)\n a = Add(e, one)\n h = Mul(x, half)\n y = Mul(h, a)"
    )
    m = _model(blend, GELU_INITS)
    assert find_sites(m) == []
    src = tmp_path / "m.onnx"
    onnx.save(m, src)
    assert main(["explain", str(src), "--rule", "identified"]) == 0
    out = capsys.readouterr().out
    assert (
        "nearest gelu: off at 1 of 4805 points (x in [0, 0]; the region is NaN at 1 of them)" in out
    )
    assert main([str(src), "--dry-run"]) == 0  # `rewrite` itself says so, in one line
    notes = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 1 and "computes gelu except at 1 of 4805 points, x in [0, 0]" in notes[0]
    assert "where it is NaN: the model gives NaN for such inputs" in notes[0]
    onnx.save(_model(SILU_TANH, {"half": 0.5, "one": 1.0}), src)
    assert main(["explain", str(src), "--rule", "identified"]) == 0
    assert "(5 nodes, 'x' -> 'y'): identified as silu" in capsys.readouterr().out


def test_a_multiple_of_a_function_is_a_site_of_it_scaled() -> None:
    """onnxsim folds GELU's trailing 0.5 into the next layer's weights, leaving x (1 +
    erf(x / sqrt 2)) = 2 GELU(x): no rule spells it, and it was no site. By its values it is
    2 times GELU: a GELU site whose replacement is multiplied by 2 where it is written (any
    multiple of a catalogue function: 0.5 tanh(x) as sigmoid(2x) - 0.5 too)."""
    m = _model("d = Div(x, s2)\n e = Erf(d)\n a = Add(e, one)\n y = Mul(x, a)",
               {"s2": 1.4142135, "one": 1.0})  # fmt: skip
    (site,) = find_sites(m)
    assert (site.name, site.function, site.rule, site.scale) == (
        "gelu_0",
        "gelu",
        "identified",
        2.0,
    )
    assert site.spelling == "identified by its values (4 nodes, 2 x gelu)"
    assert site.to_dict()["scale"] == 2.0
    res = rewrite_onnx(m)
    assert [s.replaced for s in res.sites] == [True]
    onnx.checker.check_model(res.model, full_check=True)
    last = res.model.graph.node[-1]
    assert (last.op_type, last.output[0]) == ("Mul", "y") and "Erf" not in str(res.model.graph)
    np.testing.assert_allclose(_run(res.model, X), _run(m, X), rtol=0, atol=2e-3)
    # its tanh form so folded held a tanh site (a piece of it); a 2 GELU-tanh site now
    tanh_form = (
        "c2 = Mul(x, x)\n c3 = Mul(x, c2)\n t1 = Mul(k1, c3)\n t2 = Add(x, t1)\n"
        " t3 = Mul(k2, t2)\n th = Tanh(t3)\n a = Add(one, th)\n y = Mul(x, a)"
    )
    gt = _model(tanh_form, {"k1": 0.044715, "k2": 0.7978846, "one": 1.0})
    assert [(s.function, s.rule, s.scale) for s in find_sites(gt)] == [
        ("gelu_tanh", "identified", 2.0)
    ]
    np.testing.assert_allclose(_run(rewrite_onnx(gt).model, X), _run(gt, X), rtol=0, atol=2e-3)
    half_tanh = _model("a = Mul(x, two)\n s = Sigmoid(a)\n y = Sub(s, half)",
                       {"two": 2.0, "half": 0.5})  # fmt: skip
    assert [(s.function, s.scale) for s in find_sites(half_tanh)] == [("tanh", 0.5)]
    res = rewrite_onnx(half_tanh)
    np.testing.assert_allclose(_run(res.model, X), _run(half_tanh, X), rtol=0, atol=1e-3)
    unscaled = _model(SILU_TANH, {"half": 0.5, "one": 1.0})
    assert "scale" not in find_sites(unscaled)[0].to_dict()  # reports as they were
    # every TorchScript GELU holds x (1 + erf(x / sqrt 2)) before its 0.5: the rule site stands
    torchscript = _model("d = Div(x, s2)\n e = Erf(d)\n a = Add(e, one)\n m = Mul(x, a)\n"
                         " y = Mul(m, half)", {"s2": 1.4142135, "one": 1.0, "half": 0.5})  # fmt: skip
    assert [(s.rule, s.scale, s.output) for s in find_sites(torchscript)] == [
        ("gelu_erf", 1.0, "y")
    ]


def test_a_scaled_site_is_planned_with_its_scale(tmp_path, capsys) -> None:
    """Every kind of candidate is multiplied by the scale (a standard swap: 2 GELU becomes 2
    QuickGELU, x sigmoid(1.702 x)), and a budgeted plan measures and reports it as such."""
    from rewriter.candidates import standard_candidate
    from rewriter.emit import emit_result

    m = _model("d = Div(x, s2)\n e = Erf(d)\n a = Add(e, one)\n y = Mul(x, a)",
               {"s2": 1.4142135, "one": 1.0}, dims="4, 64")  # fmt: skip
    res = emit_result(m, lambda s: standard_candidate("gelu", {}, "quickgelu"))
    assert [(s.replaced, s.scale) for s in res.sites] == [(True, 2.0)]
    xs = np.random.default_rng(1).normal(0, 2, (4, 64)).astype(np.float32)
    want = 2 * xs / (1 + np.exp(-1.702 * xs))
    np.testing.assert_allclose(_run(res.model, xs), want, rtol=1e-5, atol=1e-5)
    src, report = tmp_path / "m.onnx", tmp_path / "r.json"
    onnx.save(m, src)
    args = [str(src), "--target", "ort-cpu:threads=1", "--db", str(tmp_path / "db.sqlite")]
    args += ["--allow-standard", "--min-cosine", "0.99", "--report", str(report)]
    assert main([*args, "-o", str(tmp_path / "b.onnx")]) == 0
    assert "2 x gelu" in capsys.readouterr().out
    (row,) = json.loads(report.read_text())["sites"]
    assert (row["function"], row["scale"]) == ("gelu", 2.0)
    html = tmp_path / "map.html"
    assert main(["map", str(src), "-o", str(html), "--db", str(tmp_path / "db.sqlite")]) == 0
    assert "2 x gelu" in capsys.readouterr().out
    (mapped,) = json.loads(html.with_suffix(".json").read_text())["sites"]
    assert (mapped["function"], mapped["scale"]) == ("gelu", 2.0)
    got = _run(onnx.load(str(tmp_path / "b.onnx")), xs)
    ref = _run(m, xs)
    assert np.dot(got.ravel(), ref.ravel()) / np.linalg.norm(got) / np.linalg.norm(ref) > 0.99
