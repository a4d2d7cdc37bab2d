"""A rewritten GraphModule exports to ONNX (TorchScript and dynamo exporters) and runs in ORT."""

from __future__ import annotations

import math
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from rewriter.frontends.fx import rewrite_module


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)
        self.act = nn.GELU()

    def forward(self, x):
        h = self.act(self.fc1(x))
        h = h * torch.sigmoid(h)
        h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * torch.pow(h, 3))))
        return torch.nn.functional.mish(self.fc2(h))


class ShapeBranch(Block):
    def forward(self, x):
        if x.shape[0] > 1:  # symbolic_trace fails here: the rewrite goes through torch.export
            x = x * 0.5
        return super().forward(x)


@pytest.mark.parametrize("model", [Block, ShapeBranch], ids=["symbolic_trace", "torch.export"])
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_onnx_export_round_trip(tmp_path, dynamo, model):
    torch.manual_seed(0)
    x = torch.randn(5, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm, sites = rewrite_module(model(), "pau_all", example_inputs=(x,))
    assert [s.name for s in sites if s.replaced] == ["gelu_0", "silu_0", "gelu_tanh_0", "mish_0"]
    path = tmp_path / f"rewritten_{dynamo}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            gm, (x,), str(path), dynamo=dynamo, input_names=["input"], output_names=["output"]
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = gm(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_export_fallback_graph_can_be_finetuned(monkeypatch):
    from rewriter import finetune
    from rewriter.frontends.fx import _trace

    monkeypatch.setattr(_trace, "_WARNED", set())  # the warning is shown once per class

    torch.manual_seed(0)
    teacher = ShapeBranch().eval()
    with pytest.warns(UserWarning, match="torch.export"):
        student, _ = rewrite_module(teacher, "pau_all", example_inputs=(torch.randn(5, 8),))
    data = [torch.randn(5, 8) for _ in range(4)]
    history = finetune(student, teacher, data, epochs=2, progress=False)
    assert len(history) == 2 and all(np.isfinite(h["val_loss"]) for h in history)


def test_exported_rewrite_is_recognised_as_rewritten_and_names_agree(tmp_path):
    """The ONNX path finds the same sites under the same names in the original's export, and
    none in the rewritten GraphModule's export (its rationals are not activations)."""
    import rewriter

    torch.manual_seed(0)
    x = torch.randn(5, 8)
    model = Block()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
        torch.onnx.export(model, (x,), str(tmp_path / "orig.onnx"), dynamo=False)
        torch.onnx.export(gm, (x,), str(tmp_path / "pau.onnx"), dynamo=False)
    onnx_sites = rewriter.find_sites(str(tmp_path / "orig.onnx"), "pau_all")
    assert [(s.name, s.function) for s in onnx_sites] == [(s.name, s.function) for s in sites]
    assert rewriter.find_sites(str(tmp_path / "pau.onnx"), "pau_all") == []


def test_a_transformers_decoder_that_returns_its_cache_is_rewritten():
    """LlamaModel returns a DynamicCache (use_cache is on by default); torch.export refused the
    type until transformers' own export registration is applied; the output keeps the cache."""
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(
        vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
    )  # fmt: skip
    m = tf.LlamaModel(cfg).eval()
    ids, mask = torch.randint(0, 100, (2, 8)), torch.ones(2, 8, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm, sites = rewrite_module(m, "pau_all", example_inputs=(ids, mask))
    assert [s.function for s in sites] == ["silu", "silu"]
    with torch.no_grad():
        a, b = m(ids, mask), gm(ids, mask)
    x, y = a.last_hidden_state, b.last_hidden_state
    assert (x - y).norm() / x.norm() < 1e-3
    assert type(b.past_key_values) is type(a.past_key_values)


class _KVCache:  # a container torch.export cannot flatten (not a registered pytree)
    def __init__(self, k):
        self.k = k


class _ReturnsCache(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if x.shape[0] > 1:  # symbolic_trace fails here
            x = x * 0.5
        h = torch.nn.functional.gelu(self.fc(x))
        return h, _KVCache(h)


def test_a_cache_export_cannot_carry_is_named_with_the_fix():
    from rewriter.frontends.fx import FxTraceError

    with pytest.raises(FxTraceError) as e:
        rewrite_module(_ReturnsCache(), "pau_all", example_inputs=(torch.randn(2, 8),))
    text = str(e.value)
    assert "_KVCache" in text and "not a known type" in text
    assert "set use_cache=False in its config" in text


def test_a_transformers_efficientnet_is_rewritten_whole():
    """A CNN from a transformers config (squeeze-excitation Sigmoid gates and SiLU after every
    BatchNorm) through the fx front end with example inputs and nothing else: every one of its
    29 sites is found and replaced, the output stays close (the 38-family sweep,
    ``tools/hf_families.py --fx``, prints 4.6e-3 for it)."""
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = tf.EfficientNetConfig(
        image_size=64, width_coefficient=0.25, depth_coefficient=0.25, hidden_dim=320
    )
    m = tf.EfficientNetModel(cfg).eval()
    for bn in m.modules():  # BatchNorm as trained: scale 1, statistics of one batch
        if isinstance(bn, nn.BatchNorm2d):
            bn.reset_parameters()
            bn.momentum = None
    x = torch.randn(2, 3, 64, 64)
    m.train()
    with torch.no_grad():
        m(x)
    m.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm, sites = rewrite_module(m, "pau_all", example_inputs=(x,))
    assert len(sites) == 29 and all(s.replaced for s in sites)
    assert {s.function for s in sites} == {"silu", "sigmoid"}
    with torch.no_grad():
        a, b = m(x).pooler_output, gm(x).pooler_output
    assert 0 < float((a - b).norm() / a.norm()) < 1e-2


class _Positives(nn.Module):
    """GELU over the positive entries: a data-dependent length, as VITS's waveform (its length
    follows its rounded durations). The shape test makes symbolic_trace fail, so torch.export
    traces it, with an unbacked size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 0:
            x = x * 2
        return nn.functional.gelu(x[x > 0])


def test_a_data_dependent_size_is_an_unknown_dim() -> None:
    """VITS through the torch.fx front end failed with GuardOnDataDependentSymNode: a site's
    shape was read with int() on an exported size that depends on the data. Such a dim is now
    -1 (unknown) and the site is rewritten."""
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm, sites = rewrite_module(_Positives(), "pau_all", example_inputs=(x,))
    assert [(s.name, s.input_shape, s.replaced) for s in sites] == [("gelu_0", (-1,), True)]
    with torch.no_grad():
        want, got = _Positives()(x), gm(x)
    assert want.shape == got.shape and float((got - want).abs().max()) < 1e-3


class _FrozenTower(nn.Module):
    """CLIPSeg's shape: the tower runs under ``torch.no_grad()`` (a block inside it under
    ``enable_grad``), the head after it; the shape test sends the module through
    torch.export, which records each grad-mode block as a ``wrap_with_set_grad_enabled``
    call of a submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.tower, self.inner, self.head = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 4)
        self.register_buffer("shift", torch.full((8,), 0.1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] > 0:
            x = x * 2
        with torch.no_grad():
            h = self.tower(x) + self.shift
            h = h * torch.sigmoid(1.702 * h)  # CLIP's quick GELU
            with torch.enable_grad():
                h = torch.tanh(self.inner(h))
            pooled = h.sum(-1)
        return nn.functional.gelu(self.head(h)), pooled


def test_activations_under_no_grad_are_sites_of_an_exported_module() -> None:
    """Through the torch.export fallback, CLIPSeg's CLIP towers (run under ``no_grad``) kept
    their 4 quick GELUs out of sight: 0 smooth sites against its ONNX exports' 4. The grad-mode
    blocks are spliced into the graph, nested ones too, and their activations rewritten."""
    torch.manual_seed(0)
    model, x = _FrozenTower().eval(), torch.randn(4, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
    assert sorted((s.function, s.replaced) for s in sites) == [
        ("gelu", True),
        ("swish", True),
        ("tanh", True),
    ]
    hop = torch.ops.higher_order.wrap_with_set_grad_enabled
    assert not any(n.target is hop for n in gm.graph.nodes)
    with torch.no_grad():
        want, got = model(x), gm(x)
    for w, g in zip(want, got, strict=True):
        assert w.shape == g.shape
        assert 0 < float((g - w).norm() / w.norm()) < 1e-2
