"""The fx front end: every spelling of every activation is found, named, replaced, computes it."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rewriter.frontends.fx import (
    FxSite,
    FxTraceError,
    find_sites,
    parse_pipeline,
    replace_with_standard,
    rewrite_module,
)
from rewriter.functions import SMOOTH, get_function

SQ2PI = math.sqrt(2 / math.pi)


class Fn(nn.Module):
    """Wraps a function of one tensor, so each spelling is a module to trace."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


# (id, module, function, params, kind)
MODULES = [
    ("gelu", nn.GELU(), "gelu", {}),
    ("gelu_tanh", nn.GELU(approximate="tanh"), "gelu_tanh", {}),
    ("silu", nn.SiLU(), "silu", {}),
    ("mish", nn.Mish(), "mish", {}),
    ("hardswish", nn.Hardswish(), "hardswish", {}),
    # the ONNX path's hardsigmoid rule reads alpha and beta: the fx path reports them alike
    ("hardsigmoid", nn.Hardsigmoid(), "hardsigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    ("tanh", nn.Tanh(), "tanh", {}),
    ("sigmoid", nn.Sigmoid(), "sigmoid", {}),
    ("elu", nn.ELU(alpha=0.5), "elu", {"alpha": 0.5}),
    ("selu", nn.SELU(), "selu", {}),
    ("celu", nn.CELU(alpha=0.7), "celu", {"alpha": 0.7}),
    ("softplus", nn.Softplus(beta=2.0), "softplus", {"beta": 2.0}),
    ("softsign", nn.Softsign(), "softsign", {}),
    ("leaky_relu", nn.LeakyReLU(0.2), "leaky_relu", {"alpha": 0.2}),
    ("relu", nn.ReLU(), "relu", {}),
    ("relu6", nn.ReLU6(), "relu6", {}),
    ("hardtanh06", nn.Hardtanh(0.0, 6.0), "relu6", {}),
]

FUNCTIONALS = [
    ("F.gelu", lambda x: F.gelu(x), "gelu", {}, "function"),
    ("F.gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), "gelu_tanh", {}, "function"),
    ("F.silu", F.silu, "silu", {}, "function"),
    ("F.mish", F.mish, "mish", {}, "function"),
    ("F.hardswish", F.hardswish, "hardswish", {}, "function"),
    ("torch.sigmoid", torch.sigmoid, "sigmoid", {}, "function"),
    ("expit", torch.special.expit, "sigmoid", {}, "function"),
    ("torch.tanh", torch.tanh, "tanh", {}, "function"),
    ("F.tanh", F.tanh, "tanh", {}, "method"),
    ("F.sigmoid", F.sigmoid, "sigmoid", {}, "method"),
    ("F.softplus", lambda x: F.softplus(x, beta=2.0), "softplus", {"beta": 2.0}, "function"),
    ("F.elu", lambda x: F.elu(x, alpha=0.5), "elu", {"alpha": 0.5}, "function"),
    ("F.selu", F.selu, "selu", {}, "function"),
    ("torch.selu", torch.selu, "selu", {}, "function"),
    ("F.celu", lambda x: F.celu(x, alpha=0.7), "celu", {"alpha": 0.7}, "function"),
    ("F.softsign", F.softsign, "softsign", {}, "function"),
    ("F.leaky_relu", lambda x: F.leaky_relu(x, 0.2), "leaky_relu", {"alpha": 0.2}, "function"),
    ("F.relu", F.relu, "relu", {}, "function"),
    ("torch.relu", torch.relu, "relu", {}, "function"),
    ("F.relu6", F.relu6, "relu6", {}, "function"),
    ("F.hardtanh06", lambda x: F.hardtanh(x, 0.0, 6.0), "relu6", {}, "function"),
    ("torch.clamp06", lambda x: torch.clamp(x, 0, 6), "relu6", {}, "function"),
    ("x.sigmoid", lambda x: x.sigmoid(), "sigmoid", {}, "method"),
    ("x.tanh", lambda x: x.tanh(), "tanh", {}, "method"),
    ("x.relu", lambda x: x.relu(), "relu", {}, "method"),
    ("x.clamp06", lambda x: x.clamp(min=0, max=6), "relu6", {}, "method"),
]

FORMULAS = [
    ("x*sigmoid(x)", lambda x: x * torch.sigmoid(x), "silu", {}),
    ("sigmoid(x)*x", lambda x: torch.sigmoid(x) * x, "silu", {}),
    ("x*x.sigmoid()", lambda x: x * x.sigmoid(), "silu", {}),
    ("swish", lambda x: x * torch.sigmoid(1.5 * x), "swish", {"beta": 1.5}),
    (
        "gpt2 pow",
        lambda x: 0.5 * x * (1 + torch.tanh(SQ2PI * (x + 0.044715 * torch.pow(x, 3)))),
        "gelu_tanh",
        {},
    ),
    (
        "gpt2 x*x*x",
        lambda x: 0.5 * x * (1.0 + torch.tanh(SQ2PI * (x + 0.044715 * x * x * x))),
        "gelu_tanh",
        {},
    ),
    (
        "gpt2 **3.0",
        lambda x: x * 0.5 * (torch.tanh(SQ2PI * (x + 0.044715 * x**3.0)) + 1),
        "gelu_tanh",
        {},
    ),
    (
        "gpt2 factored",
        lambda x: 0.5 * x * (1 + torch.tanh(0.7978845608 * x * (1 + 0.044715 * x * x))),
        "gelu_tanh",
        {},
    ),
    ("erf gelu", lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), "gelu", {}),
    (
        "erf gelu ts order",
        lambda x: x * (torch.erf(x / 1.4142135623730951) + 1.0) * 0.5,
        "gelu",
        {},
    ),
    ("erf gelu mul", lambda x: x * (0.5 * (1.0 + torch.erf(x * 0.7071067811865476))), "gelu", {}),
    ("hardswish relu6", lambda x: x * F.relu6(x + 3) / 6, "hardswish", {}),
    ("hardswish clamp", lambda x: x * torch.clamp(x + 3, 0, 6) / 6, "hardswish", {}),
    ("hardswish hsig", lambda x: x * F.hardsigmoid(x), "hardswish", {}),
    ("mish", lambda x: x * torch.tanh(F.softplus(x)), "mish", {}),
    ("softsign", lambda x: x / (1 + x.abs()), "softsign", {}),
]

X = torch.linspace(-4.0, 4.0, 801).reshape(1, 801)


def _tolerance(function: str) -> float:
    # (5,4) rationals of smooth functions are within ~1e-3 on [-4, 4]; kinks are harder.
    return 2e-3 if function in SMOOTH else 0.05


def _check_one(module: nn.Module, function: str, params: dict, kind: str) -> None:
    gm, sites = rewrite_module(module, f"pau_{function}", example_inputs=(X,))
    assert [(s.name, s.function, s.kind, s.replaced) for s in sites] == [
        (f"{function}_0", function, kind, True)
    ]
    assert sites[0].params == pytest.approx(params)
    assert sites[0].input_shape == tuple(X.shape)
    assert sites[0].module == f"pau_{function}_0"
    # the whole activation is gone: placeholder -> pau -> output
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "call_module", "output"]
    with torch.no_grad():
        got = gm(X).double().numpy()
    want = get_function(function, **params)(X.double().numpy())
    assert abs(got - want).max() < _tolerance(function)


