"""The fx front end matches with the shared rules and matcher, and its torch.export fallback."""

from __future__ import annotations

import io
import math
import os
import sys
import warnings

import numpy as np
import onnx.parser
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rewriter
from rewriter.frontends.fx import FxFallbackWarning, find_sites, rewrite_module
from rewriter.frontends.fx._adapter import lower_graph
from rewriter.functions import get_function
from rewriter.match.pattern import Param, Var, op
from rewriter.match.rules import Rule

sys.path.insert(0, os.path.dirname(__file__))

import onnx_models  # noqa: E402


def _exp_swish(params: dict[str, float]) -> tuple[str, dict[str, float]]:
    return "swish", {"beta": -params["nbeta"]}


_exp_swish.function_name = "swish"  # type: ignore[attr-defined]


@pytest.fixture
def exp_swish_rule():
    """A user rule for a spelling the library lacks: x / (1 + exp(-beta x)) is swish(beta)."""
    from rewriter.match.rules import _USER_RULES

    x = Var("x")
    r = rewriter.register_rule(
        Rule("test_exp_swish", x / (1 + op.Exp(x * Param("nbeta"))), _exp_swish, spelling="test")
    )
    yield r
    _USER_RULES.pop(r.name)


class ExpSwish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return h / (1 + torch.exp(-1.5 * h))


def test_a_registered_rule_applies_to_onnx_models_and_torch_modules(exp_swish_rule):
    model = onnx.parser.parse_model(
        """<ir_version: 8, opset_import: ["" : 17]>
        g (float[N, 6] a) => (float[N, 6] y) {
          c = Constant<value = float {-1.5}>()
          one = Constant<value = float {1.0}>()
          xb = Mul(a, c)
          e = Exp(xb)
          d = Add(one, e)
          y = Div(a, d)
        }"""
    )
    onnx_sites = rewriter.find_sites(model, "pau_all")
    assert [(s.name, s.rule, s.params) for s in onnx_sites] == [
        ("swish_0", "test_exp_swish", {"beta": pytest.approx(1.5)})
    ]

    torch.manual_seed(0)
    module, x = ExpSwish(), torch.linspace(-4, 4, 600).reshape(100, 6)
    gm, sites = rewrite_module(module, "pau_swish", example_inputs=(x,))
    assert [(s.name, s.rule, s.kind, s.params, s.replaced) for s in sites] == [
        ("swish_0", "test_exp_swish", "formula", {"beta": 1.5}, True)
    ]
    pau = gm.get_submodule(sites[0].module)
    assert isinstance(pau, rewriter.rational.PAU)
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "call_module", "call_module", "output"]
    with torch.no_grad():
        h = module.fc(x)
        got, want = gm(x), module(x)
    bound = pau.rational.global_error + 1e-5
    assert (got - want).abs().max().item() <= bound
    ref = get_function("swish", beta=1.5)(h.double().numpy())
    assert np.abs(got.double().numpy() - ref).max() <= bound
    # rewriter.rewrite on a module goes through the same front end
    assert isinstance(
        rewriter.rewrite(module, "pau_swish", example_inputs=(x,)), torch.fx.GraphModule
    )


def test_rules_argument_restricts_matching():
    m = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Tanh())
    tanh_only = [r for r in rewriter.match.rules.all_rules() if r.name == "tanh"]
    assert [s.name for s in find_sites(m, rules=tanh_only)] == ["tanh_0"]
    assert [s.rule for s in find_sites(m)] == ["gelu_native", "tanh"]


def test_lowering_is_one_onnx_node_per_op_and_opaque_otherwise():
    class M(nn.Module):
        def forward(self, x):
            return torch.nn.functional.silu(x).cumsum(0) * 2.0

    view = lower_graph(torch.fx.symbolic_trace(M()))
    got = [(n.op_type, n.domain, list(n.input)) for n in view.model.graph.node]
    assert got == [
        ("Sigmoid", "", ["x"]),
        ("Mul", "", ["x", "silu/0"]),
        ("call_method", "pau.fx", ["silu"]),
        ("Mul", "", ["cumsum", "mul/c0"]),
    ]
    assert [n.name for n in view.model.graph.node][1] == "silu"  # named after its fx node


def test_partial_cover_of_an_fx_node_is_not_a_site():
    # the inner Sigmoid of F.silu is matched only as part of the whole SiLU
    sigmoid_only = [r for r in rewriter.match.rules.all_rules() if r.name == "sigmoid"]
    m = nn.Sequential(nn.SiLU())
    assert find_sites(m, rules=sigmoid_only) == []


class SeqBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.GELU()

    def forward(self, x):
        if x.shape[1] > 1:  # symbolic_trace fails here: the rewrite goes through torch.export
            x = x * 0.5
        return torch.sigmoid(self.act(self.fc(x)))


def test_export_fallback_accepts_other_batch_and_sequence_sizes(monkeypatch):
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    torch.manual_seed(0)
    model = SeqBranch()
    with pytest.warns(FxFallbackWarning, match="dynamic"):
        gm, sites = rewrite_module(model, "pau_all", example_inputs=(torch.randn(2, 10, 8),))
    assert [(s.name, s.kind, s.input_shape, s.replaced) for s in sites] == [
        ("gelu_0", "aten", (2, 10, 8), True),
        ("sigmoid_0", "aten", (2, 10, 8), True),
    ]
    for shape in [(3, 7, 8), (1, 10, 8), (5, 2, 8)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            assert torch.allclose(gm(x), model(x), atol=2e-3)


def test_fallback_warning_is_shown_once_per_module_class(monkeypatch):
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            gm, _ = rewrite_module(SeqBranch(), "pau_gelu", example_inputs=(torch.randn(2, 4, 8),))
            assert gm.meta["pau_rewriter"]["tracer"] == "torch.export"  # said on every result
    assert [w.category for w in caught if issubclass(w.category, FxFallbackWarning)] == [
        FxFallbackWarning
    ]


@pytest.mark.parametrize("name", onnx_models.TORCH_NAMES)
def test_fx_and_onnx_paths_agree_on_every_torch_spelling(name):
    """The module and its TorchScript export have the same sites: same names, functions, params."""
    try:
        exported = onnx_models.torch_export(name, "torchscript", 17)
    except onnx_models.ExportUnavailable as exc:
        pytest.skip(str(exc))
    pipeline = "pau_all,pau_hardswish"
    want = [(s.name, s.function, s.params) for s in rewriter.find_sites(exported, pipeline)]
    got = [(s.name, s.function, s.params) for s in find_sites(onnx_models.torch_module(name))]
    assert [(n, f) for n, f, _ in got] == [(n, f) for n, f, _ in want]
    for (_, _, p), (_, _, q) in zip(got, want, strict=True):
        assert p == pytest.approx(q, rel=1e-6)


def test_an_activation_of_weights_alone_is_no_site_on_either_path():
    """Swin V2's continuous position bias, ``16 * sigmoid(mlp(table))``, reads only weights: the
    exporters keep it as nodes (both do in Swin V2; the dynamo one folds this small module's),
    ONNX Runtime folds it when the model loads, and the fx path leaves it. The ONNX path found it
    as ``sigmoid_0`` and replaced it, adding error for no speed: both now find the GELU alone."""

    class PositionBias(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("table", torch.linspace(-1, 1, 32).reshape(16, 2))
            self.mlp = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1, bias=False))
            self.fc = nn.Linear(16, 16)
            self.act = nn.GELU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bias = 16 * torch.sigmoid(self.mlp(self.table)).reshape(16)
            return self.act(self.fc(x)) + bias

    torch.manual_seed(0)
    module = PositionBias().eval()
    x = torch.randn(2, 16)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=17, input_names=["x"])
    exported = onnx.load_from_string(buf.getvalue())
    assert "Sigmoid" in [n.op_type for n in exported.graph.node]  # kept as nodes
    assert [s.name for s in rewriter.find_sites(exported)] == ["gelu_0"]
    assert [s.name for s in find_sites(module)] == ["gelu_0"]
    res = rewriter.rewrite_onnx(exported, "pau_all")
    assert [n.op_type for n in res.model.graph.node].count("Sigmoid") == 1  # left as it was


