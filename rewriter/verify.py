"""Verify a rewritten model before it is written: checker, ONNX Runtime, numerics; and the one
output comparison (``Deviation``) every stage uses.

Per output: max-abs, relative L2, cosine, top-1 agreement along the last axis for logit-like
outputs, and for non-negative outputs (probabilities, masks) a relative error with an absolute
floor at 1e-6 of the output's peak (``rel_err``): it catches a probability map whose 1e-9
background became 1.9e-5 (rel_err ~19), which max-abs (1.9e-5) and rel-L2 hide. Where the
output's producer bounds it (a Sigmoid), the floor is at least 2^-22 of that range
(``RESOLUTION``): the runtime's own Sigmoid rounds there. Signed outputs cross zero, where a
relative error means nothing, so they have none.

What makes a comparison evidence, and what does not:

* An output that is constant on the inputs used proves nothing about it, nor does one that is the
  same in every sample of a batch to 1e-5 of its peak (it barely depends on the inputs):
  ``verify`` tries other seeds, and an output that stays so is marked ``checked=False`` with a
  note (a large difference on it is still reported: that is evidence of a broken rewrite).
* An output its producer bounds (a Sigmoid's [0, 1], a Tanh's [-1, 1], through ops that only
  move values) is constant too where its values span under 1e-6 of that range: a text
  detector's probability map on noise, a sigmoid's tail but for a few values of 1e-7 (PP-OCRv3's
  read "rel-L2 1, cosine 0.000000" and passed, under a noise floor of 1.1). On generated inputs,
  an output still constant after the other seeds is compared on a page of dark strokes on a
  light background (``page_of_strokes``: each image input at its own values' 1st and 99th
  percentiles), where a text detector finds something; each output's noise floor is measured
  on the inputs it was checked on.
* The model's own noise floor: the original is run again on its inputs moved by one part in
  10^6 (by one unit in the last place in a model that computes in float16 or bfloat16); the
  relative L2 change of each output is its ``floor`` (a dynamically quantized CRNN moves its
  logits by ~1% this way). ``Deviation.exceeds(tol)`` judges rel-L2 against
  ``tol + 3 * floor``, and the report says so. A floor above ``CHAOTIC`` (0.25) passes a
  broken rewrite: on generated inputs such an output is compared again on the float inputs
  scaled down by 4, then 16, where its floor is lower (``_calm``); one still above is not
  evidence.
* Random ops (RandomNormal/Uniform(Like), Multinomial, Bernoulli, Dropout) get the same pinned
  seed in both models for the comparison only; the written model is untouched.
* Outputs whose shapes depend on the data are compared only when the shapes agree; otherwise
  they are marked not checked, never a crash.
* Outputs that pick (``rewriter.ir.picks``: NonMaxSuppression's boxes, TopK's indices,
  ArgMax's labels, and what is gathered with them) change in steps. Where the picking ops
  chose the same items in both models (equal index outputs), such an output is compared as
  values and judged ("alike"); otherwise it is compared by agreement (``pick_diff``: how many of
  the original's items the rewritten model returns too), reported, and not judged; the computed
  tensors they pick by (the boxes and scores, the logits) are compared as values in their place
  (``Compared``), and those are what tolerances and accuracy budgets judge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper

from rewriter.errors import ModelError, UsageError
from rewriter.inputs import indicator_name
from rewriter.ir.graph import (
    all_initializers,
    all_nodes,
    draws_at_random,
    subgraph_attrs,
    training_dropout,
)
from rewriter.ir.io import is_large, model_file
from rewriter.ir.picks import FLOATS, STEPS, Pick, picks, with_outputs
from rewriter.ir.runtime import first_line, runner

__all__ = [
    "Deviation",
    "OutputDiff",
    "Compared",
    "compared",
    "unspecified_outputs",
    "pick_diff",
    "deviation",
    "accuracy_of",
    "predictions",
    "make_inputs",
    "compare",
    "Pair",
    "check",
    "verify",
    "worse_of",
    "worst_of",
    "DRAWS",
    "MORE_DRAWS",
    "load_inputs",
]


@dataclass
class OutputDiff:
    """One output of the rewritten model against the original's (see the module docstring)."""

    name: str
    max_abs: float
    rel_l2: float
    cosine: float
    rel_err: float | None = None
    top1: float | None = None
    floor: float | None = None
    checked: bool = True
    note: str = ""
    # outputs that pick (``pick_diff``): the share of items that agree, the item counts
    # (original, rewritten); "picks" for them, "source" for a tensor they pick by ("aside"
    # where it is not checked and every pick by it picked alike: no evidence was needed of it)
    agreement: float | None = None
    items: tuple[int, int] | None = None
    role: str = ""
    # which draw of the generated inputs (batch of the user's) it was judged on (``verify``:
    # its worst of ``DRAWS``)
    draw: int = 0


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

    notes: list[str] = field(default_factory=list)
    # If branches the rewrite changed: which other inputs ran them, and which no input ran
    # (``verify``: "else_branch of 'optimum::if'")
    branches_run: list[str] = field(default_factory=list)
    branches_not_run: list[str] = field(default_factory=list)
    # every judged output is the original's to the bit although the rewrite changed the graph:
    # its sites did not move them on these inputs (a Loop run 0 times), so nothing was verified
    unmoved: bool = False
    # a Dropout with a training_mode input (a model exported in training mode): its first node
    training_dropout: str = ""
    # why the original failed on other generated inputs (of the same sizes), which judge whether
    # an output depends on them: judged on the first inputs alone then
    refused_elsewhere: str = ""
    # how many draws of the generated inputs (batches of the user's) were judged, each output
    # on its worst (``verify``)
    draws: int = 1
    # judged on more draws than ``DRAWS``: the first left the verdict open (``unsettled``)
    widened: bool = False
    # per draw judged (``verify``), each output's noise floor there: the back-off judges each
    # draw against its own (not the report's)
    draw_floors: dict[int, dict[str, float | None]] = field(default_factory=dict, repr=False)

    @property
    def judged(self) -> list[OutputDiff]:
        """The outputs judged: checked, and not picking (those are judged on their sources)."""
        return [o for o in self.outputs if o.checked and o.role not in ("picks", "index")]

    def picked(self) -> str:
        """``'selected' 2 of 3 as before (3 -> 2 items), picked by NonMaxSuppression ...``, or
        ""."""
        parts = []
        for o in self.outputs:
            if o.role == "picks" and o.items is None:  # of another shape ("shape 1x7072 -> ...")
                parts.append(f"{o.name!r} {o.note}")
                continue
            if o.role not in ("picks", "alike") or o.agreement is None or o.items is None:
                continue
            na, nb = o.items
            same = round(o.agreement * max(na, nb))
            counts = f", {na} -> {nb} items" if na != nb else ""
            # an unchecked output's note is its reason, said once, under "not checked"
            why = ", ".join(x for x in (o.note if o.checked else "", counts[2:]) if x)
            parts.append(f"{o.name!r} {same} of {na} as before" + (f" ({why})" if why else ""))
        if not parts:
            return ""
        by = _listed([repr(o.name) for o in self.outputs if o.role == "source"])
        differ = [repr(o.name) for o in self.outputs if o.role == "picks"]
        return (
            "outputs that pick: "
            + ", ".join(parts)
            + (
                f"; picked otherwise, so judged on what they pick by ({by}), not "
                f"as values: {', '.join(differ)}"
                if differ
                else "; picked alike, so compared as values too"
            )
        )

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.judged), default=0.0)

    @property
    def rel_l2(self) -> float:
        return max((o.rel_l2 for o in self.judged), default=0.0)

    @property
    def cosine(self) -> float:
        return min((o.cosine for o in self.judged), default=1.0)

    @property
    def worst(self) -> OutputDiff | None:
        """The checked output with the largest relative L2 error (above its noise floor)."""
        return max(self.judged, key=lambda o: o.rel_l2 - 3 * (o.floor or 0.0), default=None)

    def exceeds(self, tolerance: float) -> bool:
        """Whether some checked output's rel-L2 error is above ``tolerance + 3 * floor``, or a
        non-negative output is wrong by more than its own value somewhere (``rel_err > 1``)."""
        return bool(self.over(tolerance))

    def over(self, tolerance: float) -> list[OutputDiff]:
        """The judged outputs outside ``tolerance`` (see ``exceeds``)."""
        return [
            o
            for o in self.judged
            if o.rel_l2 > tolerance + 3 * (o.floor or 0.0) or (o.rel_err or 0.0) > REL_ERR_LIMIT
        ]

    def unchecked(self) -> list[OutputDiff]:
        """The outputs not checked, with why (``note``); what picking ops picked (role
        "index") is compared only to see whether both models picked alike, and goes unsaid, as
        does a tensor picked by that no pick needed (role "aside": Parakeet's frame lengths,
        computed from its all-ones mask, "barely depend on the inputs" but pick alike)."""
        return [o for o in self.outputs if not o.checked and o.role not in ("index", "aside")]

    def summary(self) -> str:
        """One line for the terminal: the worst output's numbers and what was not checked."""
        w = self.worst
        # draws of generated inputs; batches of the user's data
        word, words = (
            ("draw", "draws") if self.inputs.startswith("generated") else ("batch", "batches")
        )
        inputs = self.inputs + (f", {self.draws} {words}" if self.draws > 1 else "")
        if self.widened:  # the first DRAWS were near the tolerance, or far apart
            inputs += f" (more than {DRAWS}: the first {DRAWS} left the verdict open)"
        if w is None:
            line = f"verification (inputs: {inputs}): no output could be checked"
        else:
            floor = f", noise floor {w.floor:.2g}" if w.floor else ""
            top1 = f", top-1 agreement {w.top1:.1%}" if w.top1 is not None else ""
            rel = max((o.rel_err for o in self.judged if o.rel_err is not None), default=None)
            rel_s = (
                f"; largest rel-err of a non-negative output {rel:.3g}" if rel is not None else ""
            )
            on = f" ({word} {w.draw + 1} of {self.draws})" if self.draws > 1 else ""
            line = (
                f"verification (inputs: {inputs}): worst output {w.name!r}{on}: max-abs "
                f"{w.max_abs:.3g}, rel-L2 {w.rel_l2:.3g}{floor}, cosine {w.cosine:.6f}{top1}{rel_s}"
            )
            if w.note.startswith("checked on"):  # not on the inputs the line names
                line += f" ({w.note})"
        picked = self.picked()
        if picked:
            line += "; " + picked
        if self.branches_run:
            line += "; also run on generated inputs: " + ", ".join(self.branches_run)
        if self.branches_not_run:
            line += (
                "; NOT RUN by any input tried, though sites there were replaced: "
                + ", ".join(self.branches_not_run)
                + " (pass --inputs that take them)"
            )
        if self.training_dropout:
            line += (
                f"; Dropout {self.training_dropout!r} may run in training mode (random at every "
                "run; compared with the same seeds): export the model after model.eval()"
            )
        if self.unmoved:
            line += (
                "; every output is the original's to the bit: the replaced sites did not move "
                "them on these inputs (did they run?), so this verifies nothing: pass --inputs "
                "that run them"
            )
        if self.refused_elsewhere:
            line += (
                f"; the original fails on other values at these sizes ({self.refused_elsewhere}): "
                "judged on these inputs alone (pass --inputs with data like yours)"
            )
        skipped = self.unchecked()
        if skipped:
            line += "; not checked: " + _grouped(skipped)
            if w is None and self.inputs.startswith("generated"):
                line += "; pass --inputs with data like yours to check it"
        if self.checker != "passed":
            line += f"; onnx.checker: {self.checker}"
        return line

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("draw_floors")
        w = self.worst
        d.update(
            max_abs=self.max_abs,
            rel_l2=self.rel_l2,
            cosine=self.cosine,
            worst_output=w.name if w is not None else None,
        )
        return d