@pytest.mark.parametrize(
    "module,function,params", [m[1:] for m in MODULES], ids=[m[0] for m in MODULES]
)
def test_module_spellings(module, function, params):
    _check_one(nn.Sequential(module), function, params, "module")


@pytest.mark.parametrize(
    "f,function,params,kind", [m[1:] for m in FUNCTIONALS], ids=[m[0] for m in FUNCTIONALS]
)
def test_functional_and_method_spellings(f, function, params, kind):
    _check_one(Fn(f), function, params, kind)


@pytest.mark.parametrize(
    "f,function,params", [m[1:] for m in FORMULAS], ids=[m[0] for m in FORMULAS]
)
def test_formula_spellings(f, function, params):
    _check_one(Fn(f), function, params, "formula")


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 6)
        self.act = nn.GELU()

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = self.fc2(x)
        x = x * torch.sigmoid(x)
        return self.act(self.fc3(x)) + F.relu(x)  # the same GELU module called twice


def test_site_names_count_per_function_in_graph_order():
    x = torch.randn(3, 6)
    gm, sites = rewrite_module(Mixed(), "pau_all", example_inputs=(x,))
    assert [(s.name, s.replaced) for s in sites] == [
        ("gelu_0", True),
        ("silu_0", True),
        ("gelu_1", True),
        ("relu_0", False),
    ]
    assert sites[-1].reason and "relu" in sites[-1].reason
    assert {"pau_gelu_0", "pau_gelu_1", "pau_silu_0"} <= {n for n, _ in gm.named_children()}
    # names do not depend on the pipeline
    gm2, sites2 = rewrite_module(Mixed(), "pau_silu, pau_relu")
    assert [s.name for s in sites2] == [s.name for s in sites]
    assert [s.name for s in sites2 if s.replaced] == ["silu_0", "relu_0"]
    assert [s.name for s in find_sites(Mixed())] == [s.name for s in sites]


