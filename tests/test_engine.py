"""Engine behaviour: matcher corner cases, If bodies, idempotence, determinism, custom rules."""

from __future__ import annotations

import textwrap

import numpy as np
import onnx
import pytest

import rewriter
from rewriter import Rule, Var, op
from rewriter.errors import UsageError
from rewriter.ir import run_model
from rewriter.verify import make_inputs

HEADER = '<ir_version: 8, opset_import: ["" : 17]>'


def parse(
    body: str, inputs: str = "float[2,8] a", outputs: str = "float[2,8] y"
) -> onnx.ModelProto:
    return onnx.parser.parse_model(
        f"{HEADER}\ng ({inputs}) => ({outputs}) {{\n{textwrap.dedent(body)}\n}}"
    )


GELU = """
  x = Add(a, a)
  h = Constant<value = float {0.5}>()
  s = Constant<value = float {1.4142135}>()
  d = Div(x, s)
  e = Erf(d)
  one = Constant<value = float {1.0}>()
  p = Add(e, one)
  m1 = Mul(x, h)
  y = Mul(m1, p)
"""


def close(a: onnx.ModelProto, b: onnx.ModelProto, atol: float) -> float:
    feeds = make_inputs(a, low=-4, high=4)
    diff = max(
        float(np.max(np.abs(x - y)))
        for x, y in zip(run_model(a, feeds), run_model(b, feeds), strict=True)
    )
    assert diff < atol, diff
    return diff


def test_gelu_found_and_replaced_with_numerics() -> None:
    m = parse(GELU)
    res = rewriter.rewrite_onnx(m, "pau_all")
    assert [(s.name, s.function, s.rule, s.replaced) for s in res.sites] == [
        ("gelu_0", "gelu", "gelu_erf", True)
    ]
    ops = [n.op_type for n in res.model.graph.node]
    assert "Erf" not in ops and ops[0] == "Add"
    assert all(n.name.startswith("pau/gelu_0/") for n in res.model.graph.node[1:])
    onnx.checker.check_model(res.model, full_check=True)
    close(m, res.model, 1e-3)
    # the dead Constant nodes of the chain are gone, nothing else
    assert not [n for n in res.model.graph.node if n.op_type == "Constant"]


def test_input_model_is_not_modified() -> None:
    m = parse(GELU)
    before = m.SerializeToString()
    rewriter.rewrite(m, "pau_all")
    assert m.SerializeToString() == before


def test_intermediate_used_outside_is_not_matched() -> None:
    m = parse(GELU + "  z = Neg(e)\n", outputs="float[2,8] y, float[2,8] z")
    assert rewriter.find_sites(m, "pau_gelu") == []
    m2 = parse(GELU, outputs="float[2,8] y, float[2,8] p")  # intermediate is a graph output
    assert rewriter.find_sites(m2, "pau_gelu") == []


