"""The fx front end finds the sigmoid inside a GLU and replaces it, as the ONNX path does.

``nn.GLU(dim)``, ``F.glu(x, dim)`` and, after the torch.export fallback, ``aten.glu.default``
compute ``a * sigmoid(b)`` with ``a, b = x.chunk(2, dim)``; exporters write Split + Sigmoid +
Mul, where the ONNX path finds a sigmoid site. The fx rewrite writes a GLU whose sigmoid it
replaces as ``torch.chunk`` + the rational + ``mul``, and leaves a GLU it keeps one node.
"""

from __future__ import annotations

import io
import operator
import warnings

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import rewriter
from rewriter.frontends.fx import FxFallbackWarning, find_sites, rewrite_module
from rewriter.frontends.fx.rewrite import _apply
from rewriter.rational import PAU, table_rational

GLU_TARGETS = (F.glu, torch.ops.aten.glu.default)


class Fn(nn.Module):
    """A linear layer then a function of its output, so each spelling is a module to trace."""

    def __init__(self, f, features: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(features, features)
        self.f = f

    def forward(self, x):
        return self.f(self.fc(x))


class ConformerConv(nn.Module):
    """A Conformer convolution module (torchaudio's ``_ConvolutionModule``, wav2vec2-conformer's
    ``ConvolutionModule``): LayerNorm, pointwise Conv1d to 2C, GLU over channels, depthwise
    Conv1d, BatchNorm, SiLU, pointwise Conv1d."""

    def __init__(self, channels: int = 8, kernel: int = 5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.pointwise1 = nn.Conv1d(channels, 2 * channels, 1)
        self.glu = nn.GLU(dim=1)
        self.depthwise = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.bn = nn.BatchNorm1d(channels)
        self.act = nn.SiLU()
        self.pointwise2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x):  # x: (batch, time, channels)
        y = self.pointwise1(self.norm(x).transpose(1, 2))
        y = self.act(self.bn(self.depthwise(self.glu(y))))
        return x + self.pointwise2(y).transpose(1, 2)


def _trained_bn(m: nn.Module) -> nn.Module:
    """Batch-norm statistics that are not the identity, then eval mode."""
    torch.manual_seed(1)
    for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm1d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _rel_l2(m: nn.Module, gm: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        want, got = m(x), gm(x)
    return float((got - want).norm() / want.norm())


def _glus(gm: nn.Module) -> list[fx.Node]:
    """The glu nodes of a rewritten GraphModule (module, function or ATen spelling)."""
    assert isinstance(gm, fx.GraphModule)
    return [
        n
        for n in gm.graph.nodes
        if (n.op == "call_function" and n.target in GLU_TARGETS)
        or (n.op == "call_module" and isinstance(gm.get_submodule(n.target), nn.GLU))
    ]


def _check_replaced(gm: nn.Module, name: str, dim: int) -> None:
    """The rational ``name`` reads the second half of ``chunk(x, 2, dim)``; the first half times
    it is what the glu computed."""
    (pau,) = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == name]
    assert isinstance(gm.get_submodule(name), PAU)
    half = pau.args[0]
    assert half.target is operator.getitem and half.args[1] == 1
    chunk = half.args[0]
    assert chunk.target is torch.chunk and chunk.args[1] == 2 and chunk.kwargs == {"dim": dim}
    (mul,) = pau.users
    assert mul.target is operator.mul and mul.args[1] is pau
    assert mul.args[0].target is operator.getitem and mul.args[0].args == (chunk, 0)


# (id, function of the Linear's output (batch, 4, 8), dim, kind, the site's input shape)
SPELLINGS = [
    ("nn.GLU(dim=1)", nn.GLU(dim=1), 1, "module", (2, 2, 8)),
    ("nn.GLU()", nn.GLU(), -1, "module", (2, 4, 4)),
    ("F.glu(x, 1)", lambda x: F.glu(x, 1), 1, "function", (2, 2, 8)),
    ("F.glu(x, dim=-1)", lambda x: F.glu(x, dim=-1), -1, "function", (2, 4, 4)),
    (
        "torch.nn.functional.glu(x, -2)",
        lambda x: torch.nn.functional.glu(x, -2),
        -2,
        "function",
        (2, 2, 8),
    ),
]


@pytest.mark.parametrize(("f", "dim", "kind", "shape"), [s[1:] for s in SPELLINGS], ids=[s[0] for s in SPELLINGS])  # fmt: skip
def test_glu_sigmoid_is_found_and_replaced(f, dim, kind, shape):
    torch.manual_seed(0)
    m = Fn(f).eval()
    x = torch.randn(2, 4, 8)
    gm, sites = rewrite_module(m, "pau_all", example_inputs=(x,))
    got = [(s.name, s.function, s.kind, s.replaced, s.module, s.input_shape) for s in sites]
    assert got == [("sigmoid_0", "sigmoid", kind, True, "pau_sigmoid_0", shape)]
    assert sites[0].target.startswith("sigmoid inside ")
    assert not _glus(gm)
    _check_replaced(gm, "pau_sigmoid_0", dim)
    rel = _rel_l2(m, gm, torch.randn(5, 4, 8))
    assert rel < 1e-3, rel
    # the rational is the one the ONNX path writes for a sigmoid site under pau_all
    want = table_rational("sigmoid", degrees=(5, 4))
    t = torch.linspace(-20, 20, 401)
    with torch.no_grad():
        pau = gm.get_submodule("pau_sigmoid_0")(t).numpy()
    np.testing.assert_allclose(pau, want(t.double().numpy()), atol=1e-6)


def test_glu_kept_stays_one_node():
    """A pipeline that does not select sigmoid reports the site and leaves the GLU as it was."""
    m = Fn(lambda x: F.gelu(F.glu(x, dim=1))).eval()
    x = torch.randn(2, 4, 8)
    gm, sites = rewrite_module(m, "pau_gelu", example_inputs=(x,))
    assert [(s.name, s.replaced) for s in sites] == [("sigmoid_0", False), ("gelu_0", True)]
    (glu,) = _glus(gm)
    assert glu.target is F.glu and glu.kwargs == {"dim": 1}
    assert not [n for n in gm.graph.nodes if n.target in (torch.chunk, torch.sigmoid)]
    (gelu,) = glu.users  # the GELU's rational reads the glu itself
    assert gelu.op == "call_module" and gelu.target == "pau_gelu_0"
    # a dry run changes nothing either
    assert [s.name for s in find_sites(m, (x,))] == ["sigmoid_0", "gelu_0"]


def test_glu_kept_by_name_stays_while_another_is_replaced():
    """As plan_module builds a trial (sites selected by name): only the GLU whose sigmoid is
    chosen is written as chunk + rational + mul; the other stays one ``nn.GLU`` node."""
    m = nn.Sequential(nn.Linear(8, 16), nn.GLU(), nn.Linear(8, 16), nn.GLU(), nn.Linear(8, 4))
    m.eval()
    x = torch.randn(3, 8)

    def select(site):
        return None if site.name == "sigmoid_1" else "kept by the plan"

    gm, sites = _apply(m, select, lambda s: PAU(table_rational(s.function)), "pau", (x,))
    assert [(s.name, s.replaced) for s in sites] == [("sigmoid_0", False), ("sigmoid_1", True)]
    (kept,) = _glus(gm)
    assert kept.op == "call_module" and kept.target == "1"  # the first GLU, untouched
    _check_replaced(gm, "pau_sigmoid_1", -1)
    assert _rel_l2(m, gm, torch.randn(6, 8)) < 1e-3


def test_conformer_convolution_module():
    """The GLU's sigmoid and the SiLU are both sites; the fx rewrite computes what the ONNX
    path's rewrite of the module's export computes."""
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    m = _trained_bn(ConformerConv())
    x = torch.randn(2, 20, 8)
    gm, sites = rewrite_module(m, "pau_all", example_inputs=(x,))
    got = [(s.name, s.function, s.kind, s.replaced, s.input_shape) for s in sites]
    assert got == [
        ("sigmoid_0", "sigmoid", "module", True, (2, 8, 20)),
        ("silu_0", "silu", "module", True, (2, 8, 20)),
    ]
    assert not _glus(gm)
    _check_replaced(gm, "pau_sigmoid_0", 1)
    xs = torch.randn(2, 20, 8)  # the export is static: other values, its shape
    rel = _rel_l2(m, gm, xs)
    assert rel < 1e-3, rel

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), buf, dynamo=False, opset_version=17, input_names=["x"])
    exported = onnx.load_from_string(buf.getvalue())
    onnx_sites = rewriter.find_sites(exported, "pau_all")
    assert [(s.name, s.function) for s in onnx_sites] == [(s.name, s.function) for s in sites]
    rewritten = rewriter.rewrite(exported, pipeline="pau_all")
    sess = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_out,) = sess.run(None, {"x": xs.numpy()})
    with torch.no_grad():
        fx_out = gm(xs).numpy()
    assert np.abs(fx_out - onnx_out).max() < 1e-5