def test_original_module_untouched_and_outputs_agree():
    torch.manual_seed(0)
    model, x = Mixed(), torch.randn(5, 6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    want = model(x)
    gm, _ = rewrite_module(model, "pau_all", example_inputs=(x,))
    assert isinstance(model.act, nn.GELU)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not set(map(id, gm.parameters())) & set(map(id, model.parameters()))
    assert torch.allclose(gm(x), want, atol=2e-3)


def test_formula_with_intermediate_used_elsewhere_is_not_matched():
    def silu_shared(x):
        s = torch.sigmoid(x)
        return x * s + s  # s feeds the add too: x*s is not a silu site

    def gelu_shared(x):
        gate = 1 + torch.erf(x / math.sqrt(2))
        return 0.5 * x * gate - gate

    _, sites = rewrite_module(Fn(silu_shared), "pau_all")
    assert [(s.name, s.kind) for s in sites] == [("sigmoid_0", "function")]
    _, sites = rewrite_module(Fn(gelu_shared), "pau_all")
    assert sites == []


def test_formula_with_shared_input_product():
    def f(x):
        y = x * 2.0  # a product used twice is the input, not part of the formula
        return y * torch.sigmoid(y)

    gm, sites = rewrite_module(Fn(f), "pau_silu")
    assert [(s.function, s.kind) for s in sites] == [("silu", "formula")]
    x = torch.randn(10)
    assert torch.allclose(gm(x), F.silu(2 * x), atol=2e-3)


def test_inplace_activation_later_uses_see_the_new_value():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            x = x * 1.0
            y = self.act(x)
            return x + y  # x was overwritten by the in-place ReLU

    gm, sites = rewrite_module(M(), "pau_relu")
    assert sites[0].replaced
    x = torch.linspace(-3, 3, 50)
    assert torch.allclose(gm(x), 2 * torch.relu(x), atol=0.3)


def test_gradients_reach_the_rational_coefficients():
    from rewriter.rational import PAU

    torch.manual_seed(0)
    gm, _ = rewrite_module(Mixed(), "pau_all")
    paus = [m for m in gm.modules() if isinstance(m, PAU)]
    assert len(paus) == 3
    gm(torch.randn(4, 6)).square().sum().backward()
    for pau in paus:
        grads = [p.grad for p in pau.parameters()]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_export_fallback_aten_sites(monkeypatch):
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())  # the warning is shown once per class

    class Shapey(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.act = nn.GELU(approximate="tanh")
            self.elu = nn.ELU(alpha=0.3)

        def forward(self, x):
            if x.shape[0] > 1:  # Python control flow: symbolic_trace cannot, export can
                x = x * 2
            x = self.act(self.fc(x))
            x = x * torch.sigmoid(x)
            return F.softsign(self.elu(x)) + F.mish(x) + F.leaky_relu(x, 0.1)

    x = torch.randn(3, 6)
    model = Shapey()
    with pytest.warns(UserWarning, match="torch.export"):
        gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
    assert {s.tracer for s in sites} == {"torch.export"}
    assert gm.meta["pau_rewriter"]["tracer"] == "torch.export"
    got = [(s.name, s.kind, s.params, s.replaced) for s in sites]
    assert got == [
        ("gelu_tanh_0", "aten", {}, True),
        ("silu_0", "formula", {}, True),
        ("elu_0", "aten", {"alpha": 0.3}, True),
        ("softsign_0", "formula", {}, True),  # export decomposes softsign into x/(1+|x|)
        ("mish_0", "aten", {}, True),
        ("leaky_relu_0", "aten", {"alpha": 0.1}, False),
    ]
    assert all(s.input_shape == (3, 6) for s in sites)
    assert torch.allclose(gm(x), model(x), atol=3e-3)


class _Encoder(nn.Module):
    """Token ids and a padding mask into ``nn.TransformerEncoderLayer``, a SiLU head."""

    def __init__(self, activation):
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, activation=activation, batch_first=True)
        self.head = nn.Sequential(nn.Linear(32, 8), nn.SiLU())

    def forward(self, ids, pad):
        return self.head(self.layer(self.emb(ids), src_key_padding_mask=pad))


