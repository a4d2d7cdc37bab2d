"""Verify a rewritten model before it is written: checker, ONNX Runtime, numerics.

Inputs are made from the model's input shapes (dynamic dims get small sizes, integer inputs small
valid values), seeded, or taken from the user's ``--inputs`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.errors import ModelError, UsageError
from rewriter.ir.runtime import run_model

__all__ = [
    "Deviation",
    "OutputDiff",
    "deviation",
    "accuracy_of",
    "make_inputs",
    "compare",
    "check",
    "verify",
    "load_inputs",
]

_DYNAMIC_DIM = 2


@dataclass
class OutputDiff:
    """One output of the rewritten model against the original's."""

    name: str
    max_abs: float
    rel_l2: float
    cosine: float


@dataclass
class Deviation:
    """How far a model's outputs are from the original's: per output, and the worst over them.

    The one output comparison of the project: verification before writing, the accuracy map and
    budgets, fine-tuning reports all build it with ``deviation()``.

    Attributes:
        outputs: per-output max-abs, relative L2 and cosine.
        accuracy: percent top-1 agreement with labels, when labels were given.
        inputs: which inputs were used (``generated``, ``data.npz``, ``calibration ...``).
        checker: ``passed`` when onnx.checker (full_check) accepted the model.
    """

    outputs: list[OutputDiff] = field(default_factory=list)
    accuracy: float | None = None
    inputs: str = "generated"
    checker: str = "passed"

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def rel_l2(self) -> float:
        return max((o.rel_l2 for o in self.outputs), default=0.0)

    @property
    def cosine(self) -> float:
        return min((o.cosine for o in self.outputs), default=1.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(max_abs=self.max_abs, rel_l2=self.rel_l2, cosine=self.cosine)
        return d


def output_diff(name: str, a: np.ndarray, b: np.ndarray) -> OutputDiff:
    """max-abs, relative L2 (to ``a``) and cosine of ``b`` against ``a``, in float64."""
    a64 = np.asarray(a, dtype=np.float64).ravel()
    b64 = np.asarray(b, dtype=np.float64).ravel()
    if a64.size == 0:
        return OutputDiff(name, 0.0, 0.0, 1.0)
    d = b64 - a64
    na, nb = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
    rel = float(np.linalg.norm(d)) / na if na > 0 else float(np.linalg.norm(d))
    cos = float(a64 @ b64) / (na * nb) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)
    return OutputDiff(name, float(np.max(np.abs(d))), rel, cos)


def deviation(
    reference: Sequence[np.ndarray],
    got: Sequence[np.ndarray],
    names: Sequence[str] | None = None,
    *,
    labels: np.ndarray | None = None,
    inputs: str = "generated",
) -> Deviation:
    """Compare ``got`` with ``reference`` output by output (see ``Deviation``).

    With ``labels``, ``accuracy`` is the percent of samples whose argmax over the first output's
    last axis equals the label.
    """
    names = list(names) if names is not None else [f"output_{k}" for k in range(len(reference))]
    outs = [output_diff(n, a, b) for n, a, b in zip(names, reference, got, strict=True)]
    acc = accuracy_of(got[0], labels) if labels is not None and len(got) else None
    return Deviation(outs, acc, inputs)


def accuracy_of(logits: np.ndarray, labels: np.ndarray) -> float:
    """Percent of samples whose argmax over the last axis equals the label."""
    pred = np.asarray(logits).argmax(axis=-1).ravel()
    lab = np.asarray(labels).ravel()
    if pred.shape != lab.shape:
        raise UsageError(
            f"labels: {lab.size} labels for {pred.size} predictions (argmax of the first output over "
            "its last axis); pass one label per sample"
        )
    return float(np.mean(pred == lab) * 100.0)


def check(model: onnx.ModelProto) -> None:
    """onnx.checker with full_check (strict shape inference); ModelError on failure."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"model fails onnx.checker: {first}") from None


def make_inputs(
    model: onnx.ModelProto, seed: int = 0, low: float = -3.0, high: float = 3.0
) -> dict[str, np.ndarray]:
    """Seeded inputs for every graph input that is not an initializer."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise UsageError(f"input {vi.name!r} is not a tensor; pass --inputs data.npz")
        shape = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else _DYNAMIC_DIM
            for d in t.shape.dim
        ]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if np.issubdtype(dtype, np.floating):
            feeds[vi.name] = rng.uniform(low, high, size=shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[vi.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[vi.name] = rng.integers(0, 4, size=shape).astype(dtype)
    return feeds


def load_inputs(path: str, model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Read ``--inputs data.npz`` (arrays keyed by input name) and check names and ranks."""
    try:
        data = dict(np.load(path))
    except Exception as e:
        raise UsageError(
            f"{path}: cannot read inputs ({type(e).__name__}: {e}); pass an .npz keyed by input name"
        ) from None
    inits = {t.name for t in model.graph.initializer}
    wanted = {vi.name: vi for vi in model.graph.input if vi.name not in inits}
    missing = sorted(set(wanted) - set(data))
    if missing:
        raise UsageError(
            f"{path}: missing input(s) {missing}; the model's inputs are {sorted(wanted)}"
        )
    for name, vi in wanted.items():
        rank = len(vi.type.tensor_type.shape.dim)
        if data[name].ndim != rank:
            raise UsageError(
                f"{path}: input {name!r} has rank {data[name].ndim}, the model wants {rank}"
            )
    return {k: data[k] for k in wanted}


def compare(
    original: onnx.ModelProto,
    rewritten: onnx.ModelProto,
    feeds: dict[str, np.ndarray],
    source: str = "generated",
) -> Deviation:
    """Run both models on ``feeds`` and compare every output."""
    a = run_model(original, feeds)
    b = run_model(rewritten, feeds)
    return deviation(a, b, [o.name for o in original.graph.output], inputs=source)


def verify(
    original: onnx.ModelProto,
    rewritten: onnx.ModelProto,
    feeds: dict[str, np.ndarray] | None = None,
    source: str = "generated",
) -> Deviation:
    """checker(full_check) + ORT load and run + numerical comparison with the original."""
    check(rewritten)
    if feeds is None:
        feeds = make_inputs(original)
    return compare(original, rewritten, feeds, source)
