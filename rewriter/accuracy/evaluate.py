"""Evaluating assignments: the model rewritten by an assignment, and its output deviation.

An assignment maps site names to ``rewriter.candidates.Candidate``s; absent sites are kept.
``Evaluator`` runs the original once on the calibration batches and then any assignment (built
with ``rewriter.emit``) on the same batches, and returns a ``Deviation``: per graph output, all
batches concatenated and flattened to float64, ``cosine = a.b / (|a| |b|)``,
``rel_l2 = |b - a| / |a|``, ``max_abs``; the model's numbers are the worst over its outputs (min
cosine, max rel_l2, max max_abs), as in ``rewriter.verify``. With labels, ``accuracy`` is the
percentage of samples whose argmax over the last axis of the first output equals the label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx

from rewriter.candidates import Candidate
from rewriter.emit import emit
from rewriter.ir.runtime import run_session, session
from rewriter.verify import Deviation, accuracy_of, compared, deviation, pin_random_seeds

__all__ = ["Deviation", "Evaluator", "run_batches", "finite"]


def run_batches(
    model: onnx.ModelProto, batches: list[Mapping[str, np.ndarray]]
) -> list[np.ndarray]:
    """Every graph output over all batches, concatenated along axis 0 (flattened when ranks
    differ). Random ops get fixed seeds, as in verification, and one session draws on over the
    batches: two models draw alike while they draw as many numbers (a VITS candidate that makes
    a batch's waveform longer draws other noise on the batches after it, and is judged the
    worse for it; a session per batch would cost VITS 8 x 0.13 s per candidate evaluated).
    Verification runs each input on its own session (``rewriter.verify.compare``)."""
    model, _ = pin_random_seeds(model)
    sess = session(model)
    per: list[list[np.ndarray]] = []
    for b in batches:
        per.append(run_session(sess, b))
    res = []
    for k in range(len(per[0]) if per else 0):
        parts = [p[k] for p in per]
        if all(a.ndim >= 1 for a in parts) and len({a.shape[1:] for a in parts}) == 1:
            res.append(np.concatenate(parts, axis=0))
        else:
            res.append(np.concatenate([a.ravel() for a in parts]))
    return res


class Evaluator:
    """Runs assignments of one model on fixed calibration batches and caches their deviation.

    Args:
        model: the original model (ModelProto).
        pipeline: the pipeline whose sites the assignments name.
        batches: feed dicts (a ``Calibration`` iterates as such).
        labels: one label per sample (with ``accuracy``), or None.
    """

    def __init__(
        self, model: onnx.ModelProto, pipeline: str, batches: Any, labels: np.ndarray | None = None
    ) -> None:
        self.model, self.pipeline = model, pipeline
        self.batches = list(batches)
        self.labels = labels
        # outputs that pick are compared on what they pick by (``rewriter.verify.Compared``)
        self.compared = compared(model)
        self.reference = run_batches(self.compared.view(model), self.batches)
        real = self.reference[: len(self.compared.outputs)]
        self.base_accuracy = accuracy_of(real, labels) if labels is not None else None
        self._cache: dict[tuple[tuple[str, str], ...], Deviation] = {}

    @staticmethod
    def key(assignment: Mapping[str, Candidate]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, c.name) for k, c in assignment.items() if c.kind != "keep"))

    def build(self, assignment: Mapping[str, Candidate]) -> onnx.ModelProto:
        return emit(self.model, assignment, self.pipeline)

    def deviation(self, assignment: Mapping[str, Candidate]) -> Deviation:
        k = self.key(assignment)
        if k not in self._cache:
            if not k:
                self._cache[k] = Deviation([], self.base_accuracy)
            else:
                self._cache[k] = self.of(self.build(assignment))
        return self._cache[k]

    def of(self, model: onnx.ModelProto) -> Deviation:
        """The deviation of any model with the original's outputs (a retrained one) on the
        batches."""
        got = run_batches(self.compared.view(model), self.batches)
        cmp = self.compared if self.compared.picks else None  # names output_k as before
        return deviation(self.reference, got, labels=self.labels, compare=cmp)


def finite(v: float | None) -> float | None:
    """JSON-safe float: None for None/NaN/inf."""
    return None if v is None or not math.isfinite(v) else float(v)