REL_FLOOR = 1e-6  # rel_err's absolute floor, relative to the output's peak
# and, for an output its producer bounds, relative to the width of that range: a float32
# runtime resolves such values to a few units in the last place of the range, not of the value
# (ONNX Runtime's Sigmoid steps by 2^-25 near 0, and at x = -17 reads 8.9e-8 for 4.1e-8); below
# that the original's own values are rounding, and one step between the models read rel_err 68
# to 341
RESOLUTION = 2.0**-22
REL_ERR_LIMIT = 1.0  # a non-negative output wrong by more than its own value (+ floor) fails


def output_diff(
    name: str, a: np.ndarray, b: np.ndarray, classes: bool = True, span: float | None = None
) -> OutputDiff:
    """max-abs, relative L2 (to ``a``), cosine, floored relative error and top-1 agreement of
    ``b`` against ``a``, in float64. Arrays of different shapes are not compared. ``classes``:
    whether the last axis may hold classes (``class_axes``); top-1 agreement only then.
    ``span``: the width of the range the output's producer bounds it to (``RESOLUTION``)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return OutputDiff(
            name, 0.0, 0.0, 1.0, checked=False, note=f"shapes differ: {a.shape} vs {b.shape}"
        )
    if a.dtype.kind not in "fiub" or a.size == 0:
        same = bool(np.array_equal(a, b))
        return OutputDiff(name, 0.0 if same else math.inf, 0.0 if same else math.inf, 1.0)
    a64 = a.astype(np.float64).ravel()
    b64 = b.astype(np.float64).ravel()
    finite, note = np.isfinite(a64), ""
    if not finite.all():  # NaN compares as neither close nor far: every bound passed on it
        if not finite.any():
            return OutputDiff(
                name, 0.0, 0.0, 1.0, checked=False,
                note="NaN/inf everywhere in the original's output on the inputs used; not evidence",
            )  # fmt: skip
        note = f"compared where the original is finite ({int(finite.sum())} of {finite.size})"
        a64, b64 = a64[finite], b64[finite]
    if not np.isfinite(b64).all():
        return OutputDiff(
            name, math.inf, math.inf, 0.0, note="NaN/inf where the original's output is finite"
        )
    d = b64 - a64
    na, nb = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
    rel = float(np.linalg.norm(d)) / na if na > 0 else float(np.linalg.norm(d))
    cos = float(a64 @ b64) / (na * nb) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)
    peak = float(np.max(np.abs(a64)))
    rel_err = None
    if peak > 0 and float(np.min(a64)) >= 0.0:  # probabilities, masks: relative error matters
        floor = max(REL_FLOOR * peak, RESOLUTION * (span or 0.0))
        rel_err = float(np.max(np.abs(d) / (np.abs(a64) + floor)))
    top1 = None
    if classes and a.dtype.kind == "f" and a.ndim >= 2 and a.shape[-1] >= 2 and not note:
        top1 = float(np.mean(a.argmax(axis=-1) == b.argmax(axis=-1)))
    return OutputDiff(name, float(np.max(np.abs(d))), rel, cos, rel_err, top1, note=note)


def _listed(names: list[str], shown: int = 4) -> str:
    """``names`` comma-separated, the first ``shown`` and "and N more" where more than two
    more: a two-stage detector picks by 16 tensors, SSDLite gathers 180 (the report keeps
    every name)."""
    if len(names) <= shown + 2:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _grouped(skipped: list[OutputDiff]) -> str:
    """The outputs not checked, grouped by why, a few names a reason (``_listed``)."""
    by_note: dict[str, list[str]] = {}
    for o in skipped:
        by_note.setdefault(o.note, []).append(o.name)
    return ", ".join(f"{_listed(names)} ({note})" for note, names in by_note.items())


# a picked float item (a gathered box) is the original's where it is within this much of the
# output's peak, everywhere: rationals move boxes by ~1e-5 of it, a swapped box moves by ~1e-1
PICK_TOLERANCE = 1e-3


def _items(a: np.ndarray) -> np.ndarray:
    """An output as a list of items: rows along its first axis, or its elements. No rows (a
    detector that kept no box) is an empty list of items of the row's size."""
    return a.reshape(a.shape[0], math.prod(a.shape[1:])) if a.ndim >= 2 else a.reshape(-1, 1)