def test_explain_names_the_node_that_broke_the_match(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    from rewriter.cli import main

    m = parse(GELU + "  z = Neg(e)\n", outputs="float[2,8] y, float[2,8] z")
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    assert main(["explain", str(path), "--rule", "gelu_erf"]) == 0
    out = capsys.readouterr().out
    assert "also used by" in out and "outside the match" in out
    wrong = parse(GELU.replace("{0.5}", "{0.25}"))
    onnx.save(wrong, path)
    assert main(["explain", str(path), "--rule", "gelu_erf"]) == 0
    assert "pattern wants 0.5" in capsys.readouterr().out


def test_commutative_operands_and_association() -> None:
    # Mul(0.5, Mul(Add(1, Erf(x * 0.70710677)), x)): every operand order swapped, TF's reciprocal
    m = parse(
        """
      x = Add(a, a)
      c = Constant<value = float {0.70710677}>()
      d = Mul(c, x)
      e = Erf(d)
      one = Constant<value = float[1] {1.0}>()
      p = Add(one, e)
      m1 = Mul(p, x)
      h = Constant<value = float {0.5}>()
      y = Mul(h, m1)
    """
    )
    assert [s.function for s in rewriter.find_sites(m)] == ["gelu"]


def test_sites_in_if_branches_are_rewritten() -> None:
    m = parse(
        """
      t = Constant<value = bool {1}>()
      y = If(t) <then_branch = g1 () => (float[2,8] r1) { r1 = Tanh(a) },
                  else_branch = g2 () => (float[2,8] r2) { r2 = Sigmoid(a) }>
    """
    )
    res = rewriter.rewrite_onnx(m, "pau_all")
    assert [(s.name, s.graph) for s in res.sites] == [
        ("tanh_0", "If/then_branch"),
        ("sigmoid_0", "If/else_branch"),
    ]
    body_ops = [n.op_type for n in res.model.graph.node[1].attribute[0].g.node]
    assert "Tanh" not in body_ops
    onnx.checker.check_model(res.model, full_check=True)
    close(m, res.model, 1e-3)


def test_value_read_inside_a_branch_blocks_the_match() -> None:
    m = parse(
        GELU.replace("y = Mul(m1, p)", "y0 = Mul(m1, p)")
        + """
      t = Constant<value = bool {1}>()
      y = If(t) <then_branch = g1 () => (float[2,8] r1) { r1 = Add(y0, e) },
                  else_branch = g2 () => (float[2,8] r2) { r2 = Identity(y0) }>
    """
    )
    assert rewriter.find_sites(m, "pau_gelu") == []


def test_idempotent_and_deterministic() -> None:
    m = parse(GELU)
    a = rewriter.rewrite(m, "pau_all")
    b = rewriter.rewrite(m, "pau_all")
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
    assert rewriter.find_sites(a, "pau_all") == []
    again = rewriter.rewrite(a, "pau_all")
    assert [n.name for n in again.graph.node] == [n.name for n in a.graph.node]


def test_everything_else_is_kept() -> None:
    m = parse(GELU + "  z = Custom(y)\n", outputs="float[2,8] y, float[2,8] z")
    m.opset_import.add(domain="com.acme", version=1)
    m.graph.node[-1].domain = "com.acme"
    m.graph.node[0].doc_string = "keep me"
    m.doc_string = "model doc"
    m.metadata_props.add(key="author", value="me")
    out = rewriter.rewrite(m, "pau_all")
    assert out.graph.node[0].doc_string == "keep me" and out.doc_string == "model doc"
    assert out.graph.node[-1].domain == "com.acme" and out.graph.node[-1].op_type == "Custom"
    assert {p.key for p in out.metadata_props} == {"author", "pau_rewriter"}
    assert [o.domain for o in out.opset_import] == ["", "com.acme"]


def test_pipeline_selects_functions_and_names_are_stable() -> None:
    m = parse(GELU.replace("y = Mul(m1, p)", "y0 = Mul(m1, p)") + "  y = Tanh(y0)\n")
    assert [s.name for s in rewriter.find_sites(m, "pau_all")] == ["gelu_0", "tanh_0"]
    res = rewriter.rewrite_onnx(m, "pau_tanh")
    assert [(s.name, s.replaced) for s in res.sites] == [("tanh_0", True)]
    assert "Erf" in [n.op_type for n in res.model.graph.node]
    with pytest.raises(UsageError, match="unknown pipeline 'pau_nope'"):
        rewriter.find_sites(m, "pau_nope")


def test_params_are_captured() -> None:
    m = parse(
        """
      b = Constant<value = float {1.5}>()
      xb = Mul(a, b)
      s = Sigmoid(xb)
      y0 = Mul(a, s)
      y = Elu<alpha = 0.5>(y0)
    """
    )
    sites = rewriter.find_sites(m)
    assert [(s.function, s.params) for s in sites] == [
        ("swish", {"beta": 1.5}),
        ("elu", {"alpha": 0.5}),
    ]


def test_register_rule_and_decorator_and_text_rules(tmp_path) -> None:
    m = parse(
        """
      s = Softsign(a)
      y = Mul(a, s)
    """
    )
    assert [s.function for s in rewriter.find_sites(m, "pau_all")] == ["softsign"]

    @rewriter.rule("test_x_softsign", function="silu", spelling="test only")
    def x_softsign(x: Var):
        return x * op.Softsign(x)

    try:
        assert [(s.function, s.rule) for s in rewriter.find_sites(m, "pau_all")] == [
            ("silu", "test_x_softsign")
        ]
    finally:
        from rewriter.match.rules import _USER_RULES

        _USER_RULES.pop("test_x_softsign")
    toml = tmp_path / "rules.toml"
    toml.write_text(
        '[[rule]]\nname = "test_toml"\nfunction = "swish"\npattern = "Mul(x, Sigmoid(Mul(x, $beta)))"\n'
    )
    m2 = parse(
        "  b = Constant<value = float {2.0}>()\n  xb = Mul(b, a)\n  s = Sigmoid(xb)\n  y = Mul(s, a)\n"
    )
    try:
        sites = rewriter.find_sites(m2, "pau_all", patterns=[str(toml)])
        assert [(s.function, s.params) for s in sites] == [("swish", {"beta": 2.0})]
    finally:
        from rewriter.match.rules import _USER_RULES

        _USER_RULES.pop("test_toml")
    with pytest.raises(UsageError, match="must use the variable x"):
        rewriter.register_rule(Rule("bad", op.Tanh(Var("y")), "tanh"))
    with pytest.raises(UsageError, match="unknown function 'nope'"):
        rewriter.register_rule("bad2", op.Tanh(Var("x")), "nope")
    with pytest.raises(UsageError, match="cannot parse pattern"):
        from rewriter.match.rules import parse_pattern

        parse_pattern("Mul(x,", "t")


def test_custom_replacement_one_node() -> None:
    from rewriter.patterns.gelu import RULES

    from rewriter.match.engine import Options, run

    m = parse(GELU)
    m.opset_import.add(domain="com.microsoft", version=1)

    def fused(site, rule, g):
        return (
            [
                onnx.helper.make_node(
                    "Gelu",
                    [site.input],
                    [site.output],
                    name=f"pau/{site.name}",
                    domain="com.microsoft",
                )
            ],
            [],
            None,
        )

    sites = run(m, [RULES[0]], Options(replacement=fused))
    assert [s.replaced for s in sites] == [True]
    assert [n.op_type for n in m.graph.node] == ["Add", "Gelu"]
    close(parse(GELU), m, 1e-5)


def test_canonicalize_and_cleanup_passes() -> None:
    m = parse(GELU + "  dead = Neg(a)\n")
    out = rewriter.rewrite(m, "canonicalize,cleanup")
    ops = [n.op_type for n in out.graph.node]
    assert "Div" not in ops and "Neg" not in ops
    close(m, out, 1e-6)
    assert [s.function for s in rewriter.find_sites(out)] == ["gelu"]


def test_fp16_model_gets_fp16_rational() -> None:
    m = parse(
        """
      h = Constant<value = float {0.5}>()
      hh = Cast<to = 10>(h)
      x = Add(a, a)
      s0 = Constant<value = float {1.4142}>()
      s = Cast<to = 10>(s0)
      d = Div(x, s)
      e = Erf(d)
      one0 = Constant<value = float {1.0}>()
      one = Cast<to = 10>(one0)
      p = Add(e, one)
      m1 = Mul(x, hh)
      y = Mul(m1, p)
    """,
        inputs="float16[2,8] a",
        outputs="float16[2,8] y",
    )
    res = rewriter.rewrite_onnx(m, "pau_all")
    assert [(s.function, s.dtype) for s in res.sites] == [("gelu", "float16")]
    onnx.checker.check_model(res.model, full_check=True)
    close(m, res.model, 2e-2)


def test_var_predicate_on_dtype() -> None:
    m = parse("  y = Tanh(a)\n")
    only_double = Rule(
        "tanh_f64",
        op.Tanh(Var("x", where=lambda vi: vi is not None and vi.elem_type == 11)),
        "tanh",
    )
    assert rewriter.find_sites(m, "pau_tanh", rules=[only_double]) == []
    only_float = Rule(
        "tanh_f32", op.Tanh(Var("x", where=lambda vi: vi is not None and vi.elem_type == 1)), "tanh"
    )
    assert [s.rule for s in rewriter.find_sites(m, "pau_tanh", rules=[only_float])] == ["tanh_f32"]


def test_entry_point_plugin_adds_rules(tmp_path, monkeypatch) -> None:
    """A pip-installed plugin declares `pau_rewriter.patterns`; its rules join the registry."""
    from rewriter.match import rules as rules_mod

    (tmp_path / "acme_rules.py").write_text(
        "from rewriter import Rule, Var, op\n"
        "x = Var('x')\n"
        "RULES = [Rule('acme_softsign_mul', x * op.Softsign(x), 'silu', spelling='acme plugin')]\n"
    )
    dist = tmp_path / "acme_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pau_rewriter.patterns]\nacme = acme_rules\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(rules_mod, "_LIBRARY", None)
    monkeypatch.setattr(rules_mod, "_USER_RULES", {})
    m = parse("  s = Softsign(a)\n  y = Mul(a, s)\n")
    assert [(s.function, s.rule) for s in rewriter.find_sites(m)] == [("silu", "acme_softsign_mul")]


def test_fp16_constant_cast_up_to_float32_keeps_its_tolerance() -> None:
    # an fp16 sqrt(2) (1.4141) Cast to float32 in an fp32 graph is still an fp16-exact constant
    m = parse(
        GELU.replace(
            "s = Constant<value = float {1.4142135}>()",
            "s16 = Constant<value = float {1.4142135}>()\n  s16h = Cast<to = 10>(s16)\n  s = Cast<to = 1>(s16h)",
        )
    )
    assert [s.function for s in rewriter.find_sites(m, "pau_gelu")] == ["gelu"]


def test_pau_learned_pipeline_through_the_api() -> None:
    # x * Clip(0.2 x + 0.5, 0, 1): a hard-sigmoid swish no rule knows
    m = parse(
        """
      k = Constant<value = float {0.2}>()
      b = Constant<value = float {0.5}>()
      lo = Constant<value = float {0.0}>()
      hi = Constant<value = float {1.0}>()
      t = Mul(a, k)
      u = Add(t, b)
      c = Clip(u, lo, hi)
      y = Mul(a, c)
    """
    )
    assert rewriter.find_sites(m, "pau_all") == []
    res = rewriter.rewrite_onnx(m, "pau_all,pau_learned")
    assert [(s.name, s.function, s.replaced) for s in res.sites] == [("learned_0", "learned", True)]
    assert res.sites[0].rational is not None
    close(m, res.model, 1e-2)  # piecewise linear: the (5,4) fit is ~4e-3 on [-8, 8]


def test_unselected_sites_are_reported_once_with_their_first_name() -> None:
    """The scan repeats after a replacement; sites left unselected must not be found anew."""
    m = parse("  t1 = Tanh(a)\n  t2 = Tanh(t1)\n  y = Tanh(t2)")
    res = rewriter.rewrite_onnx(m, "pau_tanh", select=lambda s: s.name == "tanh_1")
    assert [(s.name, s.replaced) for s in res.sites] == [
        ("tanh_0", False),
        ("tanh_1", True),
        ("tanh_2", False),
    ]
    assert [n.op_type for n in res.model.graph.node].count("Tanh") == 2
    close(m, res.model, 1e-4)


def test_canonicalize_renames_reads_inside_if_bodies() -> None:
    """An Identity whose output is read only inside an If body is bypassed there too."""
    then_body = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["t"], ["r"])],
        "then",
        [],
        [onnx.helper.make_tensor_value_info("r", onnx.TensorProto.FLOAT, [2, 8])],
    )
    else_body = onnx.helper.make_graph(
        [onnx.helper.make_node("Neg", ["t"], ["r2"])],
        "else",
        [],
        [onnx.helper.make_tensor_value_info("r2", onnx.TensorProto.FLOAT, [2, 8])],
    )
    g = onnx.helper.make_graph(
        [
            onnx.helper.make_node("Identity", ["a"], ["t"]),
            onnx.helper.make_node("If", ["c"], ["y"], then_branch=then_body, else_branch=else_body),
        ],
        "g",
        [
            onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [2, 8]),
            onnx.helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, []),
        ],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 8])],
    )
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)])
    m.ir_version = 8
    from rewriter.passes.canonicalize import canonicalize

    out = onnx.ModelProto()
    out.CopyFrom(m)
    assert canonicalize(out) == 1
    assert [n.op_type for n in out.graph.node] == ["If"]
    onnx.checker.check_model(out, full_check=True)
    x = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    for c in (True, False):
        feeds = {"a": x, "c": np.array(c)}
        np.testing.assert_array_equal(run_model(m, feeds)[0], run_model(out, feeds)[0])