def test_export_fallback_from_a_batch_of_one_accepts_larger_batches(monkeypatch):
    """torch.export pins a dim whose example size is 1 even under Dim.AUTO; users pass batch-1
    examples, so the leading dim is widened to 2 for the export (it failed: Guard failed:
    x.size()[0] == 1)."""
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    torch.manual_seed(0)
    model = SeqBranch()
    with pytest.warns(FxFallbackWarning, match="dynamic"):
        gm, _ = rewrite_module(model, "pau_all", example_inputs=(torch.randn(1, 10, 8),))
    for shape in [(1, 10, 8), (4, 10, 8), (3, 5, 8)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            assert torch.allclose(gm(x), model(x), atol=2e-3)


class TwoFrames(nn.Module):
    """RAFT's encoder call: both frames in one batch, split in halves after."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, a, b):
        if a.shape[2] > 1:  # symbolic_trace fails here
            a = a * 0.5
        f1, f2 = torch.chunk(self.conv(torch.cat([a, b], 0)), 2, dim=0)
        return torch.tanh(f1 * f2)


def test_export_on_the_widened_batch_must_take_the_callers_own(monkeypatch):
    """Exported on the batch widened to 2, the program guards ``2b - (2b + 1) // 2 != 1`` (the
    second half is not of size 1), which the caller's batch of 1 fails: torchvision's RAFT came
    back from rewrite_module unable to run on its own example. The export on the example itself
    is taken instead."""
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    torch.manual_seed(0)
    model = TwoFrames().eval()
    a, b = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    with pytest.warns(FxFallbackWarning, match="torch.export"):
        gm, sites = rewrite_module(model, "pau_all", example_inputs=(a, b))
    assert [(s.name, s.input_shape, s.replaced) for s in sites] == [("tanh_0", (1, 4, 8, 8), True)]
    with torch.no_grad():
        assert torch.allclose(gm(a, b), model(a, b), atol=2e-3)


class ImageBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        if x.shape[2] > 1:  # symbolic_trace fails here
            x = x * 0.5
        return F.silu(self.conv(x))


def test_export_fallback_keeps_an_images_batch_dynamic_and_its_size_static(monkeypatch):
    """An image's height and width are the example's (export's symbolic reasoning over them
    took 60-330 s on timm's MobileViTs), its batch stays dynamic, and the warning says so."""
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    torch.manual_seed(0)
    model = ImageBranch().eval()
    with pytest.warns(FxFallbackWarning, match="an image's height and width are the example's"):
        gm, sites = rewrite_module(model, "pau_all", example_inputs=(torch.randn(1, 3, 16, 16),))
    assert [(s.name, s.input_shape, s.replaced) for s in sites] == [
        ("silu_0", (1, 4, 16, 16), True)
    ]
    for batch in (1, 3):
        x = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            assert torch.allclose(gm(x), model(x), atol=3e-3)
    with pytest.raises(Exception, match="Guard failed|size"):
        gm(torch.randn(1, 3, 24, 16))


def test_dynamic_shapes_keep_an_images_size_free_and_are_not_given_up(monkeypatch):
    """``dynamic_shapes`` (torch.export's spelling) replaces the derived spec: the rewritten
    module takes other heights and widths; the warning of the default names it, and a spec
    export refuses raises export's reason instead of a static export."""
    from torch.export import Dim

    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    torch.manual_seed(0)
    model = ImageBranch().eval()
    x = torch.randn(1, 3, 16, 16)
    with pytest.warns(FxFallbackWarning, match=r"pass dynamic_shapes=\(\{0: Dim.AUTO, 2"):
        rewrite_module(model, "pau_all", example_inputs=(x,))
    spec = ({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO},)
    gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,), dynamic_shapes=spec)
    assert [s.replaced for s in sites] == [True]
    for shape in ((1, 3, 16, 16), (2, 3, 24, 40), (1, 3, 7, 9)):
        y = torch.randn(*shape)
        with torch.no_grad():
            assert torch.allclose(gm(y), model(y), atol=3e-3), shape
    # a spec the module cannot keep (the channels must be 3): no static export in its place;
    # the module is rewritten by parts, and the warning gives export's reason
    with pytest.warns(FxFallbackWarning, match=r"torch.export.export: UserError: Constraints"):
        _, sites = rewrite_module(
            model, "pau_all", example_inputs=(x,), dynamic_shapes=({1: Dim("c")},)
        )
    assert sites == []  # its SiLU is in the forward by-parts keeps as Python