def _matched(a: np.ndarray, b: np.ndarray, tol: float) -> int:
    """How many items of ``a`` have their own item in ``b`` (in any order; each used once):
    equal for integers and strings, within ``tol`` everywhere for floats."""
    from collections import Counter

    if a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":  # strings (a LabelEncoder's)
        return sum((Counter(map(tuple, a.tolist())) & Counter(map(tuple, b.tolist()))).values())
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        left = Counter(map(bytes, np.ascontiguousarray(a.astype(np.int64))))
        right = Counter(map(bytes, np.ascontiguousarray(b.astype(np.int64))))
        return sum((left & right).values())
    a, b = a.astype(np.float64), b.astype(np.float64)
    if not len(a) or not len(b):
        return 0
    if a.shape[1] == 1:  # single values: sorted, matched in one sweep (a maximum matching)
        x, y = np.sort(a[:, 0]), np.sort(b[:, 0])
        i = j = count = 0
        while i < len(x) and j < len(y):
            if abs(x[i] - y[j]) <= tol:
                i, j, count = i + 1, j + 1, count + 1
            elif x[i] < y[j]:
                i += 1
            else:
                j += 1
        return count
    used = np.zeros(len(b), bool)
    count = 0
    if len(a) * len(b) > _PAIRS:  # a VITS waveform's rows over 8 batches: 3e9 pairs
        from scipy.spatial import cKDTree

        k = min(8, len(b))
        dist, idx = cKDTree(b).query(a, k=k, p=np.inf, distance_upper_bound=tol)
        for ds, js in zip(dist.reshape(len(a), k), idx.reshape(len(a), k), strict=True):
            free = [int(j) for d, j in zip(ds, js, strict=True) if d <= tol and not used[j]]
            if free:  # the nearest unused of the 8 nearest within tol
                used[free[0]] = True
                count += 1
        return count
    for row in a:  # greedy: the nearest unused item within tol
        far = np.max(np.abs(b - row), axis=1)
        far[used] = np.inf
        k = int(np.argmin(far))
        if far[k] <= tol:
            used[k] = True
            count += 1
    return count


# item pairs above which float items are matched through a k-d tree, not all against all
_PAIRS = 4_000_000


def pick_diff(name: str, a: np.ndarray, b: np.ndarray, pick: Pick) -> OutputDiff:
    """An output that picks (``rewriter.ir.picks``), compared by agreement: the share of the
    original's items that the rewritten model returns too, of the larger count. Items are
    matched in any order where the count depends on the data (NonMaxSuppression's rows), else
    in place (labels, TopK indices); float items within ``PICK_TOLERANCE`` of the peak. The
    numbers (max-abs, ...) are filled in where the shapes agree; they are not judged."""
    a, b = np.asarray(a), np.asarray(b)
    same_shape = a.shape == b.shape
    d = output_diff(name, a, b, classes=False) if same_shape else OutputDiff(name, 0.0, 0.0, 1.0)
    d.note = f"by {', '.join(pick.ops)}"
    d.role = "picks"
    if not same_shape and a.shape[1:] != b.shape[1:]:  # a waveform's length: no items match
        from rewriter.inputs import shape_text

        d.note = f"shape {shape_text(a.shape)} -> {shape_text(b.shape)}, {d.note}"
        d.agreement = 0.0
        return d
    peak = float(np.max(np.abs(a))) if a.size and a.dtype.kind in "fiu" else 0.0
    tol = PICK_TOLERANCE * peak if a.dtype.kind == "f" else 0.0
    if pick.counted or not same_shape:
        ia, ib = _items(a), _items(b)
        same = _matched(ia, ib, tol) if ia.shape[1:] == ib.shape[1:] else 0
        n, d.items = max(len(ia), len(ib)), (len(ia), len(ib))
    else:  # in place, element by element (a LabelEncoder's names of what was picked: equal)
        numeric = a.dtype.kind in "fiub" and b.dtype.kind in "fiub"
        close = np.abs(a.astype(np.float64) - b.astype(np.float64)) <= tol if numeric else a == b
        same, n, d.items = int(np.sum(close)), a.size, (a.size, b.size)
    d.agreement = same / n if n else 1.0
    d.role = "picks"
    return d


