"""Fine-tuning after replacement: distil the rewritten network (student) from the original.

A rewrite changes a network's function slightly (a (5,4) rational) or more (ReLU for GELU).
:func:`distill` trains the student to reproduce the teacher's outputs on the user's inputs:
output MSE, or KL divergence between softmax distributions of logits, plus cross-entropy on
labels when labels are available. Training only the PAU coefficients (``train="coefficients"``)
is cheap and keeps every other weight; ``train="all"`` recovers more when the replacement is a
coarse one. A held-out part of ``data`` drives early stopping, and the best weights are
restored at the end.

Example:
    >>> gm, sites = rewrite_module(model, "pau_all", example_inputs=(x,))
    >>> history = distill(gm, model, [x1, x2, x3], epochs=5)
    >>> history[-1]["val_loss"] <= history[0]["val_loss"]
    True
"""

from __future__ import annotations

import copy
import math
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["distill", "pau_parameters", "split_batches", "AUGMENT"]

AUGMENT = ("none", "mixup", "shift")

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor | None]


def pau_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The learnable parameters of every ``rewriter.rational.PAU`` inside ``module``."""
    from rewriter.rational import PAU

    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for m in module.modules():
        if isinstance(m, PAU):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


def _normalise(item: Any, has_labels: bool) -> Batch:
    """One element of ``data`` -> ``(inputs, labels or None)`` (see :func:`distill`)."""
    if isinstance(item, torch.Tensor):
        return (item,), None
    if isinstance(item, dict):
        raise TypeError("finetune: dict batches are not supported; pass tensors or tuples")
    item = tuple(item)
    if has_labels:
        if len(item) != 2:
            raise ValueError(
                "finetune(labels=True): each batch must be a pair (inputs, labels); "
                f"got a sequence of {len(item)}"
            )
        inputs, labels = item
        inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
        return inputs, labels
    return tuple(item), None


def _looks_labelled(item: Any) -> bool:
    """``(inputs, labels)`` with labels a 1-D integer tensor (see ``distill(labels=None)``)."""
    if isinstance(item, torch.Tensor) or not isinstance(item, (tuple, list)) or len(item) != 2:
        return False
    y = item[1]
    return isinstance(y, torch.Tensor) and y.dim() == 1 and not y.is_floating_point()


def _outputs(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], features: bool = False
) -> tuple[torch.Tensor, ...]:
    """The first output, plus the other outputs when ``features`` (compared as features)."""
    out = model(*inputs)
    if isinstance(out, (tuple, list)):
        return tuple(out) if features else (out[0],)
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return (out,)


def split_batches(n: int, val_fraction: float, rng: random.Random) -> tuple[list[int], list[int]]:
    """``(train, held-out)`` batch indices: ``val_fraction`` of ``n`` held out, at least one when
    ``n >= 2``; with one batch it is both. ``rng`` shuffles (``random.Random(seed)``)."""
    order = list(range(n))
    rng.shuffle(order)
    n_val = 0 if n < 2 else max(1, int(round(val_fraction * n)))
    n_val = min(n_val, n - 1)
    val = order[:n_val] or order
    return order[n_val:], val


def _mixup(
    b: Batch, gen: torch.Generator, axes: Sequence[int] | None = None
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor] | None:
    """``b``'s inputs mixed with a shuffled copy of themselves along each input's sample axis
    (``axes``, default 0; see ``distill(augment=)``): ``(inputs, l, perm)``, or None when an
    input is not floating point or the batch is one sample (or the inputs disagree on the
    batch size)."""
    xs = b[0]
    ax = list(axes) if axes is not None and len(axes) == len(xs) else [0] * len(xs)
    if not xs or any(
        not x.is_floating_point() or x.dim() <= k for x, k in zip(xs, ax, strict=True)
    ):
        return None
    n = xs[0].shape[ax[0]]
    if n < 2 or any(x.shape[k] != n for x, k in zip(xs, ax, strict=True)):
        return None
    perm = torch.randperm(n, generator=gen)
    lam = torch.rand(n, generator=gen)  # Beta(1, 1)

    def mix(x: torch.Tensor, k: int) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[k] = n
        w = lam.to(x.dtype).reshape(shape)
        return w * x + (1 - w) * x.index_select(k, perm)

    return tuple(mix(x, k) for x, k in zip(xs, ax, strict=True)), lam, perm


def _shift(
    b: Batch, gen: torch.Generator, axes: Sequence[int] | None = None
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor] | None:
    """``b``'s images moved by one random offset of up to an eighth of their height and width
    (circularly; ``distill(augment="shift")``), other inputs as they are: ``(inputs, 1, identity
    permutation)`` (mixup's shape of result: the labels stay), or None when no input is an
    image (a 4-d float tensor with its samples on axis 0)."""
    xs = b[0]
    ax = list(axes) if axes is not None and len(axes) == len(xs) else [0] * len(xs)
    images = [
        x.is_floating_point() and x.dim() == 4 and k == 0 for x, k in zip(xs, ax, strict=True)
    ]
    if not any(images):
        return None
    h, w = next(x.shape[-2:] for x, im in zip(xs, images, strict=True) if im)
    dy = int(torch.randint(-(h // 8), h // 8 + 1, (1,), generator=gen))
    dx = int(torch.randint(-(w // 8), w // 8 + 1, (1,), generator=gen))
    moved = tuple(
        torch.roll(x, (dy, dx), (-2, -1)) if im else x for x, im in zip(xs, images, strict=True)
    )
    n = xs[0].shape[ax[0]]
    return moved, torch.ones(n), torch.arange(n)


def _progress(iterable: Sequence[Batch], desc: str, enabled: bool) -> Iterable[Batch]:
    # a bar redrawn with carriage returns is for a terminal: in a log or a pipe it is noise
    if not enabled or not sys.stderr.isatty():
        return iterable
    try:
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, leave=False)
    except ImportError:
        return _SimpleProgress(iterable, desc)


class _SimpleProgress:
    """A one-line progress counter on stderr, for when tqdm is not installed."""

    def __init__(self, items: Sequence[Batch], desc: str) -> None:
        self.items, self.desc = items, desc

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.items)
        for i, item in enumerate(self.items):
            sys.stderr.write(f"\r{self.desc}: {i + 1}/{n}")
            sys.stderr.flush()
            yield item
        sys.stderr.write("\n")


SCHEDULES = ("constant", "onecycle")


def one_cycle(progress: float) -> float:
    """The one-cycle rate as a fraction of the peak, at ``progress`` in [0, 1) of training:
    linear from 1/25 to 1 over the first tenth, then a cosine down to 1/250000 (the shape of
    ``torch.optim.lr_scheduler.OneCycleLR``'s defaults, computed per step from the step count,
    so a step back to the best weights can scale it)."""
    if progress < 0.1:
        return 0.04 + 0.96 * progress / 0.1
    low = 0.04 / 1e4
    return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - 0.1) / 0.9)))


def _distillation_loss(
    student_outs: tuple[torch.Tensor, ...],
    teacher_outs: tuple[torch.Tensor, ...],
    labels: torch.Tensor | None,
    loss: str,
    temperature: float,
    feature_weight: float = 0.0,
) -> torch.Tensor:
    student_out, teacher_out = student_outs[0], teacher_outs[0]
    if loss == "mse":
        value = F.mse_loss(student_out, teacher_out)
    else:  # kl on logits, last dimension is the class dimension
        t = temperature
        value = F.kl_div(
            F.log_softmax(student_out / t, dim=-1),
            F.log_softmax(teacher_out / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        ) * (t * t)
    if labels is not None:
        value = value + F.cross_entropy(student_out, labels)
    if feature_weight and len(student_outs) > 1:
        feats = [F.mse_loss(s, t) for s, t in zip(student_outs[1:], teacher_outs[1:], strict=True)]
        value = value + feature_weight * torch.stack(feats).mean()
    return value


def distill(
    student: nn.Module,
    teacher: nn.Module,
    data: Iterable[Any],
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    train: str = "coefficients",
    labels: bool | None = None,
    val_fraction: float = 0.2,
    patience: int = 3,
    seed: int = 0,
    loss: str = "mse",
    temperature: float = 1.0,
    feature_weight: float = 0.0,
    augment: str = "none",
    batch_axes: Sequence[int] | None = None,
    progress: bool = True,
    schedule: str = "constant",
) -> list[dict[str, float]]:
    """Distil ``student`` towards ``teacher`` on ``data``; the student is trained in place.

    ``data`` is any iterable of batches (materialised once as a list). How a batch is read:

    - a ``Tensor``: the single input of a one-input model;
    - ``labels=True``: a batch is a pair ``(inputs, labels)`` where ``inputs`` is a tensor or
      a tuple of tensors and ``labels`` a tensor of class indices, used for a cross-entropy
      task loss on the student's output (which must then be logits ``[N, classes]``);
    - ``labels=False``: a tuple/list of tensors is the model's positional inputs;
    - ``labels=None`` (default): decided from the first batch: a pair whose second element is
      a 1-D integer tensor is ``(inputs, labels)``, anything else is inputs only. Pass
      ``labels=False`` for a two-input model whose second input is a 1-D integer tensor.

    Args:
        student: the rewritten module, e.g. from :func:`rewriter.frontends.fx.rewrite_module`.
        teacher: the original module; it is run in eval mode without gradients.
        epochs: maximum number of passes over the training part.
        lr: Adam learning rate.
        train: ``"coefficients"``: only the PAU parameters (``rewriter.rational.PAU``
            modules); ``"weights"``: every parameter except those; ``"all"``: every
            floating parameter of the student.
        labels: see above.
        val_fraction: fraction of the batches held out for early stopping (at least one batch
            is held out when there are two or more; with one batch, it is both).
        patience: epochs without improvement of ``val_loss`` before stopping; after an epoch
            that ends worse than the start, the best weights are restored and the learning
            rate divided by 10.
        seed: seeds the split, the shuffling and torch's generator: same inputs, same result.
        loss: ``"mse"`` on outputs, or ``"kl"``: KL(teacher || student) on softmax(logits).
        temperature: softmax temperature for ``"kl"``.
        feature_weight: when the models return tuples, the MSE of the elements after the first
            (features, e.g. activations at the replaced sites) times this is added to the loss;
            0 (default) compares the first element only.
        augment: ``"none"`` (default), or ``"mixup"``: function matching (Beyer et al. 2022, "Knowledge
            distillation: a good teacher is patient and consistent"): each training batch is
            mixed with a shuffled copy of itself, ``x = l*x + (1-l)*x[perm]`` with ``l`` drawn
            per sample from Beta(1, 1), and the teacher runs on that same mixed batch, so
            the student learns the teacher's function between the calibration samples, not
            only at them (labels mix with the same ``l``). Only where every input is floating
            point (token ids are not mixed: such batches train as they are). Held-out
            batches are never mixed. Measured (README): it helps where the calibration
            inputs are images of a few objects (a YOLO-style detector: held-out cosine
            0.894 -> 0.926 after 30 epochs) and not everywhere (a MobileNet: 0.954 -> 0.946;
            ``tools/recover_bench.py --augment-sweep``). ``"shift"``: each training batch's
            images (4-d float inputs, samples on axis 0) are moved by one random offset of up
            to an eighth of their height and width, circularly, and the teacher runs on the
            moved batch (labels, when given, are kept: for translation-invariant tasks).
            Measured (README, ``tools/recover_bench.py --augment-sweep 60``): held-out cosine
            of the all-ReLU nets after 60 epochs, YOLO 0.912 -> 0.953, MobileNet 0.954 ->
            0.964; it closes the gap between fit and held-out data.
        batch_axes: the sample axis of each model input, in input order (default 0 for all;
            a sequence-first GRU's ``x[seq, batch, 8]`` has 1): what mixup mixes along.
        progress: show a progress bar (tqdm when installed).
        schedule: the rate over training. ``"constant"`` (default): ``lr`` throughout, early
            stopping after ``patience`` epochs without a better ``val_loss``. ``"onecycle"``:
            per step, up from ``lr / 25`` to ``lr`` over the first tenth of the steps, then
            down to ~0 along a cosine (Smith & Topin 2019); every epoch runs (the schedule
            sets the length; ``patience`` is not used) and the best epoch's weights are kept.
            Measured (README, ``tools/recover_data.py --e2e``): it depends on the site; one
            site of a trained MobileNet swapped for ReLU, held-out cosine 0.99807 (constant)
            -> 0.99899 (onecycle) after 8 epochs, another 0.99757 -> 0.99698 after 30.

    Returns:
        One dict per epoch: ``epoch``, ``loss`` (mean training loss), ``val_loss``,
        ``best`` (whether this epoch's weights are the ones kept).

    Raises:
        ValueError: no trainable parameters (``train="coefficients"`` on a network without
            PAUs), empty ``data``, or an unknown ``train``/``loss``.
    """
    if train not in ("coefficients", "weights", "all"):
        raise ValueError(
            f"finetune: train must be 'coefficients', 'weights' or 'all', not {train!r}"
        )
    if loss not in ("mse", "kl"):
        raise ValueError(f"finetune: loss must be 'mse' or 'kl', not {loss!r}")
    if schedule not in SCHEDULES:
        raise ValueError(
            f"finetune: schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}"
        )
    if augment not in AUGMENT:
        raise ValueError(f"finetune: augment must be one of {', '.join(AUGMENT)}, not {augment!r}")
    items = list(data)
    if labels is None:
        labels = bool(items) and _looks_labelled(items[0])
    batches = [_normalise(item, labels) for item in items]
    if not batches:
        raise ValueError("finetune: data is empty")
    if train == "coefficients":
        params = pau_parameters(student)
    else:
        pau = {id(p) for p in pau_parameters(student)} if train == "weights" else set()
        params = [p for p in student.parameters() if p.is_floating_point() and id(p) not in pau]
    if not params:
        raise ValueError(
            "finetune: nothing to train: the student has no rewriter.rational.PAU modules "
            "(use train='all' to train every parameter)"
        )

    torch.manual_seed(seed)
    rng = random.Random(seed)
    mix = torch.Generator().manual_seed(seed)
    fit_idx, val_idx = split_batches(len(batches), val_fraction, rng)
    val = [batches[i] for i in val_idx]
    fit = [batches[i] for i in fit_idx]
    features = feature_weight != 0.0

    teacher_was, student_was = teacher.training, student.training
    teacher.eval()
    with torch.no_grad():
        targets = {
            id(b): tuple(t.detach() for t in _outputs(teacher, b[0], features)) for b in fit + val
        }
    teacher.train(teacher_was)

    trainable = {id(p) for p in params}
    frozen = [p for p in student.parameters() if id(p) not in trainable and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    # float16/bfloat16 weights: Adam steps float32 copies ("master weights"), which are copied
    # into the model after each step. Adam on the half weights themselves gave NaN at once
    # (its eps 1e-8 is 0 in float16) and a float16 student never moved.
    low = [p for p in params if p.dtype in (torch.float16, torch.bfloat16)]
    masters = {id(p): p.detach().float().clone().requires_grad_(True) for p in low}
    optimiser = torch.optim.Adam([masters.get(id(p), p) for p in params], lr=lr)

    def sync_masters() -> None:
        with torch.no_grad():
            for p in low:
                masters[id(p)].copy_(p.float())

    def evaluate() -> float:
        student.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for b in val:
                out = _outputs(student, b[0], features)
                total += float(
                    _distillation_loss(out, targets[id(b)], b[1], loss, temperature, feature_weight)
                )
                count += 1
        return total / max(count, 1)

    steps, total_steps, scale = 0, epochs * len(fit), 1.0
    history: list[dict[str, float]] = []
    best = start = evaluate()
    best_state = copy.deepcopy(student.state_dict())
    stale = 0
    try:
        for epoch in range(epochs):
            # train mode only where training all weights: frozen BN statistics stay frozen
            student.train(train != "coefficients")
            rng.shuffle(fit)
            total = 0.0
            for b in _progress(fit, f"finetune epoch {epoch + 1}/{epochs}", progress):
                optimiser.zero_grad()
                for p in low:
                    p.grad = None
                augmented = {"mixup": _mixup, "shift": _shift}.get(augment)
                mixed = augmented(b, mix, batch_axes) if augmented else None
                if mixed is None:
                    value = _distillation_loss(
                        _outputs(student, b[0], features),
                        targets[id(b)],
                        b[1],
                        loss,
                        temperature,
                        feature_weight,
                    )
                else:
                    xs, lam, perm = mixed
                    with torch.no_grad():
                        teacher.eval()
                        target = tuple(t.detach() for t in _outputs(teacher, xs, features))
                    out = _outputs(student, xs, features)
                    value = _distillation_loss(out, target, None, loss, temperature, feature_weight)
                    if b[1] is not None:
                        ce = F.cross_entropy(out[0], b[1], reduction="none")
                        ce_b = F.cross_entropy(out[0], b[1][perm], reduction="none")
                        value = value + (lam * ce + (1 - lam) * ce_b).mean()
                value.backward()
                for p in low:
                    masters[id(p)].grad = None if p.grad is None else p.grad.float()
                if schedule == "onecycle":
                    for group in optimiser.param_groups:
                        group["lr"] = lr * scale * one_cycle(steps / total_steps)
                optimiser.step()
                steps += 1
                if low:
                    with torch.no_grad():
                        for p in low:
                            p.copy_(masters[id(p)].to(p.dtype))
                total += float(value.detach())
            val_loss = evaluate()
            improved = math.isfinite(val_loss) and val_loss < best
            if improved:
                best, stale = val_loss, 0
                best_state = copy.deepcopy(student.state_dict())
            else:
                stale += 1
                if not math.isfinite(val_loss) or val_loss > start:
                    # diverged (worse than before training): all the weights of a trained
                    # network at lr 1e-3 can do that in one epoch, and early stopping then only
                    # ever keeps the start (MobileNet: cosine 0.9974 stayed 0.9974). Step back
                    # to the best weights and go on at a tenth of the rate (0.9991).
                    student.load_state_dict(best_state)
                    sync_masters()
                    scale *= 0.1
                    for group in optimiser.param_groups:
                        group["lr"] *= 0.1
                    optimiser.state.clear()
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": total / len(fit),
                    "val_loss": val_loss,
                    "best": bool(improved),
                }
            )
            if stale >= patience and schedule == "constant":
                break
    finally:
        student.load_state_dict(best_state)
        for p in frozen:
            p.requires_grad_(True)
        student.train(student_was)
    return history