class WrittenOut(nn.Module):
    """SiLU and sigmoid as people write them by hand (and as jax2tf lowers them)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        h = h / (1 + torch.exp(-h))
        return 1 / (1 + torch.exp(-self.b(h)))


def test_written_out_silu_and_sigmoid_are_sites():
    torch.manual_seed(0)
    module, x = WrittenOut().eval(), torch.linspace(-4, 4, 600).reshape(100, 6)
    assert [(s.name, s.rule) for s in find_sites(module, (x,))] == [
        ("silu_0", "silu_exp_div"),
        ("sigmoid_0", "sigmoid_exp"),
    ]
    gm, sites = rewrite_module(module, "pau_all", example_inputs=(x,))
    assert [s.replaced for s in sites] == [True, True]
    with torch.no_grad():
        assert (gm(x) - module(x)).abs().max().item() < 1e-3


class WrittenWithSelects(torch.nn.Module):
    """Activations as research code writes them: torch.where, expm1, erfc, the overflow-free
    softplus, Mish over it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.ModuleList([torch.nn.Linear(6, 6) for _ in range(5)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, c, d, e = (lin(x) for lin in self.lin)
        a = torch.where(a > 0, a, torch.expm1(a))
        b = torch.where(b > 0, b, 1.5 * (torch.exp(b) - 1))
        c = torch.relu(c) + torch.log1p(torch.exp(-c.abs()))
        d = d * torch.tanh(torch.relu(d) + torch.log1p(torch.exp(-torch.abs(d))))
        e = 0.5 * e * torch.erfc(-e / math.sqrt(2))
        return a + b + c + d + e


def test_where_expm1_and_erfc_spellings_are_sites():
    """torch.where, the comparisons, expm1, erfc, maximum/minimum are lowered as the dynamo
    exporter writes them (no site was found in this module before: they were opaque)."""
    torch.manual_seed(0)
    module, x = WrittenWithSelects().eval(), torch.linspace(-6, 6, 600).reshape(100, 6)
    found = [(s.function, s.rule, s.params.get("alpha")) for s in find_sites(module, (x,))]
    assert found == [
        ("elu", "elu_select_1", 1.0), ("elu", "elu_select", 1.5),
        ("softplus", "softplus_stable", None), ("mish", "mish_stable", None),
        ("gelu", "gelu_erfc", None),
    ], found  # fmt: skip
    gm, sites = rewrite_module(module, "pau_all", example_inputs=(x,))
    assert all(s.replaced for s in sites)
    with torch.no_grad():
        assert (gm(x) - module(x)).abs().max().item() < 5e-3


class SpelledByHand(nn.Module):
    """SiLU as x * 0.5 * (1 + tanh(x/2)), then tanh as 2 * sigmoid(2x) - 1: no rule spells
    either whole (their Tanh and Sigmoid were the sites); both are found by their values."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        h = h * 0.5 * (1 + torch.tanh(h / 2))
        return self.b(2 * torch.sigmoid(2 * h) - 1)


def test_functions_found_by_their_values_are_the_exports_sites(tmp_path):
    torch.manual_seed(0)
    module, x = SpelledByHand().eval(), torch.randn(3, 8)
    want = [("silu_0", "silu", "identified"), ("tanh_0", "tanh", "identified")]
    assert [(s.name, s.function, s.rule) for s in find_sites(module, (x,))] == want
    path = tmp_path / "m.onnx"
    torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17)
    assert [(s.name, s.function, s.rule) for s in rewriter.find_sites(str(path))] == want
    gm, sites = rewrite_module(module, "pau_all", example_inputs=(x,))
    assert all(s.replaced for s in sites)
    with torch.no_grad():
        assert (gm(x) - module(x)).abs().max().item() < 1e-3


class UnhalvedGelu(nn.Module):
    """GELU without its 0.5 (folded into the next layer by hand): 2 GELU(x)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        return self.b(h * (1 + torch.erf(h / math.sqrt(2))))


def test_a_multiple_of_a_function_is_a_site_of_the_export_only(tmp_path):
    """The ONNX path finds 2 GELU(x) by its values (a GELU site, scale 2); the torch.fx front
    end's replacements compute the function itself, so there it stays as written."""
    torch.manual_seed(0)
    module, x = UnhalvedGelu().eval(), torch.randn(3, 8)
    path = tmp_path / "m.onnx"
    torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17)
    assert [(s.function, s.scale) for s in rewriter.find_sites(str(path))] == [("gelu", 2.0)]
    assert find_sites(module, (x,)) == []
    gm, sites = rewrite_module(module, "pau_all", example_inputs=(x,))
    assert sites == []
    with torch.no_grad():
        assert torch.equal(gm(x), module(x))


class GatedDecay(nn.Module):
    """RecurrentGemma's gate: ``softplus`` of a parameter (a decay rate kept positive), then
    the activations of the input."""

    def __init__(self) -> None:
        super().__init__()
        self.rate = nn.Parameter(torch.randn(8))
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        decay = torch.exp(-8.0 * torch.sigmoid(self.fc(x)) * F.softplus(self.rate))
        return F.silu(x) * decay


def test_an_activation_of_a_parameter_is_no_site(tmp_path):
    """``softplus(self.rate)`` computes on a weight: the exporters fold it into a constant, so
    the export has two sites (sigmoid, silu), and the module had three (a softplus site too,
    replaced by ``rewrite_module`` with its error added to the weight)."""
    torch.manual_seed(0)
    module, x = GatedDecay().eval(), torch.randn(3, 8)
    want = [("sigmoid_0", "sigmoid"), ("silu_0", "silu")]
    assert [(s.name, s.function) for s in find_sites(module, (x,))] == want
    path = tmp_path / "m.onnx"
    torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17)
    assert [(s.name, s.function) for s in rewriter.find_sites(str(path))] == want