@pytest.mark.parametrize("activation", ["gelu", nn.GELU()], ids=["function", "module"])
def test_activations_inside_torch_nn_transformer_layers_are_sites(monkeypatch, activation):
    """symbolic_trace keeps every torch.nn module whole, so the GELU inside an
    ``nn.TransformerEncoderLayer`` was never seen: only the head's SiLU was a site, and a model
    of such layers came back unchanged without a word. The layer is traced into now (its
    forward branches on the mask, so torch.export takes it), and without example inputs to
    export with, a warning names the layer whose activations are not seen."""
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())
    torch.manual_seed(0)
    model = _Encoder(activation).eval()
    ids, pad = torch.randint(0, 100, (2, 12)), torch.zeros(2, 12, dtype=torch.bool)
    pad[1, 9:] = True
    with pytest.warns(UserWarning, match="inside TransformerEncoderLayer 'layer'"):
        gm, sites = rewrite_module(model, example_inputs=(ids, pad))
    assert [(s.name, s.replaced) for s in sites] == [("gelu_0", True), ("silu_0", True)]
    with torch.no_grad():
        want, got = model(ids, pad), gm(ids, pad)
    assert ((got - want).norm() / want.norm()).item() < 1e-2
    assert not torch.equal(got, want)  # the GELU was replaced, not skipped
    with pytest.warns(
        UserWarning, match="activations inside TransformerEncoderLayer 'layer' are not seen"
    ):
        gm, sites = rewrite_module(model)
    assert [s.name for s in sites] == ["silu_0"]


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # neither tracer can handle control flow on tensor values
            return torch.tanh(x)
        return x


def test_untraceable_module_gets_one_clear_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FxTraceError) as info:
            rewrite_module(DataDependent(), example_inputs=(torch.randn(3),))
    assert isinstance(info.value, ValueError)
    msg = str(info.value)
    assert "DataDependent" in msg and "symbolic_trace" in msg and "torch.export" in msg
    assert [name for name, _ in info.value.attempts] == [
        "torch.fx.symbolic_trace",
        "torch.export.export",
    ]
    with pytest.raises(FxTraceError, match="needs example_inputs"):
        rewrite_module(DataDependent())


class _Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x):
        return F.gelu(self.act(self.conv(x)))  # a module and a function: both seen


