"""End-to-end fine-tuning of a rewritten ONNX model's rational coefficients (``--mode e2e``).

The student is converted to torch with the cost model's ONNX interpreter
(``rewriter.cost.torch_convert``), which turns every initializer into a buffer. The rational
coefficients the rewriter emitted (initializers ``pau/<key>/p<k>`` and ``q<k>``) become
parameters instead; the denominator coefficients are the emitted ``|b_k|``, so they are trained
through an ``abs`` parametrization that keeps Q >= 1 (no poles). ``rewriter.tune.distill`` then
distils the student towards the teacher (converted the same way) on the calibration inputs, and
the trained values are written back into the student's initializers: the graph is unchanged,
only coefficients move. Everything else in the network stays frozen.

Example:
    >>> tuned, history = finetune_e2e(student, teacher, load_calibration("data.npz", teacher))
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torch.nn.utils import parametrize

from rewriter.errors import ModelError

__all__ = ["finetune_e2e", "COEFFICIENT"]

COEFFICIENT = re.compile(r"^pau/.+/([pq])(\d+)(_f64)?$")


class _Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


class _FirstOutputs(nn.Module):
    """The converted model with every output flattened and concatenated (one tensor to distil)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        outs = self.inner(*xs)
        return torch.cat([o.reshape(o.shape[0], -1).float() for o in outs], dim=1)


def _trainable(student: onnx.ModelProto) -> tuple[nn.Module, dict[str, str]]:
    from rewriter.cost.torch_convert import to_torch

    inner = to_torch(student)
    trained: dict[str, str] = {}
    for name, key in sorted(inner._const_names.items()):
        hit = COEFFICIENT.match(name)
        if hit is None:
            continue
        buf = inner._buffers.pop(key)
        assert buf is not None
        value = buf.detach().clone().to(torch.float32)
        inner.register_parameter(key, nn.Parameter(value))
        if hit.group(1) == "q":
            parametrize.register_parametrization(inner, key, _Abs())
        trained[name] = key
    if not trained:
        raise ModelError(
            "student has no rational coefficients (initializers pau/<key>/p<k>); "
            "rewrite it with `rewrite ... -p pau_all` first"
        )
    for p in inner.parameters():
        p.requires_grad_(True)
    return inner, trained


def _frozen(teacher: onnx.ModelProto) -> nn.Module:
    from rewriter.cost.torch_convert import to_torch

    return to_torch(teacher).eval()


def finetune_e2e(
    student: onnx.ModelProto,
    teacher: onnx.ModelProto,
    batches: list[dict[str, np.ndarray]],
    *,
    epochs: int = 20,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> tuple[onnx.ModelProto, list[dict[str, Any]]]:
    """Distil the student's rational coefficients towards the teacher, end to end.

    Args:
        student: a model rewritten by pau-rewriter (not modified).
        teacher: the original model.
        batches: calibration feed dicts (``rewriter.calibrate.load_calibration(...).batches``).

    Returns:
        The tuned model (same graph, new coefficients) and the per-epoch history.
    """
    from rewriter.tune.distill import distill

    torch.manual_seed(seed)
    inner, trained = _trainable(student)
    names = [
        i.name
        for i in student.graph.input
        if i.name not in {t.name for t in student.graph.initializer}
    ]
    data = [tuple(torch.from_numpy(np.asarray(b[n])) for n in names) for b in batches]
    model = _FirstOutputs(inner)
    history = distill(
        model,
        _FirstOutputs(_frozen(teacher)),
        data,
        epochs=epochs,
        lr=lr,
        train="all",
        seed=seed,
        progress=progress,
    )
    tuned = onnx.ModelProto()
    tuned.CopyFrom(student)
    values = {name: getattr(inner, key).detach().cpu().numpy() for name, key in trained.items()}
    for t in tuned.graph.initializer:
        if t.name in values:
            new = values[t.name].astype(numpy_helper.to_array(t).dtype).reshape(tuple(t.dims))
            t.CopyFrom(numpy_helper.from_array(new, t.name))
    return tuned, history