WEIGHTS = f"""{HEADER}
g (float[2,8] a, float[8] v) => (float[2,8] y)
  <float[8] w = {{0.5, -1, 2, -3, 0.25, 1.5, -0.5, 3}}, float[8] v = {{1, 1, 1, 1, 1, 1, 1, 1}}> {{
  wr = Relu(w)
  s = Sigmoid(wr)
  k = Constant<value = float {{16.0}}>()
  bias = Mul(s, k)
  t = Constant<value = bool {{1}}>()
  inner = If(t) <then_branch = g1 () => (float[8] r1) {{ r1 = Tanh(wr) }},
                  else_branch = g2 () => (float[8] r2) {{ r2 = Tanh(v) }}>
  noise = RandomNormal<shape = [8], seed = 1.0>()
  n = Softsign(noise)
  e1 = Exp(wr)
  half = Constant<value = float {{0.5}}>()
  e2 = Mul(e1, half)
  e3 = Sin(e2)
  sa = Sigmoid(a)
  f1 = Exp(sa)
  f2 = Mul(f1, half)
  f3 = Sin(f2)
  b1 = Add(bias, inner)
  b2 = Add(b1, n)
  b3 = Add(b2, e3)
  y = Add(f3, b3)
}}
"""


def test_activations_of_weights_alone_are_no_sites(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """What is computed from initializers and Constants alone (Swin V2's ``16 * sigmoid(cpb_mlp(table))``)
    is folded by ONNX Runtime when the model loads: a rational there costs the same and only adds
    error, and the torch.fx path (and the dynamo exporter, which folds it) finds nothing there.
    An If body's read of an outer weight is a weight too; a random op's output, and an
    initializer that is also a graph input (a caller may feed it), are not."""
    m = onnx.parser.parse_model(WEIGHTS)
    sites = rewriter.find_sites(m, "pau_all,pau_learned")
    got = [(s.name, s.input, s.graph) for s in sites]
    assert got == [
        ("tanh_0", "v", "If/else_branch"),
        ("softsign_0", "noise", ""),
        ("sigmoid_0", "a", ""),
        ("learned_0", "sa", ""),
    ], got
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    from rewriter.cli import main

    assert main(["explain", str(path), "--rule", "sigmoid"]) == 0
    out = capsys.readouterr().out
    assert "x = 'wr' is computed from the model's weights alone" in out
    assert "x = 'a', 1 nodes" in out
