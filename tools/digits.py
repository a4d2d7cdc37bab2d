"""The digits example: a small CNN with GELU, SiLU and Mish on scikit-learn's 8x8 digits.

Used by ``tools/make_examples.py`` (trains it, writes ``examples/digits_cnn.*``) and by the
tests; run it to print the accuracy table of the rewrite variants::

    python tools/digits.py

| variant | what replaces GELU / SiLU / Mish | fine-tuning |
| --- | --- | --- |
| pau (5,4) | (5,4) rationals | PAU coefficients only |
| pau (3,2) | (3,2) rationals | PAU coefficients only |
| standard | ReLU / ReLU / HardSwish | whole network |

Everything is seeded and runs on 2 CPU threads; the table takes well under two minutes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python tools/digits.py` from a checkout
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "examples"
SEED = 0


class DigitsCNN(nn.Module):
    """conv-GELU-conv-SiLU-maxpool-fc-Mish-fc on [N, 1, 8, 8] inputs in [0, 1]; 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.act1 = nn.GELU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.act2 = nn.SiLU()
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.act3 = nn.Mish()
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.conv1(x))
        x = self.pool(self.act2(self.conv2(x)))
        x = self.act3(self.fc1(x.flatten(1)))
        return self.fc2(x)


@dataclass
class Split:
    """The fixed train/test split: images [N, 1, 8, 8] float32 in [0, 1], labels [N] int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split() -> Split:
    """scikit-learn's bundled digits, split 75/25, stratified, ``random_state=0``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return Split(xtr, ytr, xte, yte)


def batches(
    x: np.ndarray, y: np.ndarray, size: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled ``(inputs, labels)`` mini-batches, deterministic for a seed."""
    order = np.random.default_rng(seed).permutation(len(x))
    return [
        (torch.from_numpy(x[order[i : i + size]]), torch.from_numpy(y[order[i : i + size]]))
        for i in range(0, len(x), size)
    ]


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean() * 100.0)


def train_digits(split: Split, epochs: int = 40, seed: int = SEED) -> DigitsCNN:
    """Train :class:`DigitsCNN` with Adam; deterministic for a seed on CPU."""
    torch.manual_seed(seed)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        model.train()
        for xb, yb in batches(split.x_train, split.y_train, 32, seed + epoch):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        sched.step()
    model.eval()
    return model


def load_trained(path: Path | None = None) -> DigitsCNN:
    """The committed model ``examples/digits_cnn.pt``."""
    model = DigitsCNN()
    state = torch.load(path or EXAMPLES / "digits_cnn.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def _max_error(sites: list, gm: nn.Module) -> float:
    """Largest ``Rational.max_error`` over the replaced sites (NaN when unknown)."""
    errs = []
    for s in sites:
        if not s.replaced:
            continue
        pau = gm.get_submodule(s.module)
        r = pau.to_rational() if hasattr(pau, "to_rational") else None
        err = getattr(r, "max_error", None)
        if err is not None:
            errs.append(float(err))
    return max(errs) if errs else float("nan")


def _measured_error(sites: list, gm: nn.Module, lo: float = -8.0, hi: float = 8.0) -> float:
    """Max-abs error of each replacement against its function on [lo, hi], the largest."""
    from rewriter.functions import get_function

    grid = np.linspace(lo, hi, 4001)
    errs = []
    for s in sites:
        if not s.replaced:
            continue
        mod = gm.get_submodule(s.module)
        with torch.no_grad():
            got = mod(torch.from_numpy(grid.astype(np.float32))).double().numpy()
        errs.append(float(np.max(np.abs(got - get_function(s.function, **s.params)(grid)))))
    return max(errs) if errs else float("nan")


def accuracy_table(epochs: int = 8, seed: int = SEED) -> list[dict[str, object]]:
    """Accuracy of each rewrite variant on the test split, before and after fine-tuning.

    Rows: ``variant``, ``accuracy`` (after rewrite, %), ``finetuned`` (after fine-tuning on the
    train split with labels, %), ``activation_error`` (largest max-abs error of the
    replacements vs their functions: ``Rational.max_error`` for PAUs, measured on [-8, 8] for
    standard activations). The first row is the original network.
    """
    from rewriter import finetune
    from rewriter.frontends.fx import replace_with_standard, rewrite_module

    torch.set_num_threads(2)
    split = load_digits_split()
    teacher = load_trained()
    example = (torch.from_numpy(split.x_test[:2]),)
    base = accuracy(teacher, split.x_test, split.y_test)
    rows: list[dict[str, object]] = [
        {
            "variant": "original (GELU, SiLU, Mish)",
            "accuracy": base,
            "finetuned": base,
            "activation_error": 0.0,
        }
    ]
    variants = [
        (
            "pau (5,4)",
            lambda: rewrite_module(teacher, "pau_all", example, degrees=(5, 4)),
            "coefficients",
            1e-3,
        ),
        (
            "pau (3,2)",
            lambda: rewrite_module(teacher, "pau_all", example, degrees=(3, 2)),
            "coefficients",
            1e-3,
        ),
        (
            "standard (ReLU, ReLU, HardSwish)",
            lambda: replace_with_standard(teacher, None, example),
            "all",
            1e-3,
        ),
    ]
    data = batches(split.x_train, split.y_train, 64, seed)
    for name, build, train, lr in variants:
        gm, sites = build()
        before = accuracy(gm, split.x_test, split.y_test)
        err = _max_error(sites, gm) if name.startswith("pau") else _measured_error(sites, gm)
        finetune(
            gm,
            teacher,
            data,
            epochs=epochs,
            lr=lr,
            train=train,
            labels=True,
            loss="kl",
            seed=seed,
            progress=False,
        )
        after = accuracy(gm, split.x_test, split.y_test)
        rows.append(
            {"variant": name, "accuracy": before, "finetuned": after, "activation_error": err}
        )
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    """The accuracy table as Markdown."""
    lines = [
        "| variant | test accuracy after rewrite (%) | after fine-tune (%) "
        "| activation max-abs error |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['accuracy']:.2f} | {r['finetuned']:.2f} | "
            f"{r['activation_error']:.2e} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    t0 = time.perf_counter()
    table = accuracy_table()
    print(markdown(table))
    print(f"\n({time.perf_counter() - t0:.1f} s)")