class _Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.out_channels = 4  # read by the detector's forward: a traced graph lacks it
        self.conv = nn.Conv2d(8, 4, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return self.gate(self.conv(x))


class _Detector(nn.Module):
    """A detector's shape: traceable backbone and head, with data-dependent post-processing
    (scores over a threshold, their count from the data) that neither tracer takes."""

    def __init__(self):
        super().__init__()
        self.backbone = _Backbone()
        self.head = _Head()
        self.post = nn.Tanh()  # a module the untraceable forward calls: traced alone

    def forward(self, x):
        scores = self.head(self.backbone(x)).flatten(1)
        keep = scores[0] > 0.5
        n = int(keep.sum())  # data-dependent
        boxes = self.post(scores[0, keep][:n]).reshape(-1, 1)
        return boxes.repeat(1, self.head.out_channels), torch.tanh(scores)  # tanh: not seen


def test_an_untraceable_detector_is_rewritten_by_parts():
    """Neither tracer takes the detector as a whole: its traceable submodules are rewritten
    (the backbone's SiLU and GELU, the tanh module), sites named by path; the head, whose
    replacement broke the forward (it reads ``head.out_channels``), is searched inside
    instead, so its Sigmoid module is replaced alone; the function tanh of the untraceable
    forward is not seen. The caller's module is untouched and the outputs stay close."""
    torch.manual_seed(0)
    model = _Detector().eval()
    x = torch.randn(1, 3, 16, 16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    by_parts = r"_Detector does not trace as a whole .*by parts: backbone, head.conv, head.gate, post traced, head not$"  # fmt: skip
    with pytest.warns(UserWarning, match=by_parts):
        out, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
    assert [(s.name, s.replaced, s.module) for s in sites] == [
        ("backbone.silu_0", True, "backbone.pau_silu_0"),
        ("backbone.gelu_0", True, "backbone.pau_gelu_0"),
        ("head.gate.sigmoid_0", True, "head.gate.pau_sigmoid_0"),
        ("post.tanh_0", True, "post.pau_tanh_0"),
    ]
    assert type(out) is _Detector and out is not model
    assert isinstance(out.backbone, torch.fx.GraphModule)
    assert isinstance(out.head.conv, torch.fx.GraphModule)  # traced, nothing to replace
    assert type(out.head) is _Head and out.head.out_channels == 4
    for s in sites:
        assert out.get_submodule(s.module).__class__.__name__ == "PAU"
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert all(s.input_shape is not None for s in sites)
    with torch.no_grad():
        want, got = model(x), out(x)
    for w, g in zip(want, got, strict=True):
        assert w.shape == g.shape
        assert float((g - w).norm() / w.norm()) < 5e-3
    with pytest.warns(UserWarning, match="by parts"):
        assert [s.name for s in find_sites(model, (x,))] == [s.name for s in sites]
    from rewriter.frontends.fx import plan_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = plan_module(model, (x,), time_cap=0.05)
    assert [d.name for d in plan.decisions] == [s.name for s in sites]
    assert type(plan.module) is _Detector


def test_a_submodule_two_parents_share_keeps_its_parameters_shared_by_parts():
    """A block two untraceable parents hold (weight tying, a shared stem) is traced under each:
    each parent gets its own rationals, and the block's weights stay one Parameter, so
    fine-tuning the result updates both uses as it did in the original."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.act = nn.SiLU()

        def forward(self, x):
            return self.act(self.conv(x))

    class Parent(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            if x.sum() > 1e9:  # neither tracer takes it
                return x
            return self.block(x)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            block = Block()
            self.a, self.b = Parent(block), Parent(block)

        def forward(self, x):
            return self.b(self.a(x))

    torch.manual_seed(0)
    model, x = Twice().eval(), torch.randn(1, 4, 8, 8)
    with pytest.warns(UserWarning, match="by parts: a.block, b.block traced, a, b not$"):
        out, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
    assert [s.name for s in sites] == ["a.block.silu_0", "b.block.silu_0"]
    assert out.a.block.conv.weight is out.b.block.conv.weight
    assert out.a.block.conv.weight is not model.a.block.conv.weight  # a copy, still tied
    assert out.a.block.pau_silu_0 is not out.b.block.pau_silu_0
    n_shared = sum(p.numel() for p in out.parameters())  # each Parameter once
    conv = sum(p.numel() for p in model.parameters())
    paus = sum(p.numel() for n, p in out.named_parameters() if "pau_" in n)
    assert n_shared == conv + paus
    with torch.no_grad():
        assert float((out(x) - model(x)).norm() / model(x).norm()) < 1e-3


def test_blocks_in_a_module_list_are_rewritten_by_parts():
    """EnCodec's encoder loops over a ModuleList whose convolutions pad by a data-dependent
    amount (neither tracer takes them) between its ELU modules. The list is never called
    itself: its blocks are searched all the same (it was skipped, and transformers' EnCodec
    got "cannot trace" with its ELUs unseen)."""

    class Pad(nn.Module):
        def forward(self, x):
            n = int((x > 100).sum())  # data-dependent: neither tracer takes it
            return F.pad(x, (n, n))

    class Coder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Conv1d(2, 4, 3), nn.ELU(), Pad(), nn.Conv1d(4, 2, 3), nn.ELU()])  # fmt: skip

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    torch.manual_seed(0)
    model, x = Coder().eval(), torch.randn(2, 2, 32)
    with pytest.warns(UserWarning, match=r"by parts: layers.0, layers.1, layers.3, layers.4 traced, layers.2 not$"):  # fmt: skip
        out, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
    assert [(s.name, s.replaced) for s in sites] == [("layers.1.elu_0", True), ("layers.4.elu_0", True)]  # fmt: skip
    with torch.no_grad():
        assert float((out(x) - model(x)).norm() / model(x).norm()) < 1e-3


def test_a_module_no_part_of_which_traces_keeps_the_trace_error():
    """By parts needs a part that traces and a module that runs on its example; otherwise
    the error is the whole module's, as before."""

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = DataDependent()

        def forward(self, x):
            return self.inner(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FxTraceError, match="cannot trace Wrapper"):
            rewrite_module(Wrapper(), example_inputs=(torch.randn(3),))
        with pytest.raises(FxTraceError, match="cannot trace _Detector"):
            rewrite_module(_Detector(), example_inputs=(torch.randn(1, 5, 16, 16),))


def test_a_part_that_fails_in_its_parent_prints_nothing(capsys):
    """A part traced on its first call (with a mask) that its parent calls again with None
    fails inside its generated code; torch.fx printed that code and a "<--- HERE" marker on
    stderr, which read as this tool's traceback (Kimi-K2.5's vision tower), though the part
    is only left untraced and the rewrite goes on."""

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.act = nn.GELU()

        def forward(self, x, m):
            h = self.act(self.fc(x))
            return h * m.to(h.dtype) if m is not None else h

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Masked()

        def forward(self, x, mask):
            if x.sum() > 0:  # data-dependent: the whole does not trace
                x = x + 1
            return self.block(x, mask) + self.block(x, None)

    torch.manual_seed(0)
    model, x, mask = Parent().eval(), torch.randn(2, 8), torch.ones(2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, sites = rewrite_module(model, example_inputs=(x, mask))
    err = capsys.readouterr().err
    assert "<--- HERE" not in err and "Traceback" not in err, err
    assert [(s.name, s.replaced) for s in sites] == [("block.act.gelu_0", True)]
    with torch.no_grad():
        torch.testing.assert_close(out(x, mask), model(x, mask), atol=1e-2, rtol=1e-2)


def test_pipelines():
    assert parse_pipeline("pau_all") == set(SMOOTH)
    assert parse_pipeline("pau_gelu,pau_silu") == {"gelu", "silu"}
    assert parse_pipeline("pau_hardswish") == {"hardswish"}
    with pytest.raises(ValueError, match="unknown pipeline 'pau_nonsense'"):
        parse_pipeline("pau_nonsense")
    with pytest.raises(ValueError, match="ONNX models only"):
        parse_pipeline("pau_learned")


def test_replace_with_standard():
    model = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4), nn.Mish(), nn.Tanh())
    gm, sites = replace_with_standard(model, example_inputs=(torch.randn(2, 4),))
    assert [(s.name, s.replaced, s.module) for s in sites] == [
        ("gelu_0", True, "std_gelu_0"),
        ("mish_0", True, "std_mish_0"),
        ("tanh_0", False, None),
    ]
    assert isinstance(gm.get_submodule("std_gelu_0"), nn.ReLU)
    assert isinstance(gm.get_submodule("std_mish_0"), nn.Hardswish)
    gm, _ = replace_with_standard(model, {"tanh": nn.Hardtanh})
    assert isinstance(gm.get_submodule("std_tanh_0"), nn.Hardtanh)


def test_graph_module_input_and_site_dataclass():
    gm0 = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(3, 3), nn.SiLU()))
    gm, sites = rewrite_module(gm0, "pau_silu")
    assert isinstance(sites[0], FxSite) and sites[0].tracer == "graph_module"
    assert any(n.op == "call_module" and n.target == "1" for n in gm0.graph.nodes)  # untouched


