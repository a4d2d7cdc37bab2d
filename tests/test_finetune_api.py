"""``rewriter.finetune``: one entry point to the tune/ stage, for torch and ONNX students."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser
import pytest
import torch
from torch import nn

import rewriter
from rewriter.api import rewrite_onnx
from rewriter.errors import UsageError
from rewriter.frontends.fx import rewrite_module
from rewriter.tune import Tuned
from rewriter.tune.refit import compare_over

TEACHER = """
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 8] x) => (float[N, 8] y) {
    s = Constant <value = float {1.5}> ()
    h = Mul(x, s)
    c = Constant <value = float {1.4142135}> ()
    one = Constant <value = float {1.0}> ()
    half = Constant <value = float {0.5}> ()
    d = Div(h, c)
    e = Erf(d)
    m = Mul(h, half)
    a = Add(e, one)
    y = Mul(m, a)
}
"""


@pytest.fixture(scope="module")
def onnx_pair() -> tuple[onnx.ModelProto, onnx.ModelProto, list[dict[str, np.ndarray]]]:
    teacher = onnx.parser.parse_model(TEACHER)
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.normal(0, 0.5, (32, 8)).astype(np.float32)} for _ in range(3)]
    return teacher, student, feeds


def test_exported_with_docstrings() -> None:
    assert "finetune" in rewriter.__all__ and "fit" in rewriter.__all__
    assert "Example" in (rewriter.finetune.__doc__ or "")
    assert rewriter.fit is rewriter.rational.fit


def test_onnx_layerwise_lowers_the_deviation(onnx_pair) -> None:
    teacher, student, feeds = onnx_pair
    tuned = rewriter.finetune(student, teacher, feeds)
    assert isinstance(tuned, Tuned) and tuned.mode == "layerwise"
    assert [s.name for s in tuned.sites] == ["gelu_0"] and tuned.sites[0].refitted
    before, after = compare_over(teacher, [student, tuned.model], feeds)
    assert after.max_abs < before.max_abs


def test_onnx_e2e_returns_history(onnx_pair) -> None:
    teacher, student, feeds = onnx_pair
    tuned = rewriter.finetune(student, teacher, feeds, mode="e2e", epochs=2, lr=1e-4)
    assert tuned.mode == "e2e" and len(tuned.history) >= 1
    onnx.checker.check_model(tuned.model, full_check=True)


def test_torch_student_is_distilled_in_place() -> None:
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
    student, _ = rewrite_module(teacher, "pau_all", degrees=(3, 2))
    data = [torch.randn(8, 4) * 2 for _ in range(4)]
    history = rewriter.finetune(student, teacher, data, epochs=2, progress=False)
    assert len(history) == 2 and all(np.isfinite(h["val_loss"]) for h in history)


def test_bad_modes(onnx_pair) -> None:
    teacher, student, feeds = onnx_pair
    with pytest.raises(UsageError, match="unknown mode"):
        rewriter.finetune(student, teacher, feeds, mode="nope")
    t = nn.Sequential(nn.GELU())
    with pytest.raises(UsageError, match="ONNX students"):
        rewriter.finetune(t, t, [torch.zeros(1)], mode="e2e")