def test_glu_after_the_export_fallback(monkeypatch):
    """symbolic_trace fails on the shape branch: torch.export records ``aten.glu.default``,
    whose sigmoid is found and replaced; the tanh reading the glu is replaced too."""
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())  # the warning is shown once per class

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 8, 3, padding=1)
            self.glu = nn.GLU(dim=1)

        def forward(self, x):
            if x.shape[-1] > 1:  # Python control flow: symbolic_trace cannot, export can
                x = x * 0.5
            return torch.tanh(F.glu(x, dim=-1)).sum(-1, keepdim=True) + self.glu(self.conv(x))

    torch.manual_seed(0)
    m = Branchy().eval()
    x = torch.randn(2, 4, 6)
    with pytest.warns(FxFallbackWarning, match="torch.export"):
        gm, sites = rewrite_module(m, "pau_all", example_inputs=(x,))
    got = [(s.name, s.function, s.kind, s.tracer, s.replaced) for s in sites]
    assert got == [
        ("sigmoid_0", "sigmoid", "aten", "torch.export", True),
        ("tanh_0", "tanh", "aten", "torch.export", True),
        ("sigmoid_1", "sigmoid", "aten", "torch.export", True),
    ]
    assert sites[0].input_shape == (2, 4, 3) and sites[2].input_shape == (2, 4, 6)
    assert not _glus(gm)
    (tanh,) = [n for n in gm.graph.nodes if n.target == "pau_tanh_0"]
    assert tanh.args[0].target is operator.mul  # reads the decomposed glu's product
    rel = _rel_l2(m, gm, torch.randn(3, 4, 6))
    assert rel < 1e-3, rel
