"""rewriter.tune.distill: distillation of a rewritten network towards its original."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rewriter.frontends.fx import replace_with_standard, rewrite_module
from rewriter.tune.distill import distill as finetune
from rewriter.tune.distill import pau_parameters


def _teacher() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 3)
    )


def _data(n: int = 8, batch: int = 16) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 4, generator=g) * 2 for _ in range(n)]


def _mse(a: nn.Module, b: nn.Module, data: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return float(sum(F.mse_loss(a(x), b(x)) for x in data) / len(data))


def _perturb(student: nn.Module) -> None:
    with torch.no_grad():
        for p in pau_parameters(student):
            p.add_(0.05)


def test_coefficients_lower_the_distillation_loss():
    teacher, data = _teacher(), _data()
    student, _ = rewrite_module(teacher, "pau_all", degrees=(3, 2))
    _perturb(student)
    frozen = {k: v.clone() for k, v in student.state_dict().items() if "pau" not in k}
    before = _mse(student, teacher, data)
    history = finetune(student, teacher, data, epochs=6, lr=1e-2, progress=False)
    assert {"loss", "val_loss"} <= set(history[0])
    assert _mse(student, teacher, data) < 0.5 * before
    # only PAU coefficients moved
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in frozen.items())


def test_all_weights_with_labels_and_kl_is_deterministic():
    teacher = _teacher()
    g = torch.Generator().manual_seed(2)
    data = [(x, torch.randint(0, 3, (x.shape[0],), generator=g)) for x in _data()]
    runs = []
    for _ in range(2):
        student, _ = replace_with_standard(teacher)
        before = _mse(student, teacher, [x for x, _ in data])
        h = finetune(
            student,
            teacher,
            data,
            epochs=3,
            lr=1e-2,
            train="all",
            labels=True,
            loss="kl",
            progress=False,
            seed=3,
        )
        runs.append((h, student.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(v, runs[1][1][k]) for k, v in runs[0][1].items())
    assert len(runs[0][0]) == 3 and before > 0


def test_early_stopping_restores_the_best_weights():
    teacher, data = _teacher(), _data()
    student, _ = rewrite_module(teacher, "pau_all", degrees=(3, 2))
    _perturb(student)
    # an absurd learning rate makes later epochs worse: the best epoch's weights come back
    history = finetune(student, teacher, data, epochs=6, lr=5.0, patience=1, progress=False)
    best = min([h["val_loss"] for h in history] + [float("inf")])
    kept = [h for h in history if h["best"]]
    if kept:
        assert kept[-1]["val_loss"] == best
    assert len(history) <= 6


def test_tuple_inputs_and_errors():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, a, b):
            return torch.tanh(self.fc(a) + b)

    torch.manual_seed(0)
    teacher = Two()
    student, _ = rewrite_module(teacher, "pau_tanh")
    data = [(torch.randn(8, 4), torch.randn(8, 4)) for _ in range(4)]
    history = finetune(student, teacher, data, epochs=2, progress=False)
    assert len(history) == 2
    with pytest.raises(ValueError, match="no rewriter.rational.PAU"):
        finetune(teacher, teacher, data, progress=False)
    with pytest.raises(ValueError, match="empty"):
        finetune(student, teacher, [], progress=False)


def test_labels_are_detected_from_integer_pairs():
    teacher = _teacher()
    student, _ = rewrite_module(teacher, "pau_all", degrees=(3, 2))
    data = [(x, torch.zeros(x.shape[0], dtype=torch.long)) for x in _data(4)]
    auto = finetune(student, teacher, data, epochs=1, progress=False)
    student2, _ = rewrite_module(teacher, "pau_all", degrees=(3, 2))
    explicit = finetune(student2, teacher, data, epochs=1, labels=True, progress=False)
    assert auto == explicit