class _ExportsOtherwise(nn.Module):
    """A module whose torch.export graph is not what it computes: it branches on
    ``torch.compiler.is_exporting()`` (transformers builds AIMv2's text attention mask otherwise
    under export: its graph was 0.44 away), and on ``x.dim()``, which symbolic_trace refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # control flow on a proxy: symbolic_trace fails, export is tried
            x = x.flatten(1)
        if torch.compiler.is_exporting():
            x = x * 2.0
        return self.block(x)


def test_an_export_that_computes_something_else_is_not_rewritten_whole() -> None:
    """The rewrite followed torch.export's graph, and the rewritten module was as far from the
    module as that graph (AIMv2: rel-L2 0.42), without a word. The graph is checked against the
    module on the example inputs; one that differs is refused, with why, and the module is
    rewritten by parts, which match it."""
    torch.manual_seed(0)
    module = _ExportsOtherwise().eval()
    x = torch.randn(4, 8)
    with pytest.warns(UserWarning, match="computes something else than the module") as said:
        gm, sites = rewrite_module(module, "pau_all", example_inputs=(x,))
    assert any("by parts: block traced" in str(w.message) for w in said)
    assert [s.replaced for s in sites] == [True]
    with torch.no_grad():
        want, got = module(x), gm(x)
    assert float((got - want).norm() / want.norm()) < 1e-3