@dataclass(frozen=True)
class Compared:
    """What comparing a model runs: its graph outputs, then the computed tensors that its
    picking outputs pick by (``rewriter.ir.picks``), then what the picking ops picked (their
    index outputs). Where both models picked alike, a picking output is compared as values;
    otherwise by agreement, and the tensors picked by are judged in its place. Without picking
    outputs, just the graph outputs."""

    outputs: tuple[str, ...]
    picks: dict[str, Pick]
    sources: tuple[str, ...]
    indices: tuple[str, ...] = ()
    # output -> the width of the range its producer bounds it to (``bounded_spans``)
    spans: Mapping[str, float] = field(default_factory=dict)
    # output -> why ONNX Runtime leaves part of it unspecified (``unspecified_outputs``): no
    # evidence
    unspecified: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.outputs, *self.sources, *self.indices]

    def view(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """``model`` with the sources and indices added as outputs (``model`` itself when there
        are none)."""
        return with_outputs(model, [*self.sources, *self.indices])

    @property
    def after(self) -> dict[str, tuple[str, ...]]:
        """A source -> the indices of the picks it is computed after (``Pick.after``)."""
        out: dict[str, tuple[str, ...]] = {}
        for p in self.picks.values():
            for src, ups in p.after:
                out[src] = tuple(dict.fromkeys((*out.get(src, ()), *ups)))
        return out

    def roles(self) -> dict[str, str]:
        """name -> "picks" for the picking outputs, "source" for the tensors they pick by,
        "index" for what the picking ops picked."""
        out = {s: "index" for s in self.indices}
        out.update({s: "source" for s in self.sources})
        out.update({p.output: "picks" for p in self.picks.values()})
        return out


def compared(model: onnx.ModelProto) -> Compared:
    """The ``Compared`` of ``model``: the picking outputs of its graph, their sources and
    indices (those that are not graph outputs already)."""
    outs = tuple(o.name for o in model.graph.output)
    found = picks(model)
    sources = tuple(
        dict.fromkeys(s for p in found.values() for s in p.sources if s not in set(outs))
    )
    have = set(outs) | set(sources)
    indices = tuple(dict.fromkeys(i for p in found.values() for i in p.indices if i not in have))
    spans = {n: w for n, w in zip(outs, bounded_spans(model, outs), strict=True) if w}
    return Compared(outs, found, sources, indices, spans, unspecified_outputs(model))


def deviation(
    reference: Sequence[np.ndarray],
    got: Sequence[np.ndarray],
    names: Sequence[str] | None = None,
    *,
    labels: np.ndarray | None = None,
    inputs: str = "generated",
    classes: Sequence[bool] | None = None,
    compare: Compared | None = None,
) -> Deviation:
    """Compare ``got`` with ``reference`` output by output (see ``Deviation``).

    With ``labels``, ``accuracy`` is the percent of samples whose predicted class
    (``predictions``) equals the label. ``classes``: per output, whether top-1 agreement means
    something (``class_axes``; default: for every output). ``compare``: the ``Compared`` the
    arrays were run with (``Compared.names``, in that order): picking outputs are compared by
    agreement, the tensors they pick by as values, and what ONNX Runtime leaves unspecified
    (``Compared.unspecified``) not at all.
    """
    if compare is not None and names is None:
        names = compare.names
    names = list(names) if names is not None else [f"output_{k}" for k in range(len(reference))]
    flags = list(classes) if classes is not None else [True] * len(names)
    flags += [False] * (len(names) - len(flags))  # the sources appended after the outputs
    roles = compare.roles() if compare is not None else {}
    after = compare.after if compare is not None else {}
    spans = compare.spans if compare is not None else {}
    at = {n: k for k, n in enumerate(names)}
    outs = []
    for n, a, b, c in zip(names, reference, got, flags, strict=True):
        role = roles.get(n, "")
        if role == "picks" and compare is not None:
            p = compare.picks[n]
            alike = np.shape(a) == np.shape(b) and all(
                i in at and np.array_equal(reference[at[i]], got[at[i]]) for i in p.indices
            )
            if not alike:
                outs.append(pick_diff(n, a, b, p))
                continue
            o = output_diff(n, a, b, c, spans.get(n))  # picked alike: judged as values
            if not set(p.ops) <= STEPS:  # a cast to the same integers goes unsaid
                keep = pick_diff(n, a, b, p)
                o.agreement, o.items, o.role = keep.agreement, keep.items, "alike"
                o.note = "; ".join(x for x in (o.note, f"picked alike {keep.note}") if x)
            outs.append(o)
            continue
        if role == "source" and _picked_otherwise(
            after.get(n, ()), at, reference, got
        ):  # computed on other items: not comparable in place
            o = OutputDiff(n, 0.0, 0.0, 1.0, checked=False, role=role,
                           note="computed after a pick that differs, on other items; judged on "
                           "what that pick picks by")  # fmt: skip
        else:
            o = output_diff(n, a, b, c and role not in ("source", "index"), spans.get(n))
            o.role = role
        outs.append(o)
    for o in outs:  # by its op, not by a draw whose two runs happen to agree
        if compare is not None and o.name in compare.unspecified and o.checked:
            o.checked, o.note = False, compare.unspecified[o.name]
    real = len(compare.outputs) if compare is not None else len(got)
    acc = accuracy_of(list(got)[:real], labels) if labels is not None and len(got) else None
    return Deviation(outs, acc, inputs)


def _picked_otherwise(
    indices: Sequence[str],
    at: Mapping[str, int],
    reference: Sequence[np.ndarray],
    got: Sequence[np.ndarray],
) -> list[str]:
    """Those of ``indices`` (what picking ops picked) the two models picked differently."""
    return [i for i in indices if i in at and not np.array_equal(reference[at[i]], got[at[i]])]


def predictions(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """The predicted class of each sample, from the first output that gives one: integer labels
    (one per sample, ``[N]`` or ``[N, 1]``: what scikit-learn classifiers converted by skl2onnx
    return first) are the prediction; class scores (float ``[..., classes]``, logits or
    probabilities, a ZipMap's maps as ``[N, classes]``) give their argmax over the last axis.

    Raises:
        UsageError: no output gives one class per sample.
    """
    for o in outputs:
        a = np.asarray(o)
        if a.dtype.kind in "iu" and (a.ndim == 1 or (a.ndim == 2 and a.shape[-1] == 1)):
            return a.ravel()
        if a.dtype.kind == "f" and a.ndim >= 2 and a.shape[-1] >= 2:
            return a.argmax(axis=-1).ravel()
    shapes = ", ".join(f"{np.asarray(o).dtype}{list(np.shape(o))}" for o in outputs)
    raise UsageError(
        f"labels: no output gives a class per sample (outputs {shapes}); accuracy needs class "
        "scores [N, classes] or integer labels [N] (drop the labels to compare outputs only)"
    )


def accuracy_of(outputs: np.ndarray | Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Percent of samples whose predicted class (``predictions``: of one output array, or of
    the first output of a list that gives one) equals the label."""
    pred = predictions([outputs] if isinstance(outputs, np.ndarray) else list(outputs))
    lab = np.asarray(labels).ravel()
    if pred.shape != lab.shape:
        raise UsageError(
            f"labels: {lab.size} labels for {pred.size} predictions (argmax of the class scores "
            "over their last axis); pass one label per sample"
        )
    return float(np.mean(pred == lab) * 100.0)


def _checker_error(model: onnx.ModelProto) -> str | None:
    try:
        if is_large(model):  # over protobuf's 2 GiB: the checker reads it from a file
            with model_file(model) as path:
                onnx.checker.check_model(path, full_check=True)
        else:
            onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        return first_line(e, 1000)
    return None


def check(model: onnx.ModelProto, original: onnx.ModelProto | None = None) -> str:
    """onnx.checker with full_check (strict shape inference): ``passed``, else ModelError.

    Where ``original`` (the model it was rewritten from) fails the checker with the same
    message, the fault is the input's (an input declared without a shape, which ONNX Runtime
    runs): that is returned as the checker's verdict instead, and running the model is the
    check that is left."""
    err = _checker_error(model)
    if err is None:
        return "passed"
    if original is not None:
        was = _checker_error(original)
        if was == err:
            return f"fails as the input model does ({err})"
        if was is not None:
            err += f" (the input model fails it too, with: {was})"
    raise ModelError(f"model fails onnx.checker: {err}")


def make_inputs(
    model: onnx.ModelProto,
    seed: int = 0,
    low: float | None = None,
    high: float | None = None,
    *,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    sizes: dict[str, int] | None = None,
    unit: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Seeded inputs the model accepts, derived from its graph (``rewriter.inputs``); ``low`` and
    ``high`` set one value range for every float input; ``sizes`` (``GeneratedInputs.sizes``)
    skips probing, with ``unit`` (``GeneratedInputs.unit``) its images in [0, 1)."""
    from rewriter.inputs import generate_inputs

    if low is not None and high is not None:
        ranges = {"": (low, high), **(ranges or {})}
    return generate_inputs(
        model, shapes=shapes, ranges=ranges, seed=seed, sizes=sizes, unit=unit
    ).feeds


def load_inputs(path: str, model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Read ``--inputs data.npz`` (arrays keyed by input name): names checked, then each array
    as calibration data is (rank, static dims, dtype: an int32 array for an int64 input or a
    float64 one for float32 is cast; a float array for an integer input is refused)."""
    from rewriter.calibrate import check_array, read_arrays

    try:
        data = read_arrays(path)
    except UsageError:
        raise
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
    return {
        name: check_array(path, name, data[name], vi, stacked=False)[0]
        for name, vi in wanted.items()
    }


def pin_random_seeds(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` whose random ops all have a fixed ``seed`` attribute (graph order), so
    two models with the same random ops draw the same numbers; and how many were pinned.
    Without random ops, ``model`` itself (not copied, never modified).

    Dropout is deterministic in inference mode; with a training-mode input it is random too, and
    its seed is pinned the same way.
    """

    if not any(draws_at_random(n) for n in all_nodes(model.graph)):  # no copy (BERT-base: 400 MB)
        return model, 0
    m = onnx.ModelProto()
    m.CopyFrom(model)
    count = 0
    for n in all_nodes(m.graph):
        if draws_at_random(n):
            keep = [a for a in n.attribute if a.name != "seed"]
            del n.attribute[:]
            n.attribute.extend(keep)
            # Dropout's seed is an int, the random generators' a float: a float seed made
            # a model exported in training mode invalid ("Mismatched attribute type ... seed")
            seed = 1000 + count
            n.attribute.append(
                helper.make_attribute("seed", seed if n.op_type == "Dropout" else float(seed))
            )
            count += 1
    return m, count


def _resolution(model: onnx.ModelProto) -> float:
    """How far the noise floor moves the inputs, relative: one part in 10^6, or one unit in
    the last place where the model computes in a half-precision type (float16 inputs, or a
    float16 converter's casts inside): a move of 1e-6 rounds away there (2^-10 apart in
    float16) and every output's floor read 0. Weights stored in float16 and cast to float32
    are no half-precision computing."""
    half = {onnx.TensorProto.FLOAT16: 2.0**-10, onnx.TensorProto.BFLOAT16: 2.0**-7}
    types = [v.type.tensor_type.elem_type for v in model.graph.input]
    for n in all_nodes(model.graph):
        types += [a.i for a in n.attribute if n.op_type == "Cast" and a.name == "to"]
    return max([1e-6, *(half[t] for t in types if t in half), _steps(model)])


def _steps(model: onnx.ModelProto) -> float:
    """2^-12 where the model quantizes computed values to 8 bits with fixed scales (a static
    QDQ model's QuantizeLinear), else 0. A move of 1e-6 rounds away at its first quantizer and
    every output's floor read 0, while a rational within 2e-4 of an activation flips the step
    of a value near a rounding boundary now and then downstream (rel-L2 0.02 on a QDQ CNN
    2.5% from its float model), and every site was backed off. A move of 2^-12 relative, a few
    hundredths of a step, flips the values nearest their boundaries as that does. Weights
    quantized ahead (a QuantizeLinear of an initializer) are no 8-bit computing; dynamic
    quantization (DynamicQuantizeLinear) moves its scales with any move of its inputs, and its
    floor reads so at 1e-6."""
    inits = {t.name: t.data_type for t in all_initializers(model.graph)}
    consts = set(inits) | {o for n in all_nodes(model.graph) if n.op_type == "Constant" for o in n.output}  # fmt: skip
    eight = (0, onnx.TensorProto.UINT8, onnx.TensorProto.INT8)  # 0: unsaid, uint8
    for n in all_nodes(model.graph):
        if n.op_type == "QuantizeLinear" and n.input and n.input[0] not in consts:
            to = next((a.i for a in n.attribute if a.name == "output_dtype"), 0)
            to = to or (inits.get(n.input[2], 0) if len(n.input) > 2 else 0)  # the zero point's
            if to in eight:
                return 2.0**-12
    return 0.0


def _perturbed(feeds: dict[str, np.ndarray], scale: float = 1e-6) -> dict[str, np.ndarray]:
    """Float inputs moved by ``scale`` relative (seeded), whole non-negative values upward
    only; other inputs, and masks and padding indicators by name, as they are. A float a model
    casts to an index (Pix2Struct's patch rows and columns) truncates: 3 moved down is
    2.999997, index 2, and the floor read 0.99, a tolerance nothing exceeds."""
    rng = np.random.default_rng(12345)
    out = {}
    for k, v in feeds.items():
        v = np.asarray(v)
        if v.dtype.kind == "f" and v.size and not indicator_name(k):
            step = scale * (np.abs(v) + 1e-3 * float(np.max(np.abs(v)) or 1.0))
            sign = rng.choice([-1.0, 1.0], size=v.shape)
            sign = np.where((v >= 0) & (v == np.floor(v)), 1.0, sign)
            # an array for a scalar too: arithmetic on a 0-d array gives a numpy scalar, which
            # ONNX Runtime refuses ("Unable to handle object of type <class 'numpy.float32'>")
            out[k] = np.asarray(v + step * sign, v.dtype)
        else:
            out[k] = v
    return out


def unspecified_outputs(model: onnx.ModelProto) -> dict[str, str]:
    """``output -> why`` for the graph outputs ONNX Runtime leaves partly unspecified: the
    present cache of a com.microsoft GroupQueryAttention with a window-sized cache
    (``sliding_window_cache=1``), whose rows after those holding positions keep whatever the
    buffer held (Gemma 2's and gpt-oss's sliding layers: 3.7e19 in one session, other values
    in the next)."""
    why = (
        "a window-sized attention cache: ONNX Runtime leaves its rows past the positions it "
        "holds unspecified; not evidence"
    )
    out: dict[str, str] = {}
    for n in model.graph.node:
        windowed = any(a.name == "sliding_window_cache" and a.i for a in n.attribute)
        if n.domain == "com.microsoft" and n.op_type == "GroupQueryAttention" and windowed:
            out.update((o, why) for o in n.output[1:3] if o)
    graph_outputs = {o.name for o in model.graph.output}
    return {o: w for o, w in out.items() if o in graph_outputs}


CHAOTIC = 0.25  # a noise floor above it admits an output as far off as a broken rewrite's


def _scaled_down(feeds: dict[str, np.ndarray], by: int) -> dict[str, np.ndarray] | None:
    """``feeds`` with every float input divided by ``by``, but masks and indicators (by name,
    or values all 0 and 1); None where no input changes."""
    out, changed = dict(feeds), False
    for k, v in feeds.items():
        v = np.asarray(v)
        if v.dtype.kind == "f" and v.size and not indicator_name(k) and not np.isin(v, (0, 1)).all():  # fmt: skip
            out[k], changed = np.asarray(v / by, v.dtype), True
    return out if changed else None


def _calm(
    dev: Deviation,
    feeds: dict[str, np.ndarray],
    generated: bool,
    run_orig: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
    run_new: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
    diff: Callable[[int, np.ndarray, np.ndarray], OutputDiff],
    resolution: float,
) -> None:
    """Outputs whose noise floor is above ``CHAOTIC``: inputs moved by one part in 10^6 move
    them as much as a broken rewrite would, and ``tol + 3 * floor`` passed anything (an int8
    T5 decoder's logits on standard-normal ``encoder_hidden_states``, seven times a trained
    encoder's scale: floor 1.2, and a rewrite at cosine 0.17 passed). On generated inputs such
    an output is compared again on the float inputs scaled down by 4, then 16, where its floor
    is lower (the decoder's: 0.061 at 1/4); one still above is not evidence."""
    wild = [k for k, o in enumerate(dev.outputs) if o.checked and (o.floor or 0.0) > CHAOTIC]
    for by in (4, 16) if generated else ():
        calm = _scaled_down(feeds, by) if wild else None
        if calm is None:
            break
        try:
            outs, news = run_orig(calm), run_new(calm)
            moved = run_orig(_perturbed(calm, resolution))
        except ModelError:  # values the graph baked in: judged on the first inputs
            break
        for k in list(wild):
            was, o = dev.outputs[k], diff(k, outs[k], news[k])
            o.floor = output_diff(was.name, outs[k], moved[k]).rel_l2
            if o.checked and o.floor < (was.floor or 0.0):
                o.note = f"checked on the float inputs scaled by 1/{by}: noise floor {was.floor:.2g} on the first"  # fmt: skip
                dev.outputs[k] = o
                if o.floor <= CHAOTIC:
                    wild.remove(k)
    for k in wild:
        o = dev.outputs[k]
        o.checked = False
        o.note = (
            f"moves by rel-L2 {o.floor:.2g} where its inputs move by {resolution:g} relative "
            "(a noise floor that passes anything); not evidence"
        )


def page_of_strokes(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """``feeds`` with every image (a 4-d float array of 1 or 3 channels, first or last, at
    least 16 x 16) drawn as a page of dark strokes in rows on a light background, at its own
    values' 1st and 99th percentiles (standard normal: about -2.3 and 2.3; pixels in [0, 255):
    2.5 and 252); None without an image. Noise shows a text detector nothing to find: its
    probability map is a sigmoid's tail everywhere, which proves nothing about the rewrite."""
    out, drawn = dict(feeds), False
    for name, v in feeds.items():
        if v.ndim != 4 or v.dtype.kind != "f" or v.size == 0:
            continue
        last = v.shape[3] in (1, 3) and v.shape[1] not in (1, 3)
        if not (last or v.shape[1] in (1, 3)):
            continue
        h, w = (v.shape[1], v.shape[2]) if last else (v.shape[2], v.shape[3])
        if min(h, w) < 16:
            continue
        dark, light = np.percentile(v, [1.0, 99.0])
        rng = np.random.default_rng(0)
        page = np.full((h, w), light, np.float64)
        line = max(4, h // 12)  # a glyph's height; rows a line apart
        for top in range(line // 2, h - line, 2 * line):
            x = int(rng.integers(0, line))
            while x < w - line:
                width = int(rng.integers(max(1, line // 4), line + 1))
                page[top : top + line, x : x + max(1, line // 4)] = dark  # a stem
                page[top + line // 2 - 1 : top + line // 2 + 1, x : x + width] = dark  # a bar
                x += width + int(rng.integers(1, line))
        image = np.broadcast_to(page[None, :, :, None] if last else page[None, None], v.shape)
        out[name], drawn = np.ascontiguousarray(image, dtype=v.dtype), True
    return out if drawn else None


def _constant(a: np.ndarray, span: float | None = None) -> bool:
    """All zero, or (more than one element) all equal: such an output shows nothing. With the
    ``span`` of the range the output's producer bounds it to (``bounded_spans``), one whose
    values all lie within ``FLAT * span`` of each other is constant too: a text detector's
    probability map on a text-free image, 0 but for a few values of 1e-7."""
    a = np.asarray(a)
    if a.size == 0:
        return True
    if a.dtype.kind not in "fiub":
        return False
    if bool(np.all(a == 0)) or (a.size > 1 and bool(np.all(a == a.flat[0]))):
        return True
    if span is None or a.size < 2 or a.dtype.kind != "f" or not np.all(np.isfinite(a)):
        return False  # one value has no spread to judge (a pose model's presence score)
    return float(np.max(a)) - float(np.min(a)) <= FLAT * span


# an output bounded by its producer is constant where it spans under this much of its range
FLAT = 1e-6
# the range each op bounds its output to (the width of it)
_SPANS = {"Sigmoid": 1.0, "HardSigmoid": 1.0, "Softmax": 1.0, "Tanh": 2.0, "Softsign": 2.0}
# ops that move values without changing them
_MOVES = {"Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice",
          "Gather", "Expand", "Split"}  # fmt: skip


def held_by_outputs(model: onnx.ModelProto) -> dict[str, str]:
    """``tensor -> model output`` for the tensors whose values a model output holds: followed
    back through ops that only move values and into each branch of an If (a wake-word head
    returns its sigmoid's score, or its verifier's where the score passes a threshold)."""
    producer = {o: n for n in all_nodes(model.graph) for o in n.output if o}
    held: dict[str, str] = {}
    for out in model.graph.output:
        todo = [out.name]
        while todo:
            name = todo.pop()
            if name in held:
                continue
            held[name] = out.name
            node = producer.get(name)
            if node is None:
                continue
            if node.op_type in _MOVES:
                todo.append(node.input[0])
            elif node.op_type == "If":
                k = list(node.output).index(name)
                todo += [g.output[k].name for _, g in subgraph_attrs(node) if k < len(g.output)]
    return held


def bounded_spans(model: onnx.ModelProto, names: Sequence[str]) -> list[float | None]:
    """Per name, the width of the range its producer bounds it to (a Sigmoid's 1, a Tanh's 2),
    through ops that only move values (Reshape, Transpose, ...); None where nothing bounds it."""
    producer = {o: n for n in model.graph.node for o in n.output if o}
    spans: list[float | None] = []
    for name in names:
        node = producer.get(name)
        while node is not None and node.op_type in _MOVES:
            node = producer.get(node.input[0])
        spans.append(_SPANS.get(node.op_type) if node is not None else None)
    return spans


def _insensitive(a: np.ndarray) -> bool:
    """A batched float output whose samples are all the same to 1e-5 of its peak: it barely
    depends on the inputs (a random-init net whose activations vanished, a constant head), so
    agreeing with it shows nothing about the sites before it."""
    a = np.asarray(a)
    if a.dtype.kind != "f" or a.ndim < 1 or a.shape[0] < 2 or not np.all(np.isfinite(a)):
        return False
    peak = float(np.max(np.abs(a)))
    return peak > 0 and float(np.max(np.abs(a - a[:1]))) <= 1e-5 * peak


def class_axes(model: onnx.ModelProto) -> list[bool]:
    """Per output: whether its last axis may hold classes, so top-1 agreement means something.
    A last axis the model declares dynamic (a named or unnamed dim: time, width) does not; an
    audio codec's embedding ``[1, 32, T]`` showed "top-1 agreement 52.1%" at cosine 0.9991.
    Nor does an output named as features (hidden states, embeddings, a KV cache's ``present``, a
    streaming encoder's ``cache_last_time_next``),
    nor one whose last axis was joined from parts (``joined``: a detector's levels)."""
    producer = {o: n for n in model.graph.node for o in n.output if o}
    consts = {t.name for t in model.graph.initializer} | {
        o for n in model.graph.node if n.op_type == "Constant" for o in n.output
    }

    def upstream(name: str, follow: Callable[[onnx.NodeProto], Sequence[str]]) -> Iterator[Any]:
        """The nodes behind ``name``, nearest first, each once (at most 64), going on through
        the non-constant inputs ``follow(node)`` names."""
        todo, seen = [name], set[int]()
        while todo and len(seen) < 64:
            n = producer.get(todo.pop())
            if n is None or id(n) in seen:
                continue
            seen.add(id(n))
            yield n
            todo.extend(i for i in follow(n) if i and i not in consts)

    def joined(name: str, rank: int) -> bool:
        """The last axis was made by a Concat along it, past ops that keep every axis in
        place: a fixed-size Ultralytics YOLO's ``output0`` [1, 84, 2100] joins its three
        levels' anchors there (``Concat(axis=-1)`` under the Sigmoid of the class scores), and
        read "top-1 agreement 89.3%": the argmax over anchors of each box coordinate and
        class, not a class per anchor."""

        def follow(n: onnx.NodeProto) -> Sequence[str]:
            axis = _axis(n)
            if n.op_type in _AXES_KEPT or (
                n.op_type in ("Concat", "Softmax", "LogSoftmax", "Split")
                and axis is not None
                and axis % rank != rank - 1
            ):
                return n.input
            return n.input[:1] if n.op_type == "Slice" else []

        for n in upstream(name, follow):
            axis = _axis(n)
            if n.op_type == "Concat" and axis is not None and axis % rank == rank - 1:
                return len(n.input) > 1
        return False

    def pooled(name: str) -> bool:
        """Made by a pooling or a normalization (past reshapes): features, not scores."""
        n = producer.get(name)
        for _ in range(8):
            if n is None or n.op_type not in _RESHAPES:
                break
            n = producer.get(n.input[0]) if n.input else None
        return n is not None and n.op_type in _FEATURE_OPS

    def gridded(name: str) -> bool:
        """Made by a convolution or a resize, past ops that keep every axis in place: its last
        axis is a width. A diffusion UNet exported at a fixed 16x16 latent ([2, 4, 16, 16],
        its last op a Conv) read "top-1 agreement 100.0%", the argmax along each row."""
        kept = upstream(name, lambda n: n.input if n.op_type in _AXES_KEPT else [])
        return any(n.op_type in _GRID_OPS for n in kept)

    out = []
    for o in model.graph.output:
        t = o.type.tensor_type if o.type.HasField("tensor_type") else None
        dims = list(t.shape.dim) if t is not None and t.HasField("shape") else []
        fixed = not dims or (dims[-1].HasField("dim_value") and dims[-1].dim_value > 0)
        out.append(
            fixed
            and not _FEATURE_NAME.search(o.name)
            and not pooled(o.name)
            and not (dims and joined(o.name, len(dims)))
            and not (len(dims) >= 3 and gridded(o.name))
        )
    return out


def _axis(node: onnx.NodeProto) -> int | None:
    return next((a.i for a in node.attribute if a.name == "axis"), None)


# ops whose output's trailing axes are a grid (time, height, width), when its rank is 3 or more
_GRID_OPS = frozenset(
    ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "Resize", "Upsample", "MaxPool")
    + ("AveragePool", "LpPool", "DepthToSpace", "SpaceToDepth", "Col2Im")
)


# ops after which every axis of the output is where it was in the (non-constant) inputs
_AXES_KEPT = frozenset(
    ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Sigmoid", "Tanh", "Relu")
    + ("Exp", "Log", "Neg", "Abs", "Sqrt", "Cast", "Identity", "Clip", "Erf", "HardSigmoid")
    + ("LeakyRelu", "Softplus", "Elu", "Selu", "HardSwish", "Mish", "Gelu", "Round", "Floor")
)


# what makes features rather than class scores: a Keras EfficientNet without its top ends in
# a global average pool, read "top-1 agreement 100.0%" over its 1280 channels
_FEATURE_OPS = frozenset(
    ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "ReduceMean", "ReduceMax")
    + ("ReduceSum", "ReduceL2", "LayerNormalization", "RMSNormalization", "LpNormalization")
    + ("SimplifiedLayerNormalization", "SkipLayerNormalization", "GroupNormalization")
)
_RESHAPES = frozenset(
    ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose", "Cast")
)


# an output named as features is no class scores, fixed last axis or not: BERT's
# ``last_hidden_state`` [batch, sequence, 32] read "top-1 agreement 100.0%" over its hidden units;
# nor are boxes (``det_boxes`` [detections, 4]: the argmax of x, y, w, h)
_FEATURE_NAME = re.compile(r"hidden|embed|feature|pooler|encoder_out|present|cache|state|box", re.I)


class Pair:
    """The original and the rewrite as ``compare`` runs them, for every comparison of the two
    (each draw, each branch tried): one ONNX Runtime session each, built once. Each draw built
    both again, and a session of a large model is its weights written to a temporary file and
    mapped (a 2.1 GB Llama: 8 s a session, six for three draws)."""

    def __init__(self, original: onnx.ModelProto, rewritten: onnx.ModelProto) -> None:
        orig, self.n_random = pin_random_seeds(original)
        new, _ = pin_random_seeds(rewritten)
        self.cmp = compared(original)  # outputs that pick are compared on what they pick by
        # one session each for every run; with random ops, one per run, so that what a run
        # draws does not depend on the runs before it (a seed seeds a session once)
        fresh = self.n_random > 0
        self.run_orig = runner(self.cmp.view(orig), fresh=fresh)
        self.run_new = runner(self.cmp.view(new), fresh=fresh)


def compare(
    original: onnx.ModelProto,
    rewritten: onnx.ModelProto,
    feeds: dict[str, np.ndarray],
    source: str = "generated",
    *,
    more_feeds: Callable[[int], dict[str, np.ndarray]] | None = None,
    noise_floor: bool = True,
    pair: Pair | None = None,
) -> Deviation:
    """Run both models on ``feeds`` and compare every output (see the module docstring).

    Args:
        more_feeds: ``seed -> feeds``: other inputs to try when an output is constant on
            ``feeds`` (generated inputs); None for user data.
        noise_floor: measure each output's noise floor (one more run of the original).
        pair: the two models' sessions from an earlier ``compare`` of the same two (``Pair``);
            built here when None.
    """
    pair = pair or Pair(original, rewritten)
    n_random, cmp, run_orig, run_new = pair.n_random, pair.cmp, pair.run_orig, pair.run_new
    names = cmp.names
    a, b = run_orig(feeds), run_new(feeds)
    classes = class_axes(original)
    classes += [False] * (len(names) - len(classes))  # the sources and indices appended

    def diff(k: int, x: np.ndarray, y: np.ndarray) -> OutputDiff:
        return deviation([x], [y], [names[k]], classes=[classes[k]], compare=cmp).outputs[0]

    dev = deviation(a, b, names, inputs=source, classes=classes, compare=cmp)
    if n_random:
        dev.notes.append(f"{n_random} random op(s) given the same fixed seed in both models")
    training = next((n for n in all_nodes(original.graph) if training_dropout(n)), None)
    if training is not None:
        dev.training_dropout = training.name or training.output[0]
    spans = bounded_spans(original, names)
    # outputs checked on other inputs than ``feeds``: those inputs and the original's output
    checked_on: dict[int, tuple[dict[str, np.ndarray], np.ndarray]] = {}
    constant = [k for k, x in enumerate(a) if _constant(x, spans[k])]
    insensitive = {k for k, x in enumerate(a) if _insensitive(x)}
    elsewhere: dict[int, tuple[dict[str, np.ndarray], list[np.ndarray]] | None] = {}

    def original_on(seed: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]] | None:
        """Other inputs and the original's outputs on them (one run per seed); None where the
        original fails on them: values the graph baked in at its export (a vision tower
        traced at one patch grid gathers by a constant permutation of its patches)."""
        assert more_feeds is not None
        if seed not in elsewhere:
            other = more_feeds(seed)
            try:
                elsewhere[seed] = other, run_orig(other)
            except ModelError as e:
                elsewhere[seed] = None
                why = str(e).removeprefix("ONNX Runtime failed to run the model: ")
                dev.refused_elsewhere = dev.refused_elsewhere or why[:200]
        return elsewhere[seed]

    if more_feeds is not None and (got := original_on(1)) is not None:
        away = got[1]  # one sample per run: compare with a run on other inputs
        for k, (x, y) in enumerate(zip(a, away, strict=True)):
            if np.shape(x) == np.shape(y) and k not in constant:
                if _insensitive(np.stack([np.asarray(x), np.asarray(y)])):
                    insensitive.add(k)

    def check_on(there: dict[str, np.ndarray], outs: list[np.ndarray], note: str) -> None:
        """Compare the outputs constant so far on other inputs, where they are not."""
        news = run_new(there)
        for k in list(constant):
            if not _constant(outs[k], spans[k]):
                dev.outputs[k] = diff(k, outs[k], news[k])
                dev.outputs[k].note = note
                constant.remove(k)
                checked_on[k] = there, outs[k]

    for seed in range(1, 4):
        if more_feeds is None or not constant:
            break
        if (got := original_on(seed)) is not None:
            check_on(*got, f"checked on seed {seed}: constant on the first inputs")
    page = page_of_strokes(feeds) if more_feeds is not None and constant else None
    if page is not None:  # a text detector's map has nothing in it on noise
        try:
            drawn = run_orig(page)
        except ModelError:
            drawn = None
        if drawn is not None:
            check_on(page, drawn, "checked on a page of strokes: constant on noise")
    for k in constant:
        o, span = dev.outputs[k], spans[k]
        if o.checked and o.max_abs <= FLAT * (span or 0.0):
            o.checked = False
            o.note = "constant on the inputs used; not evidence"
            if span is not None and float(np.max(a[k])) > float(np.min(a[k])):
                o.note = f"constant to {FLAT:g} of its range on the inputs used; not evidence"
    for k in sorted(insensitive - set(constant)):
        o = dev.outputs[k]
        if o.checked and o.rel_l2 <= 1e-3:
            o.checked = False
            o.note = (
                "barely depends on the inputs (the same on different inputs to 1e-5 of its "
                "peak); not evidence"
            )
    if noise_floor:  # each output's on the inputs it was checked on
        moved: dict[int, list[np.ndarray]] = {}
        for k in range(len(a)):
            there, x = checked_on.get(k, (feeds, a[k]))
            if id(there) not in moved:
                moved[id(there)] = run_orig(_perturbed(there, _resolution(original)))
            y, o = moved[id(there)][k], dev.outputs[k]
            same = np.shape(x) == np.shape(y) and np.asarray(x).dtype.kind == "f"
            if o.checked and same and o.role != "picks":
                o.floor = output_diff(names[k], x, y).rel_l2
        _calm(dev, feeds, more_feeds is not None, run_orig, run_new, diff, _resolution(original))
    # a source is evidence in place of a pick that differs; where every pick by it picked alike
    # (compared as values), one not checked goes unsaid
    differ = {o.name for o in dev.outputs if o.role == "picks"}
    needed = {s for p in cmp.picks.values() if p.output in differ for s in p.sources}
    for o in dev.outputs:
        if o.role == "source" and not o.checked and o.name not in needed:
            o.role = "aside"
    return dev


DRAWS = 3  # draws of the generated inputs verification judges, each output on its worst
# draws judged in all where the first ``DRAWS`` leave the verdict open (``unsettled``)
MORE_DRAWS = 12
NEAR = 3.0  # "open": within this factor of the bar, once the draws' spread is counted
SPREAD_CAP = 1e3  # the most a spread of draws extrapolates by (one draw unmoved: rel-L2 0)


def unsettled(seen: Sequence[Sequence[OutputDiff]], tolerance: float) -> bool:
    """Whether the draws judged so far (``seen``: each draw's outputs, in the same order) leave
    ``Deviation.exceeds(tolerance)`` open: for some judged output, its worst draw's rel-L2,
    extrapolated by the square of its draws' spread (worst / best rel-L2; the factor at most
    ``SPREAD_CAP``), is within ``NEAR`` of the bar (``tolerance`` plus three noise floors), or
    its relative error within ``NEAR`` of ``REL_ERR_LIMIT``.

    Three draws that agree and sit far inside settle it. Near the bar (a rewrite the back-off
    brought just inside), or spread over decades (a wake-word score on a sigmoid's tail read
    rel-L2 4.8e-7, 1.5e-6 and 3.6e-4 on three draws and 0.015 to 0.067 on 3 of 20 more; a
    sigmoid's tail spreading one decade over three draws spans five over twelve), a further
    draw may be outside.
    """
    for k in range(len(seen[0])):
        xs = [d[k] for d in seen if k < len(d) and _judged(d[k])]
        if not xs:
            continue
        worst = max(xs, key=lambda o: o.rel_l2)
        best = min(o.rel_l2 for o in xs)
        spread = min((worst.rel_l2 / best) ** 2, SPREAD_CAP) if best > 0 else SPREAD_CAP
        if any(near_bar(o, tolerance, spread if o is worst else 1.0) for o in xs):
            return True
    return False


def _judged(o: OutputDiff) -> bool:
    return o.checked and o.role not in ("picks", "index")


def near_bar(o: OutputDiff, tolerance: float, factor: float = 1.0) -> bool:
    """Whether ``o``, its rel-L2 times ``factor``, is within ``NEAR`` of the bar (``tolerance``
    plus three noise floors), or its relative error within ``NEAR`` of ``REL_ERR_LIMIT``."""
    bar = tolerance + 3 * (o.floor or 0.0)
    return o.rel_l2 * factor * NEAR > bar or (o.rel_err or 0.0) * NEAR > REL_ERR_LIMIT


def _behind(o: OutputDiff) -> tuple[bool, float, float]:
    """How far an output is from passing, to choose the worse of two comparisons of it: wrong
    by more than its own value first, then rel-L2 above its noise floor (as ``exceeds``), then,
    both within their floors, rel-L2 itself: a draw the rewrite did not move at all (0) is not
    worse than one it moved within a larger floor (a QDQ CNN read "rel-L2 0 ... verifies
    nothing" for 0.0056 under a floor of 0.004)."""
    above = o.rel_l2 - 3 * (o.floor or 0.0)
    return (o.rel_err or 0.0) > REL_ERR_LIMIT, max(above, 0.0), o.rel_l2


def worse_of(dev: Deviation, more: Deviation, draw: int) -> Deviation:
    """``dev`` with each output judged in both the worse of its two comparisons (``more`` on
    other inputs of the same model pair, draw number ``draw``), and one judged in ``more``
    alone as judged there (constant on the first draws, a sigmoid's tail is not on a sixth:
    madmom's note CNN read "not checked" and was outside there); ``dev.draws`` counts it."""
    for k, o in enumerate(more.outputs):
        mine = dev.outputs[k]
        if not _judged(o) or mine.role in ("picks", "index", "aside"):
            continue
        # not checked for being constant on its draw (not for depending barely on the inputs,
        # which the first draw's comparison finds with its seeds, and later ones do not)
        flat = not mine.checked and mine.note.startswith("constant")
        if flat or (mine.checked and _behind(o) > _behind(mine)):
            o.draw = draw
            dev.outputs[k] = o
    dev.draws += 1
    return dev


def worst_of(devs: Sequence[Deviation]) -> Deviation:
    """The first of ``devs`` (comparisons of one model pair on draws 0, 1, ...) with each output
    judged on its worst of them (``worse_of``)."""
    dev = devs[0]
    for k, more in enumerate(devs[1:], 1):
        worse_of(dev, more, k)
    return dev


def verify(
    original: onnx.ModelProto,
    rewritten: onnx.ModelProto,
    feeds: dict[str, np.ndarray] | None = None,
    source: str = "generated",
    *,
    more_feeds: Callable[[int], dict[str, np.ndarray]] | None = None,
    branch_feeds: Callable[[dict[str, tuple[float, float]]], dict[str, np.ndarray]] | None = None,
    draws: int = DRAWS,
    batches: Sequence[dict[str, np.ndarray]] = (),
    tolerance: float | None = None,
) -> Deviation:
    """checker(full_check) + ORT load and run + numerical comparison with the original.

    On generated inputs (``more_feeds`` given) every output is judged on its worst of ``draws``
    draws (``feeds``, then ``more_feeds(1)``, ...; ``OutputDiff.draw``): one draw of noise can
    miss where a rewrite is off (a text detector's probability map read rel-L2 0.0066 on one and
    0.013 to 0.16 on five others), and each draw is as likely an input as the first. The
    user's data is judged so on its first ``draws`` batches: ``feeds`` and ``batches`` (the
    further batches of ``--calibration``). With ``tolerance``, where those draws leave the
    verdict open (``unsettled``: near the bar, or far apart), it is judged on ``MORE_DRAWS``
    (``Deviation.widened``): a wake-word score, verified on three draws, was outside on 3 of 20
    others.

    A rewrite that changed an If branch ``feeds`` do not take (an Optimum merged decoder's
    first pass, under ``use_cache_branch == False``; a VAD's 8 kHz branch) is run on other
    inputs too: ``branch_feeds(values)`` (generated inputs with those inputs' values fixed, as
    ``--val-range`` fixes them) for each value that could turn a condition (``_branch_values``);
    each output keeps its worst comparison. The branches run so, and those no input ran, are
    said (``Deviation.branches_run``, ``branches_not_run``).
    """
    checker = check(rewritten, original)
    if feeds is None:
        from rewriter.inputs import generate_inputs

        gen = generate_inputs(original)
        feeds = gen.feeds
        more_feeds = more_feeds or (
            lambda seed: make_inputs(original, seed=seed, sizes=gen.sizes, unit=gen.unit)
        )
        branch_feeds = branch_feeds or (
            lambda values: generate_inputs(original, ranges=values).feeds
        )
    pair = Pair(original, rewritten)
    dev = compare(original, rewritten, feeds, source, more_feeds=more_feeds, pair=pair)
    dev.checker = checker
    draw = more_feeds if more_feeds is not None else lambda k: batches[k - 1]
    seen = {0: list(dev.outputs)}  # each draw's outputs (``dev`` keeps each output's worst)

    def judge(first: int, last: int) -> None:
        last = last if more_feeds is not None else min(last, len(batches) + 1)
        for k in range(first, last):
            try:
                more = compare(original, rewritten, draw(k), source, pair=pair)
            except (ModelError, UsageError):  # the original fails there: ``refused_elsewhere``
                continue
            seen[k] = list(more.outputs)
            worse_of(dev, more, k)

    judge(1, draws)
    if tolerance is not None and unsettled(list(seen.values()), tolerance):
        before = dev.draws
        judge(draws, max(draws, MORE_DRAWS))
        dev.widened = dev.draws > before
    dev.draw_floors = {k: {o.name: o.floor for o in outs} for k, outs in seen.items()}
    missed = _untaken(original, rewritten, feeds)
    tries = _branch_values(original, feeds) if missed and branch_feeds is not None else []
    for values in tries:
        assert branch_feeds is not None
        try:
            other = branch_feeds(values)
            ran = [b for b in missed if b not in _untaken(original, rewritten, other)]
            if not ran:
                continue
            more = compare(original, rewritten, other, source, noise_floor=False, pair=pair)
        except (ModelError, UsageError):  # no inputs run with that value
            continue
        said = ", ".join(f"{k}={_value_text(v)}" for k, v in values.items())
        for k, o in enumerate(more.outputs):
            mine = dev.outputs[k]
            if o.checked and (not mine.checked or o.rel_l2 > mine.rel_l2):
                o.floor = mine.floor
                o.note = "; ".join(x for x in (o.note, f"worst with {said}") if x)
                dev.outputs[k] = o
        dev.branches_run += [f"{b} ({said})" for b in ran]
        missed = [b for b in missed if b not in ran]
        if not missed:
            break
    dev.branches_not_run = missed
    # float outputs only: an int8 output a quantizer rounds to the same values is evidence
    floats = {o.name for o in original.graph.output if o.type.tensor_type.elem_type in FLOATS}
    dev.unmoved = any(o.name in floats for o in dev.judged)
    dev.unmoved = dev.unmoved and all(o.max_abs == 0.0 for o in dev.judged)
    dev.unmoved = dev.unmoved and list(original.graph.node) != list(rewritten.graph.node)
    return dev


def _ifs(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    """The main graph's If nodes by label (name, else op type), where the label is unique."""
    labels = [n.name or n.op_type for n in model.graph.node if n.op_type == "If"]
    return {
        n.name or n.op_type: n
        for n in model.graph.node
        if n.op_type == "If" and labels.count(n.name or n.op_type) == 1
    }


def _untaken(
    original: onnx.ModelProto, rewritten: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
) -> list[str]:
    """The main graph's If branches whose nodes the rewrite changed and ``feeds`` do not take
    ("else_branch of 'optimum::if'"); branches in branches count with the outer one."""
    a, b = _ifs(original), _ifs(rewritten)
    changed = []
    for label, n in a.items():
        if label not in b:
            continue
        bodies_a, bodies_b = dict(subgraph_attrs(n)), dict(subgraph_attrs(b[label]))
        for attr in ("then_branch", "else_branch"):
            x, y = bodies_a.get(attr), bodies_b.get(attr)
            if x is not None and y is not None and list(x.node) != list(y.node):
                changed.append((label, attr))
    if not changed:
        return []
    from rewriter.ir.branches import take_branches

    taken = take_branches(original, feeds).taken
    return [f"{attr} of {label!r}" for label, attr in changed if taken.get(label) != attr]


def _value_text(v: tuple[float, float]) -> str:
    x = v[0]
    return str(bool(x)) if isinstance(x, bool) else f"{x:g}"


_ALIAS_OPS = {"Cast", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten", "Gather", "Slice"}


def _branch_values(
    model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
) -> list[dict[str, tuple[float, float]]]:
    """Input values that could turn an If's condition, one input at a time: a boolean input
    flipped (``use_cache_branch``), and each constant an integer input of one element is
    compared with (``sr`` == 16000 / 8000) other than its value in ``feeds``. The input may reach
    the comparison through casts and reshapes."""
    g = model.graph
    inits = {t.name: t for t in all_initializers(g)}
    consts = {
        n.output[0]: a.t
        for n in all_nodes(g)
        if n.op_type == "Constant"
        for a in n.attribute
        if a.name == "value"
    }
    alias: dict[str, str] = {}  # value -> the graph input it is, through casts and reshapes
    for i in g.input:
        alias[i.name] = i.name
    for n in all_nodes(g):  # branch bodies too: a VAD compares sr with 8000 in its else branch
        # Gather and Slice too: of a one-element input they are its value (the dynamo
        # exporter reads sr as sr.reshape(-1)[0])
        if n.op_type in _ALIAS_OPS:
            if n.input and n.input[0] in alias:
                alias[n.output[0]] = alias[n.input[0]]
    out: list[dict[str, tuple[float, float]]] = []
    for name, v in feeds.items():
        a = np.asarray(v)
        if a.dtype == np.bool_ and a.size:
            flip = not bool(a.reshape(-1)[0])
            out.append({name: (flip, flip)})
    compared: dict[str, list[float]] = {}
    for n in all_nodes(g):
        if n.op_type not in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"):
            continue
        for x, c in ((0, 1), (1, 0)):
            src = alias.get(n.input[x]) if len(n.input) > 1 else None
            t = inits.get(n.input[c]) if len(n.input) > 1 else None
            t = t if t is not None else consts.get(n.input[c]) if len(n.input) > 1 else None
            if src is None or t is None or src not in feeds:
                continue
            arr = onnx.numpy_helper.to_array(t)
            if arr.size == 1 and np.asarray(feeds[src]).size == 1:
                compared.setdefault(src, []).append(float(arr.reshape(-1)[0]))
    for name, values in compared.items():
        now = float(np.asarray(feeds[name]).reshape(-1)[0])
        if np.asarray(feeds[name]).dtype.kind not in "iu":
            continue
        others = [v for v in dict.fromkeys(values) if v != now]
        if not others:
            # one constant, and the input already equals it (Silero VAD: If(sr == 16000), its
            # 8 kHz network in the else branch): any other value takes the other branch; half
            # reads as a sample rate would, else 0 (or 1)
            c = int(now)
            others = [float(c // 2 if c // 2 != c else 0 if c else 1)]
        out += [{name: (v, v)} for v in others]
    return out
