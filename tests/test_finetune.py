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


class _Recording(nn.Module):
    """A real teacher that keeps every input batch it is run on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, *xs):
        self.seen.append(tuple(x.clone() for x in xs))
        return self.inner(xs[0]) if len(xs) == 1 else self.inner(*xs)


def test_mixup_runs_the_teacher_on_the_same_mixed_batch_the_student_trains_on():
    teacher, data = _Recording(_teacher()), _data(4)
    student, _ = replace_with_standard(teacher.inner)
    finetune(student, teacher, data, epochs=2, train="all", progress=False, augment="mixup")
    given = {x.numpy().tobytes() for x in data}
    # first the clean targets (all batches), then one mixed batch per training step
    clean, mixed = teacher.seen[: len(data)], teacher.seen[len(data) :]
    assert {s[0].numpy().tobytes() for s in clean} == given
    assert len(mixed) == 2 * 3 and not {s[0].numpy().tobytes() for s in mixed} & given
    # each mixed batch stays inside the range of the calibration values it was made from
    lo, hi = min(float(b.min()) for b in data), max(float(b.max()) for b in data)
    assert all(lo <= float(x.min()) and float(x.max()) <= hi for (x,) in mixed)
    teacher.seen.clear()
    student, _ = replace_with_standard(teacher.inner)
    finetune(student, teacher, data, epochs=2, train="all", progress=False, augment="none")
    assert len(teacher.seen) == len(data)  # targets computed once, on the batches as given


class _GeluPool(nn.Module):
    """``first`` (to 8 features) -> GELU -> mean over ``axis`` -> Linear(8, 3)."""

    def __init__(self, first: nn.Module, axis: int) -> None:
        super().__init__()
        self.first, self.out, self.axis = first, nn.Linear(8, 3), axis

    def forward(self, x):
        return self.out(F.gelu(self.first(x)).mean(self.axis))


def test_mixup_leaves_integer_inputs_alone_and_is_deterministic():
    torch.manual_seed(0)
    teacher = _Recording(_GeluPool(nn.Embedding(10, 8), axis=1))  # token ids [B, T]
    g = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, 10, (8, 5), generator=g),) for _ in range(4)]
    student, _ = replace_with_standard(teacher.inner)
    finetune(student, teacher, data, epochs=1, train="all", progress=False, labels=False,
             augment="mixup")  # fmt: skip
    assert len(teacher.seen) == len(data)  # no mixed batch: token ids are not mixed
    states = []
    for _ in range(2):
        s, _ = replace_with_standard(_teacher())
        finetune(s, _teacher(), _data(4), epochs=2, train="all", progress=False, seed=5,
                 augment="mixup")  # fmt: skip
        states.append(s.state_dict())
    assert all(torch.equal(v, states[1][k]) for k, v in states[0].items())
    with pytest.raises(ValueError, match="augment must be one of none, mixup"):
        finetune(student, teacher, data, augment="cutmix", progress=False)


def test_mixup_mixes_along_each_inputs_batch_axis():
    torch.manual_seed(0)
    teacher = _Recording(_GeluPool(nn.Linear(4, 8), axis=0))  # x[T, B, F]: samples on axis 1
    # every sample the same, time steps different: a mix along the batch axis changes nothing,
    # a mix along the time axis would
    x = (torch.arange(5.0)[:, None, None] * torch.arange(1.0, 5.0)).expand(5, 8, 4).contiguous()
    data = [(x.clone(),) for _ in range(4)]
    student, _ = replace_with_standard(teacher.inner)
    finetune(student, teacher, data, epochs=1, train="all", progress=False, labels=False,
             augment="mixup", batch_axes=[1])  # fmt: skip
    mixed = teacher.seen[len(data) :]
    assert mixed and all(torch.allclose(m[0], x) for m in mixed)
    teacher.seen.clear()
    student, _ = replace_with_standard(teacher.inner)
    finetune(student, teacher, data, epochs=1, train="all", progress=False, labels=False,
             augment="mixup", batch_axes=[0])  # fmt: skip
    assert not any(torch.allclose(m[0], x) for m in teacher.seen[len(data) :])


class _ConvGelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.out = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 3)

    def forward(self, x):
        return self.out(F.gelu(self.conv(x)).mean((2, 3)))


def test_shift_moves_images_and_runs_the_teacher_on_them():
    torch.manual_seed(0)
    teacher = _Recording(_ConvGelu())
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(4, 3, 16, 16, generator=g),) for _ in range(4)]
    student, _ = replace_with_standard(teacher.inner)
    finetune(student, teacher, data, epochs=2, train="all", progress=False, labels=False,
             augment="shift")  # fmt: skip
    moved = [s[0] for s in teacher.seen[len(data) :]]
    assert len(moved) == 2 * 3  # one per training step
    offsets = set()
    for x in moved:  # each is a calibration batch rolled by at most 16/8 = 2 pixels
        hits = [
            (dy, dx)
            for (b,) in data
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(torch.roll(b, (dy, dx), (-2, -1)), x)
        ]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) > 1  # the offsets vary
    teacher.seen.clear()
    flat = _Recording(_teacher())  # 2-d inputs are no images: trained as given
    student, _ = replace_with_standard(flat.inner)
    finetune(student, flat, _data(4), epochs=1, train="all", progress=False, augment="shift")
    assert len(flat.seen) == 4


def test_onecycle_schedule_runs_every_epoch_and_anneals_the_rate(monkeypatch):
    from rewriter.tune.distill import one_cycle

    assert one_cycle(0.0) == pytest.approx(0.04) and one_cycle(0.1) == pytest.approx(1.0)
    assert one_cycle(0.55) == pytest.approx(0.5, abs=1e-3) and one_cycle(0.999) < 1e-4
    teacher, data = _teacher(), _data()
    rates: list[float] = []
    step = torch.optim.Adam.step

    def record(self, *a, **k):  # the rate each step is taken at
        rates.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    student, _ = replace_with_standard(teacher)
    before = _mse(student, teacher, data)
    monkeypatch.setattr(torch.optim.Adam, "step", record)
    h = finetune(student, teacher, data, epochs=6, lr=1e-2, train="all", patience=1,
                 schedule="onecycle", progress=False)  # fmt: skip
    monkeypatch.undo()
    assert len(h) == 6  # patience does not stop a cycle
    assert max(rates) == pytest.approx(1e-2, rel=0.1) and rates[0] < 1e-3 and rates[-1] < 1e-4
    assert rates.index(max(rates)) < len(rates) // 4
    assert _mse(student, teacher, data) < 0.5 * before
    with pytest.raises(ValueError, match="schedule must be one of constant, onecycle"):
        finetune(student, teacher, data, schedule="cosine", progress=False)
