"""Distillation of a rewritten ONNX model end to end: coefficients, weights, or both.

``finetune_e2e(student, teacher, batches, train=...)`` is ``rewrite finetune --mode distill``
(``--mode e2e`` is its alias with ``train="coefficients"``). The steps:

1. both models become torch modules through the project's ONNX interpreter
   (``rewriter.cost.torch_convert.to_torch``; a model with ops it does not cover is refused with
   one line naming them). Every initializer starts as a frozen buffer;
2. the initializers ``train`` selects become parameters (``trainable_initializers``):
   ``"coefficients"``, the rational coefficients the rewriter emitted (``pau/<key>/p<k>`` and
   ``q<k>``; the ``q`` are the emitted ``|b_k|`` and train through an ``abs`` parametrization,
   so Q >= 1 and no pole can appear); ``"weights"``, every float initializer that is a weight
   of the network; ``"all"``, both. Integer and shape initializers, the constants of emitted
   rationals (clip bounds, gates), BatchNormalization statistics, Resize scales, Clip bounds
   and scalar constants that are not a Conv/Gemm/MatMul/norm weight are never trained;
   weights stored in ``Constant`` nodes stay as they are (the student's nodes never change);
3. the calibration batches are split (``val_fraction`` of them, seeded) into a training part and
   a held-out part; ``rewriter.tune.distill.distill`` trains on the first with Adam and early
   stopping on the second and keeps the best epoch's values. The loss is the MSE between the
   student's and the teacher's outputs, plus cross-entropy with ``labels`` on the first output
   when they are given, plus ``site_weight`` times the MSE of the activations at each replaced
   site where the graphs line up: the rewriter keeps a site's output tensor name, so a site
   whose output name is produced in both graphs with the same shape is matched there
   (``site_outputs``). An output computed after a TopK, ArgMax or ArgMin is read with the
   teacher's picks given to the student (``picks_to_force``, ``force_picks``), beside what they
   pick by; after a pick of a data-dependent count (NonMaxSuppression), at what it picks by
   (``for_training``);
4. the trained values are written back into a copy of the student's own initializers (same
   nodes, same names, same dtypes) and the held-out batches are run through ONNX Runtime:
   student and tuned model against the teacher, before and after (``HeldOut``).

Deterministic: the same inputs and ``seed`` give the same bytes (torch is seeded and trains
with ``torch.use_deterministic_algorithms`` on one thread; both are restored afterwards).

Example:
    >>> tuned, history = finetune_e2e(student, teacher, cal.batches, train="all")  # doctest: +SKIP
    >>> history.heldout.before.rel_l2, history.heldout.after.rel_l2                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import random
import re
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torch.nn.utils import parametrize

from rewriter.errors import ModelError, UsageError
from rewriter.ir.graph import free_values, subgraph_attrs
from rewriter.ir.picks import Pick, movable, picks
from rewriter.tune import TRAIN
from rewriter.verify import Deviation

__all__ = [
    "finetune_e2e",
    "for_training",
    "trainable_initializers",
    "site_outputs",
    "split_labels",
    "npz_labels",
    "LABELS_KEY",
    "HeldOut",
    "History",
    "COEFFICIENT",
    "TRAIN",
]

COEFFICIENT = re.compile(r"^pau/.+/([pq])(\d+)(_f64)?$")
LABELS_KEY = "labels"  # the .npz array of class indices, one per sample

_FLOAT = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.DOUBLE,
}
# (op, input index) whose initializer is a weight even when it is a scalar
_WEIGHT_SLOTS = {
    ("Conv", 1),
    ("Conv", 2),
    ("ConvTranspose", 1),
    ("ConvTranspose", 2),
    ("Gemm", 1),
    ("Gemm", 2),
    ("MatMul", 0),
    ("MatMul", 1),
    ("BatchNormalization", 1),
    ("BatchNormalization", 2),
    ("LayerNormalization", 1),
    ("LayerNormalization", 2),
    ("InstanceNormalization", 1),
    ("InstanceNormalization", 2),
    ("PRelu", 1),
}
# (op, input index) whose initializer is never trained: statistics, sizes, bounds
_FROZEN_SLOTS = {
    ("BatchNormalization", 3),
    ("BatchNormalization", 4),
    ("Resize", 1),
    ("Resize", 2),
    ("Resize", 3),
    ("Pad", 1),
    ("Pad", 2),
    ("Clip", 1),
    ("Clip", 2),
    ("Range", 0),
    ("Range", 1),
    ("Range", 2),
    ("ConstantOfShape", 0),
    ("QuantizeLinear", 1),
    ("QuantizeLinear", 2),
    ("DequantizeLinear", 1),
    ("DequantizeLinear", 2),
    ("MatMulNBits", 2),  # a 4-bit weight's scales and zero points stay as its quantizer set them
    ("MatMulNBits", 3),
    ("GatherBlockQuantized", 2),  # a tied 4-bit embedding's, the LM head's own
    ("GatherBlockQuantized", 3),
    ("GroupQueryAttention", 7),  # the rotary cos and sin tables
    ("GroupQueryAttention", 8),
}
# what QuantizeLinear can write back (int32 biases, scaled by input x weight scale, stay frozen:
# QuantizeLinear has no int32 output, and a bias moves the outputs little)
_QUANT_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
FLOAT_SUFFIX = "/pau_float"  # the float twin of a quantized weight while it trains


def fake_quant_weights(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, str]]:
    """A QDQ model's quantized weights made trainable: each int8/uint8 initializer read only by
    DequantizeLinear (a Conv/Gemm/MatMul weight) becomes a float initializer
    ``<name>/pau_float`` holding its dequantized values, quantized again by a new QuantizeLinear
    with the same scale and zero point in front of that DequantizeLinear. The model computes
    the same (round(w / s) + z gives back q), and the float twin trains through the rounding
    (``torch_ops._quantize`` passes the gradient straight through). ``unquantize_weights``
    writes the trained twins back as integers. Returns the model and ``twin -> integer name``.
    """
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    readers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for n in g.node:
        for i, v in enumerate(n.input):
            if v in inits:
                readers.setdefault(v, []).append((n, i))
    twins: dict[str, str] = {}
    for name, t in inits.items():
        rs = readers.get(name, [])
        if t.data_type not in _QUANT_TYPES or int(np.prod(t.dims)) < 2 or not rs:
            continue
        if any(n.op_type != "DequantizeLinear" or i != 0 for n, i in rs):
            continue
        if len({tuple(n.input[1:]) for n, _ in rs}) != 1:
            continue  # read with two scales: left as it is
        twins[name + FLOAT_SUFFIX] = name
    if not twins:
        return model, {}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes: list[onnx.NodeProto] = []
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] + FLOAT_SUFFIX in twins:
            q_name = n.input[0]
            twin = q_name + FLOAT_SUFFIX
            if twin not in inits:
                w = _dequantized(inits[q_name], n, inits)
                t = numpy_helper.from_array(w, twin)
                g.initializer.append(t)
                inits[twin] = t
            qn = onnx.helper.make_node(
                "QuantizeLinear",
                [twin, *n.input[1:]],
                [twin + "/q"],
                name=f"{n.name or q_name}/pau_fake_quant",
                **{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute},
            )
            new_nodes.append(qn)
            n.input[0] = twin + "/q"
        new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    return out, twins


def _qparams(
    dq: onnx.NodeProto, inits: dict[str, onnx.TensorProto], ndim: int
) -> tuple[np.ndarray, np.ndarray]:
    """A DequantizeLinear's scale and zero point (float64), shaped to broadcast against a
    tensor of ``ndim`` dims: per tensor, or along the node's ``axis`` (default 1)."""
    scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float64)
    zp_t = inits.get(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else None
    zp = numpy_helper.to_array(zp_t).astype(np.float64) if zp_t is not None else np.zeros(1)
    shape = [1] * ndim
    if scale.ndim == 1 and scale.size > 1:
        axis = next((x.i for x in dq.attribute if x.name == "axis"), 1)
        shape[axis % ndim] = -1
    return scale.reshape(shape), zp.reshape(shape if zp.size > 1 else [1] * ndim)


def _dequantized(
    q: onnx.TensorProto, dq: onnx.NodeProto, inits: dict[str, onnx.TensorProto]
) -> np.ndarray:
    """(q - zero_point) * scale of an integer initializer, per tensor or along DQ's axis."""
    a = numpy_helper.to_array(q).astype(np.float64)
    scale, zp = _qparams(dq, inits, a.ndim)
    return ((a - zp) * scale).astype(
        onnx.helper.tensor_dtype_to_np_dtype(inits[dq.input[1]].data_type)
    )


def unquantize_weights(
    tuned: onnx.ModelProto, original: onnx.ModelProto, twins: dict[str, str]
) -> onnx.ModelProto:
    """``original`` (the QDQ student) with every trained value of ``tuned`` (its
    ``fake_quant_weights`` form): float initializers as they are, each float twin quantized
    back into its integer initializer with the scale and zero point of its DequantizeLinear."""
    values = {t.name: t for t in tuned.graph.initializer}
    dq_of = {n.input[0]: n for n in original.graph.node if n.op_type == "DequantizeLinear"}
    inits = {t.name: t for t in original.graph.initializer}
    out = onnx.ModelProto()
    out.CopyFrom(original)
    back = {q: twin for twin, q in twins.items()}
    for t in out.graph.initializer:
        if t.name in back:
            w = numpy_helper.to_array(values[back[t.name]]).astype(np.float64)
            scale, zp = _qparams(dq_of[t.name], inits, w.ndim)
            dt = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
            info = np.iinfo(dt)
            q = np.clip(np.rint(w / scale + zp), info.min, info.max).astype(dt)
            t.CopyFrom(numpy_helper.from_array(q, t.name))
        elif t.name in values and t.data_type in _FLOAT:
            t.CopyFrom(values[t.name])
    return out


@dataclass
class HeldOut:
    """The held-out split, run through ONNX Runtime before and after training.

    Attributes:
        batches, samples: size of the held-out split (``of_batches``: of how many in all).
        before: the student against the teacher (``Deviation``; ``accuracy`` with labels).
        after: the tuned model against the teacher.
        teacher_accuracy: the teacher's top-1 accuracy on the split, with labels.
        note: set when the held-out split is not held out (a single batch: it is also trained on).
    """

    batches: int
    of_batches: int
    samples: int
    before: Deviation
    after: Deviation
    teacher_accuracy: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return {
            "batches": self.batches,
            "of_batches": self.of_batches,
            "samples": self.samples,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "teacher_accuracy": self.teacher_accuracy,
            "note": self.note,
        }


class History(list):  # type: ignore[type-arg]
    """Per-epoch dicts (``epoch``, ``loss``, ``val_loss``, ``best``) plus ``heldout``, the
    before/after comparison on the held-out split, and ``trained``, the initializers trained."""

    heldout: HeldOut | None = None
    trained: list[str]
    sites: dict[str, str]
    outputs: list[str]  # the outputs distilled towards (a ZipMap's by its float input)
    dropped: list[str]  # outputs not float, or that pick (``for_training``): not in the loss
    forced: list[str]  # outputs read with the teacher's picks given (``picks_to_force``)
    forced_by: list[str]  # the ops that made those picks (TopK, ArgMax, ArgMin)
    branches: str | None  # which calibration batches were used, when If branches split them
    front: str | None  # what ONNX Runtime ran before the part trained, when the interpreter cannot
    fit_samples: int  # samples trained on

    def __init__(self, items: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(items)
        self.trained = []
        self.sites = {}
        self.outputs = []
        self.dropped = []
        self.forced = []
        self.forced_by = []
        self.branches = None
        self.front = None
        self.fit_samples = 0


# -- what is trained ----------------------------------------------------------------------


def trainable_initializers(model: onnx.ModelProto, train: str) -> list[str]:
    """The initializers that ``train`` makes trainable (see the module docstring): the main
    graph's, and those a Loop/Scan body holds alone.

    Example:
        >>> trainable_initializers(student, "coefficients")  # doctest: +SKIP
        ['pau/gelu_3_2_gated_float_cc066593/p1', 'pau/gelu_3_2_gated_float_cc066593/p3', ...]
    """
    if train not in TRAIN:
        raise UsageError(f"finetune: train must be one of {', '.join(TRAIN)}, not {train!r}")
    g = model.graph
    out = _trainable_in(g, train)
    # a Loop/Scan body's own initializers (the rationals of a tf2onnx GRU's gates) train too,
    # when the name is the body's alone (write-back goes by name)
    bodies = list(loop_bodies(g))
    seen = Counter(t.name for b in bodies for t in b.initializer)
    seen.update(t.name for t in g.initializer)
    for b in bodies:
        out += [n for n in _trainable_in(b, train) if seen[n] == 1]
    return sorted(out)


def loop_bodies(g: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The bodies of ``g``'s Loop and Scan nodes, nested ones included."""
    for n in g.node:
        if n.op_type in ("Loop", "Scan"):
            for _, b in subgraph_attrs(n):
                yield b
                yield from loop_bodies(b)


def _trainable_in(g: onnx.GraphProto, train: str) -> list[str]:
    """What ``train`` makes trainable among ``g``'s own initializers (by how its nodes use them)."""
    slots: dict[str, set[tuple[str, int]]] = {}

    def use(nodes: Any, names: set[str] | None) -> None:
        for n in nodes:
            for i, name in enumerate(n.input):
                if name and (names is None or name in names):
                    slots.setdefault(name, set()).add((n.op_type, i))
            for _, b in subgraph_attrs(n):  # read from inside a body (outer scope)
                use(b.node, free_values(b) if names is None else names & free_values(b))

    use(g.node, None)
    out = []
    for t in g.initializer:
        if t.data_type not in _FLOAT or t.name not in slots:
            continue
        if COEFFICIENT.match(t.name):
            if train in ("coefficients", "all"):
                out.append(t.name)
            continue
        if train == "coefficients" or t.name.startswith("pau/"):
            continue
        used = slots[t.name]
        if used & _FROZEN_SLOTS:
            continue
        size = int(np.prod(t.dims)) if len(t.dims) else 1
        if size < 2 and not used & _WEIGHT_SLOTS:
            continue  # a scalar constant of a formula (0.5, sqrt 2, epsilon ...)
        if not np.isfinite(numpy_helper.to_array(t)).all():
            continue  # masks filled with -inf
        out.append(t.name)
    return out


def site_outputs(student: onnx.ModelProto, teacher: onnx.ModelProto) -> dict[str, str]:
    """``site name -> tensor name`` of the replaced sites whose output is in both graphs.

    A site's nodes are named ``pau/<site>/...``; its output is the one value they produce that
    something outside them reads (or a graph output). The rewriter keeps that value's name, so
    when the teacher produces a value of the same name, the two can be compared there.
    """
    import json

    from rewriter.tune.refit import METADATA_KEY

    raw = next((p.value for p in student.metadata_props if p.key == METADATA_KEY), None)
    names = [s.get("name") for s in json.loads(raw).get("sites", [])] if raw else []
    produced_t = {o for n in teacher.graph.node for o in n.output}
    graph_outs = {o.name for o in student.graph.output}
    out: dict[str, str] = {}
    for site in names:
        prefix = f"pau/{site}/"
        mine = [n for n in student.graph.node if n.name.startswith(prefix)]
        made = {o for n in mine for o in n.output}
        read_outside = {
            i for n in student.graph.node if not n.name.startswith(prefix) for i in n.input
        }
        ends = sorted(v for v in made if v in read_outside or v in graph_outs)
        if len(ends) == 1 and ends[0] in produced_t:
            out[site] = ends[0]
    return out


# -- the torch side -----------------------------------------------------------------------


class _Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


class _Distilled(nn.Module):
    """The converted model as ``distill`` sees it: ``(main, *features)``.

    ``main`` is the first output when it carries labels, else every float output flattened and
    concatenated; ``features`` are the other outputs (with labels) and the site activations.
    """

    def __init__(
        self,
        inner: Any,
        first_only: bool,
        sites: list[str],
        names: list[str],
        picks_from: tuple[Any, list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.first_only = first_only
        # (the teacher's module, the picks it gives: the last inputs of ``inner``, by name);
        # in a tuple, so the teacher's tensors are not the student's
        self.picks_from = picks_from if picks_from and picks_from[1] else None
        given = set(self.picks_from[1]) if self.picks_from else set()
        missing = sorted(set(inner.input_names) - set(names) - given)
        if missing:
            raise ModelError(
                f"teacher input(s) {missing} are not inputs of the student; the student must be "
                "rewritten from this teacher"
            )
        # each of its inputs: the index of the student's input it is, or None for a pick given
        self.order = [None if n in given else names.index(n) for n in inner.input_names]
        if self.picks_from:
            self.from_order = [names.index(n) for n in self.picks_from[0].input_names]
        self.n_out = len(inner.output_names)
        inner.output_names = list(inner.output_names) + sites
        # the teacher's picks on each batch while its tensors live: a calibration batch is the
        # same tensors in every epoch, so the teacher picks on it once, not at every step
        self._picked: dict[tuple[int, ...], tuple[list[Any], dict[str, torch.Tensor]]] = {}

    def _given(self, xs: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """The picks the teacher makes on ``xs``, by name (none without ``picks_from``)."""
        if self.picks_from is None:
            return {}
        teacher, names = self.picks_from
        inputs = [xs[i] for i in self.from_order]
        key = tuple(id(x) for x in inputs)
        hit = self._picked.get(key)
        if hit is not None and all(r() is x for r, x in zip(hit[0], inputs, strict=True)):
            return hit[1]
        teacher.watch = {n: [] for n in names}
        try:
            with torch.no_grad():
                teacher(*inputs)
            seen = teacher.watch
        finally:
            teacher.watch = {}
        given = {n: seen[n][-1] for n in names}
        self._picked[key] = ([weakref.ref(x) for x in inputs], given)
        for x in inputs:  # a mixed batch's tensors die after its step: so does its entry
            weakref.finalize(x, self._picked.pop, key, None)
        return given

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        given = self._given(xs)
        pairs = zip(self.inner.input_names, self.order, strict=True)
        got = self.inner(*(given[n] if i is None else xs[i] for n, i in pairs))
        outs = [o for o in got[: self.n_out] if o.is_floating_point()]
        feats = list(got[self.n_out :])
        if self.first_only:
            return (outs[0], *outs[1:], *feats)
        main = torch.cat([o.reshape(-1) for o in outs]) if len(outs) > 1 else outs[0]
        return (main, *feats)


def _convert(model: onnx.ModelProto, where: str) -> Any:
    from rewriter.cost.torch_convert import UnsupportedOps, to_torch

    try:
        return to_torch(model)
    except UnsupportedOps as e:
        raise _refusal(e, where) from None


def _refusal(e: Any, where: str) -> ModelError:
    """The one line for ops the interpreter does not cover (``UnsupportedOps`` ``e``)."""
    return ModelError(
        f"{where}: {e.names} {'is' if len(e.ops) == 1 else 'are'} not supported for "
        "retraining (the ONNX-to-torch interpreter does not cover them); use --mode "
        "layerwise, which needs no conversion"
    )


def _make_trainable(inner: Any, names: list[str]) -> dict[str, str]:
    trained: dict[str, str] = {}
    for name in names:
        key = inner._const_names.get(name) or inner.body_const_names[name]
        buf = inner._buffers.pop(key)
        assert buf is not None
        inner.register_parameter(key, nn.Parameter(buf.detach().clone()))
        hit = COEFFICIENT.match(name)
        if hit is not None and hit.group(1) == "q":
            parametrize.register_parametrization(inner, key, _Abs())
        trained[name] = key
    return trained


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic kernels on one thread: the same bytes on any machine, whatever its core
    count (a reduction split over threads sums in another order). On 2 busy cores one thread
    was also ~10x faster for a small MLP than two spinning ones."""
    was, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.set_num_threads(threads)


def _samples(batch: dict[str, np.ndarray], axes: dict[str, int] | None = None) -> int:
    """Samples in ``batch``: the size of its first input's batch axis (``axes``, from
    ``rewriter.calibrate.batch_axes``; axis 0 when not given)."""
    if not batch:
        return 1
    name, first = next(iter(batch.items()))
    first = np.asarray(first)
    k = (axes or {}).get(name, 0)
    return int(first.shape[k]) if first.ndim > k else 1


# -- labels -------------------------------------------------------------------------------


def npz_labels(source: Any, model: onnx.ModelProto | None = None) -> np.ndarray | None:
    """The ``labels`` array of an ``.npz`` calibration file, or None (no such array, not an
    ``.npz`` path, or ``labels`` is one of ``model``'s inputs). ``load_calibration`` ignores
    arrays that are not model inputs, so the same file serves both."""
    import os

    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source).endswith(".npz"):
        return None
    if model is not None and LABELS_KEY in {i.name for i in model.graph.input}:
        return None
    with np.load(source) as z:
        return np.asarray(z[LABELS_KEY]) if LABELS_KEY in z.files else None


def split_labels(
    labels: Any, batches: Sequence[dict[str, np.ndarray]], axes: dict[str, int] | None = None
) -> list[np.ndarray]:
    """Labels per batch: ``labels`` is one array over all samples (split like the batches: the
    batch axis of each batch's first input, ``axes`` as ``batch_axes`` gives them, else axis 0)
    or a sequence with one array per batch."""
    if isinstance(labels, (list, tuple)):
        if len(labels) != len(batches):
            raise UsageError(
                f"labels: {len(labels)} arrays for {len(batches)} batches; give one per batch"
            )
        return [np.asarray(y).astype(np.int64).ravel() for y in labels]
    y = np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise UsageError(f"labels: class indices must be integers, not {y.dtype}")
    sizes = [_samples(b, axes) for b in batches]
    if y.shape[0] != sum(sizes):
        raise UsageError(
            f"labels: {y.shape[0]} labels for {sum(sizes)} calibration samples; give one label "
            "per sample, in the order of the inputs"
        )
    return [a.astype(np.int64) for a in np.split(y.ravel(), np.cumsum(sizes)[:-1])]


# -- the stage ----------------------------------------------------------------------------


def finetune_e2e(
    student: onnx.ModelProto,
    teacher: onnx.ModelProto,
    batches: Sequence[dict[str, np.ndarray]],
    *,
    train: str = "coefficients",
    epochs: int = 20,
    lr: float = 1e-3,
    seed: int = 0,
    val_fraction: float = 0.2,
    patience: int = 3,
    labels: Any = None,
    progress: bool = False,
    site_weight: float = 1.0,
    loss: str = "mse",
    augment: str = "none",
    schedule: str = "constant",
) -> tuple[onnx.ModelProto, History]:
    """Distil the student towards the teacher end to end; write the trained values back.

    Args:
        student: a model rewritten by pau-rewriter (not modified).
        teacher: the original model.
        batches: calibration feed dicts (``rewriter.calibrate.load_calibration(...).batches``).
        train: ``"coefficients"`` (the rationals only), ``"weights"`` (the network's weights
            only) or ``"all"`` (see ``trainable_initializers``).
        epochs: most passes over the training split; ``patience`` epochs without a better
            held-out loss stop early, and the best epoch's values are kept.
        lr: Adam learning rate.
        seed: seeds the split, the shuffling and torch: same inputs, same bytes.
        val_fraction: fraction of the batches held out (at least one when there are two).
        labels: class indices for a cross-entropy term on the first output (logits
            ``[N, classes]``): one array over all samples, or one per batch (``split_labels``).
        site_weight: weight of the site-activation MSE, where the graphs line up (0: off).
        loss: ``"mse"`` on outputs, or ``"kl"`` on the softmax of the first output.
        augment: ``"none"`` (default), ``"mixup"`` or ``"shift"``
            (``rewriter.tune.distill.distill``: the teacher runs on each mixed or moved
            training batch; float inputs / images only).
        schedule: ``"constant"`` (default) or ``"onecycle"``: the rate over training
            (``rewriter.tune.distill.distill``; with ``"onecycle"`` every epoch runs).
        progress: a progress bar per epoch.

    Returns:
        The tuned model (same graph, new initializer values) and its ``History``: one dict per
        epoch, with ``history.heldout`` (``HeldOut``: held-out deviation from the teacher
        before and after, accuracies with labels), ``history.trained`` (initializer names)
        and ``history.sites`` (site -> tensor name of the matched site activations).

    Raises:
        ModelError: nothing to train (``"coefficients"`` on a model without rationals), or ops
            the interpreter does not cover (named).
        UsageError: a bad ``train``, ``val_fraction`` or labels.
    """
    from rewriter.tune.distill import distill, split_batches
    from rewriter.tune.refit import compare_over

    if not 0.0 <= val_fraction < 1.0:
        raise UsageError(f"finetune: val_fraction must be in [0, 1), not {val_fraction}")
    batches = list(batches)
    if not batches:
        raise UsageError("finetune: no calibration batches")
    given_student, given_teacher = student, teacher
    student, teacher, taken, keep = _take_branches(student, teacher, batches)
    qdq_student, twins = (student, {}) if train == "coefficients" else fake_quant_weights(student)
    original_student, student = student, qdq_student
    # what the loss reads: the float outputs (a ZipMap's float input); the nodes only the other
    # outputs need (labels, ai.onnx.ml post-processing) are not converted or run
    found = picks(teacher)
    read_at = picks_to_read(teacher, found)
    forced = picks_to_force(teacher, student, {k: found[k] for k in read_at})
    train_student, train_teacher, dropped = _for_training(student, teacher, read_at, forced)
    forced_inner = None
    if forced:  # an op the interpreter lacks after the picks: read at what they pick by
        from rewriter.cost.torch_convert import UnsupportedOps, to_torch

        try:
            forced_inner = to_torch(train_student)
        except UnsupportedOps:
            forced = {}
            train_student, train_teacher, dropped = _for_training(student, teacher, read_at, {})
    given = sorted({i for p in forced.values() for i in p.indices})
    names = trainable_initializers(train_student, train)
    if not names:
        what = {
            "coefficients": "rational coefficients (initializers pau/<key>/p<k>); rewrite it "
            "with `rewrite ... -p pau_all` first",
            "weights": "float weight initializers (weights in Constant nodes are not trained)",
            "all": "rational coefficients or float weight initializers",
        }[train]
        raise ModelError(f"student has no {what}")
    from rewriter.calibrate import batch_axes

    axes = batch_axes(teacher)
    per_batch = None if labels is None else split_labels(labels, batches, axes)
    branch_note = None
    if len(keep) < len(batches):  # the batches that take the branches trained
        branch_note = (
            f"trained and held out on the {len(keep)} of {len(batches)} calibration batches that "
            "take the If branches of batch 0; the others take other branches (retrain on them "
            "separately to tune the sites there)"
        )
        batches = [batches[i] for i in keep]
        per_batch = None if per_batch is None else [per_batch[i] for i in keep]

    torch.manual_seed(seed)
    from rewriter.cost.torch_convert import UnsupportedOps, to_torch

    front_note, train_batches = None, batches
    try:
        inner = forced_inner if forced_inner is not None else to_torch(train_student)
    except UnsupportedOps as e:
        front = _front(train_student, train_teacher, batches, set(e.nodes))
        if front is None:
            raise _refusal(e, "student") from None
        cut_student, cut_teacher, cut_batches, front_note = front
        frozen = sorted(set(names) - set(trainable_initializers(cut_student, train)))
        names = [n for n in names if n not in frozen]
        if not names:  # everything to train is in the front
            raise _refusal(e, "student") from None
        if frozen:
            front_note += f"; not trained there: {', '.join(frozen)}"
        train_student, train_teacher, train_batches = cut_student, cut_teacher, cut_batches
        inner = _convert(train_student, "student")
    teacher_inner = _convert(train_teacher, "teacher").eval()
    _check_outputs(
        train_teacher, teacher_inner, train_batches[0], None if per_batch is None else per_batch[0]
    )
    trained = _make_trainable(inner, names)
    sites = (
        _matching_sites(train_student, train_teacher, inner, teacher_inner, train_batches[0], given)
        if site_weight
        else {}
    )
    first_only = per_batch is not None or loss == "kl"
    values = list(sites.values())
    order = [n for n in inner.input_names if n not in given]
    model = _Distilled(inner, first_only, values, order, (teacher_inner, given))
    teacher_model = _Distilled(teacher_inner, first_only, values, order)
    feeds = [tuple(torch.from_numpy(np.asarray(b[n])) for n in order) for b in train_batches]
    data: list[Any] = (
        [(x, torch.from_numpy(y)) for x, y in zip(feeds, per_batch, strict=True)]
        if per_batch is not None
        else feeds
    )
    with _deterministic():
        epochs_run = distill(
            model,
            teacher_model,
            data,
            epochs=epochs,
            lr=lr,
            train="all",  # the converted student's parameters are exactly the selected ones
            labels=per_batch is not None,
            val_fraction=val_fraction,
            patience=patience,
            seed=seed,
            loss=loss,
            feature_weight=site_weight if sites else 0.0,
            augment=augment,
            schedule=schedule,
            batch_axes=[axes.get(n, 0) for n in order],
            progress=progress,
        )
    tuned = _write_back(student, inner, trained)
    if twins:  # the trained float twins quantized back into the QDQ student's integers
        tuned = unquantize_weights(tuned, original_student, twins)
    if taken is not None:  # back into the branch bodies they came from
        tuned = _into_branches(tuned, given_student, taken, {twins.get(n, n) for n in trained})
    student, teacher = given_student, given_teacher

    fit_idx, val_idx = split_batches(len(batches), val_fraction, random.Random(seed))
    val = [batches[i] for i in val_idx]
    val_labels = None if per_batch is None else np.concatenate([per_batch[i] for i in val_idx])
    t_dev, before, after = compare_over(teacher, [teacher, student, tuned], val, labels=val_labels)
    history = History(epochs_run)
    history.heldout = HeldOut(
        len(val),
        len(batches),
        sum(_samples(b, axes) for b in val),
        before,
        after,
        t_dev.accuracy,
        None if fit_idx and set(fit_idx).isdisjoint(val_idx) else "one batch: also trained on",
    )
    history.trained = sorted(twins.get(n, n) for n in trained)
    history.sites = sites
    history.outputs = [o.name for o in train_teacher.graph.output]
    history.branches = branch_note
    history.front = front_note
    history.fit_samples = sum(_samples(batches[i], axes) for i in fit_idx)
    history.dropped = dropped
    history.forced = sorted(forced)
    history.forced_by = sorted({op for p in forced.values() for op in p.ops})
    return tuned, history


def _for_training(
    student: onnx.ModelProto,
    teacher: onnx.ModelProto,
    read_at: set[str],
    forced: dict[str, Pick],
) -> tuple[onnx.ModelProto, onnx.ModelProto, list[str]]:
    """``(student, teacher, dropped)`` cut to what distillation reads (``for_training``): the
    ``forced`` outputs kept, with what their picks pick by, the student given the picks
    (``force_picks``)."""
    also = list(dict.fromkeys(s for p in forced.values() for s in p.sources))
    train_student, dropped = for_training(student, read_at - set(forced), also)
    train_teacher, _ = for_training(teacher, read_at - set(forced), also)
    given = {i for p in forced.values() for i in p.indices}
    return (force_picks(train_student, given) if given else train_student), train_teacher, dropped


def _front(
    student: onnx.ModelProto,
    teacher: onnx.ModelProto,
    batches: list[dict[str, np.ndarray]],
    missing: set[str],
) -> tuple[onnx.ModelProto, onnx.ModelProto, list[dict[str, np.ndarray]], str] | None:
    """Both models without the front the interpreter cannot run (``missing``: the names of the
    nodes it does not cover, ``UnsupportedOps.nodes``).

    A scikit-learn text pipeline reads strings: ``StringNormalizer``, ``Tokenizer``,
    ``TfIdfVectorizer`` and ``Normalizer`` make the float features its layers train on. Those
    nodes, and every node they depend on, are run by ONNX Runtime once per batch; the tensors
    they hand to the rest become the inputs of the models trained, and the front's own weights
    (a TF-IDF's idf) are not trained. None if the front holds a replaced site (it differs from
    the teacher's), makes a graph output, or sits in a body; then the interpreter's refusal
    stands.

    Returns:
        ``(student, teacher, batches, note)``: the rests, their batches, what was cut.
    """
    from rewriter.ir.runtime import run_values

    g = student.graph
    where = {(n.name or n.output[0]): k for k, n in enumerate(g.node)}
    if not missing <= where.keys():
        return None
    made_by = {o: k for k, n in enumerate(g.node) for o in n.output if o}
    front: set[int] = set()
    todo = [where[m] for m in missing]
    while todo:
        k = todo.pop()
        if k not in front:
            front.add(k)
            n = g.node[k]
            reads = [*n.input, *(v for _, sub in subgraph_attrs(n) for v in free_values(sub))]
            todo.extend(made_by[v] for v in reads if v in made_by)
    made = {o for k in front for o in g.node[k].output if o}
    teacher_made = {o: n.op_type for n in teacher.graph.node for o in n.output if o}
    if any(
        teacher_made.get(o) != g.node[k].op_type for k in front for o in g.node[k].output if o
    ) or any(o.name in made for o in g.output):
        return None
    rest_reads = [
        v
        for k, n in enumerate(g.node)
        if k not in front
        for v in [*n.input, *(v for _, sub in subgraph_attrs(n) for v in free_values(sub))]
    ]
    frontier = list(dict.fromkeys(v for v in rest_reads if v in made))
    graph_inputs = [i.name for i in g.input]
    kept_inputs = [v for v in dict.fromkeys(rest_reads) if v in graph_inputs]
    fed = list(run_values(student, [*frontier, *kept_inputs], batches))

    def rest(model: onnx.ModelProto) -> onnx.ModelProto:
        cut = onnx.ModelProto()
        cut.CopyFrom(model)
        nodes = [n for n in cut.graph.node if not set(n.output) & made]
        del cut.graph.node[:]
        cut.graph.node.extend(nodes)
        read = {v for n in nodes for v in n.input} | {
            v for n in nodes for _, sub in subgraph_attrs(n) for v in free_values(sub)
        }
        inits = [t for t in cut.graph.initializer if t.name in read]
        del cut.graph.initializer[:]
        cut.graph.initializer.extend(inits)
        ins = [i for i in cut.graph.input if i.name in kept_inputs]
        for v in frontier:
            a = fed[0][v]
            elem = onnx.helper.np_dtype_to_tensor_dtype(a.dtype)
            ins.append(onnx.helper.make_tensor_value_info(v, elem, [None, *a.shape[1:]]))
        del cut.graph.input[:]
        cut.graph.input.extend(ins)
        return cut

    ops = sorted({g.node[where[m]].op_type for m in missing})
    note = (
        f"ONNX Runtime ran the {len(missing)} node(s) the interpreter does not cover "
        f"({', '.join(ops)}) and the {len(front) - len(missing)} they depend on; the rest was "
        f"trained on what they make: {', '.join(repr(v) for v in frontier)}"
    )
    return rest(student), rest(teacher), fed, note


def _take_branches(
    student: onnx.ModelProto, teacher: onnx.ModelProto, batches: list[dict[str, np.ndarray]]
) -> tuple[onnx.ModelProto, onnx.ModelProto, Any, list[int]]:
    """Student and teacher with the If branches the calibration data take spliced in
    (``rewriter.ir.branches``), so the torch interpreter, which has no If, trains the branch
    that runs; ``Branches`` of the student, or None without If nodes; and the indices of the
    batches that take batch 0's branches (every batch without If nodes). At least two must (one
    to train on, one to hold out), else the data are refused."""
    every = list(range(len(batches)))
    if not any(n.op_type == "If" for n in student.graph.node):
        return student, teacher, None, every
    from rewriter.ir.branches import take_branches
    from rewriter.ir.runtime import run_values

    fs, ft = take_branches(student, batches[0]), take_branches(teacher, batches[0])
    keep = every
    if fs.conditions and len(batches) > 1:
        values = run_values(fs.model, list(fs.conditions), batches[1:])
        keep = [0] + [k + 1 for k, v in enumerate(values) if fs.same_branches(v)]
        if len(keep) < 2:
            raise ModelError(
                f"calibration batch 0 alone takes its If branches ({len(batches) - 1} other "
                "batch(es) take others); retrain on data that takes one branch (e.g. one sample "
                "rate) at a time"
            )
    return fs.model, ft.model, fs, keep


def _into_branches(
    tuned: onnx.ModelProto, student: onnx.ModelProto, taken: Any, names: set[str]
) -> onnx.ModelProto:
    """``student`` with the trained initializers ``names`` of ``tuned`` (its branches spliced
    in) written back where they live: the main graph, or the bodies of the branches taken."""
    values = {t.name: t for t in tuned.graph.initializer if t.name in names}
    out = onnx.ModelProto()
    out.CopyFrom(student)

    def walk(g: onnx.GraphProto) -> None:
        for t in g.initializer:
            if t.name in values:
                t.CopyFrom(values[t.name])
        for n in g.node:
            attr = taken.taken.get(n.name or n.op_type) if n.op_type == "If" else None
            for a in n.attribute:
                if a.name == attr and a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(out.graph)
    return out


def picks_to_read(teacher: onnx.ModelProto, found: dict[str, Pick] | None = None) -> set[str]:
    """The outputs that pick by what a rewrite or retraining can move (``picks.movable``): read
    at what they pick by. The others pick alike in student and teacher and are read as they
    are: TimesFM's hidden state, shifted by an ArgMax over its padding input, was read at that
    padding's sum alone, with nothing to train ("student has no rational coefficients or float
    weight initializers"). Decided on the teacher, so both are cut alike. ``found``: its
    ``picks``, where already known."""
    moved = movable(teacher.graph)
    found = picks(teacher) if found is None else found
    return {k for k, p in found.items() if any(s in moved for s in p.sources)}


def _float_or_unknown(o: onnx.ValueInfoProto) -> bool:
    """Whether an output is a float tensor, or of a type not known: what distillation reads."""
    kind = o.type.WhichOneof("value")
    return kind is None or (kind == "tensor_type" and o.type.tensor_type.elem_type in (0, *_FLOAT))


# the picking ops whose picks the student can take from the teacher: a fixed count in place
_FORCEABLE = frozenset(("TopK", "ArgMax", "ArgMin"))


def picks_to_force(
    teacher: onnx.ModelProto, student: onnx.ModelProto, read_at: dict[str, Pick]
) -> dict[str, Pick]:
    """The outputs of ``read_at`` (the teacher's picks ``picks_to_read`` chose) distillation
    reads as values with the teacher's picks given to the student (``force_picks``): output ->
    its ``Pick``, whose ``indices`` (TopK, ArgMax or ArgMin outputs of the main graph, in both
    models) are given and whose ``sources`` are read beside it. RT-DETR's decoder refines the
    queries a TopK picks from its encoder's scores: read at those scores alone, its decoder
    (a tenth of its sites) was never trained; with the teacher's picks, student and teacher
    decode the same queries, in the same places. An output that also follows a pick of a
    data-dependent count (NonMaxSuppression's boxes) is read at what it picks by, as before."""
    made = {o for n in student.graph.node for o in n.output if o}
    ops = {o: n.op_type for n in teacher.graph.node for o in n.output if o}
    # what the loss reads (``for_training``): a label an ArgMax picks is not
    floats = {o.name for o in teacher.graph.output if _float_or_unknown(o)}
    out: dict[str, Pick] = {}
    for name, p in read_at.items():
        if name not in floats or p.counted or not p.indices:
            continue
        if not set(p.ops) <= _FORCEABLE:
            continue
        if all(ops.get(i) in _FORCEABLE and i in made for i in p.indices):
            out[name] = p
    return out


def force_picks(model: onnx.ModelProto, indices: set[str]) -> onnx.ModelProto:
    """``model`` with the picks ``indices`` (TopK indices, ArgMax/ArgMin outputs) made graph
    inputs of the same names, appended after its own: the student of a distillation takes the
    teacher's. A TopK whose values are read gives the values at the picks given
    (GatherElements along its axis), so they stay in the places the picks say."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    nodes: list[onnx.NodeProto] = []
    added: list[str] = []
    for n in g.node:
        given = [o for o in n.output if o in indices]
        if not given:
            nodes.append(n)
            continue
        added += given
        if n.op_type == "TopK" and n.output[0] in read:
            axis = next((a.i for a in n.attribute if a.name == "axis"), -1)
            nodes.append(
                onnx.helper.make_node(
                    "GatherElements", [n.input[0], n.output[1]], [n.output[0]], n.name, axis=axis
                )
            )
    del g.node[:]
    g.node.extend(nodes)
    g.input.extend(
        onnx.helper.make_tensor_value_info(i, onnx.TensorProto.INT64, None) for i in added
    )
    return out


def for_training(
    model: onnx.ModelProto, read_at: set[str] | None = None, also: Sequence[str] = ()
) -> tuple[onnx.ModelProto, list[str]]:
    """``model`` cut to the outputs distillation reads: float tensors. ``read_at``: the
    picking outputs read at what they pick by (``picks_to_read``; default: every one).
    ``also``: tensors read beside the outputs (what the picks given by ``force_picks`` pick by).

    The loss compares float outputs only, so an output known to be something else (an int64
    label, a string, a sequence or map) is left out, and with it every node no float output
    needs: an scikit-learn classifier's ``ArgMax -> ArrayFeatureExtractor`` label path, a
    detector's index outputs, ops the ONNX-to-torch interpreter need not cover. An output that
    picks (``rewriter.ir.picks``: the boxes a NonMaxSuppression kept, float or not) is read at
    what it picks by (the boxes and scores fed to NonMaxSuppression): those are continuous. A ``ZipMap``
    (ai.onnx.ml: class probabilities as one map per sample) is read at its input, the float
    ``[N, classes]`` tensor it re-formats, and a QuantizeLinear's 8-bit output (a full-integer
    TFLite model's probabilities) at the float it quantizes. Nothing is renamed and no
    initializer is dropped, so values trained on the cut model are written back into the whole
    one by name.

    Returns:
        ``(model, dropped output names)``; ``model`` itself when every output is kept.
    """
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    picking = {k: p for k, p in picks(model).items() if read_at is None or k in read_at}
    outs: list[onnx.ValueInfoProto] = []
    dropped: list[str] = []
    for o in g.output:
        if o.name in picking:  # boxes NonMaxSuppression kept: read what it picks by instead
            dropped.append(o.name)
            have = {v.name for v in g.output} | {v.name for v in outs}
            # a two-stage detector's box head scores what its first stage picked: student and
            # teacher may score other proposals, so only what follows no pick is read (and the
            # interpreter need not run the NonMaxSuppression and RoiAlign between them)
            after = dict(picking[o.name].after)
            read = [s for s in picking[o.name].sources if s not in after]
            outs.extend(
                onnx.helper.make_empty_tensor_value_info(s)
                for s in read or picking[o.name].sources
                if s not in have
            )
            continue
        if _float_or_unknown(o):
            outs.append(o)  # float, or of unknown type: kept
            continue
        dropped.append(o.name)
        n = producer.get(o.name)
        if n is not None and (
            (n.op_type == "ZipMap" and n.domain == "ai.onnx.ml")
            or (n.op_type == "QuantizeLinear" and n.domain in ("", "ai.onnx", "com.microsoft"))
        ):  # read the float tensor it re-formats, or quantizes (a full-integer TFLite model)
            if n.input[0] not in {v.name for v in outs}:
                outs.append(onnx.helper.make_empty_tensor_value_info(n.input[0]))
    have = {o.name for o in outs}
    outs.extend(onnx.helper.make_empty_tensor_value_info(a) for a in also if a not in have)
    if not dropped and not also:
        return model, []
    need = {o.name for o in outs}
    keep: list[onnx.NodeProto] = []
    for n in reversed(g.node):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
            for _, sub in subgraph_attrs(n):
                need.update(free_values(sub))
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    del cut.graph.node[:]
    cut.graph.node.extend(reversed(keep))
    del cut.graph.output[:]
    cut.graph.output.extend(outs)
    return cut, dropped


def _check_outputs(
    teacher: onnx.ModelProto, module: Any, batch: dict[str, np.ndarray], labels: Any
) -> None:
    """A float output to distil, and with labels, logits ``[N, classes]`` for N labels."""
    with torch.no_grad():
        outs = module(*(torch.from_numpy(np.asarray(batch[n])) for n in module.input_names))
    floats = [o for o in outs if o.is_floating_point()]
    if not floats:
        raise ModelError("teacher has no floating-point output to distil towards")
    if labels is not None:
        first = outs[0]
        if not first.is_floating_point() or first.dim() != 2 or first.shape[0] != len(labels):
            name = teacher.graph.output[0].name
            raise UsageError(
                f"labels: the first output {name!r} has shape {tuple(first.shape)} for a batch "
                f"of {len(labels)} samples; labels need logits [N, classes] there (drop the "
                "'labels' array to distil without them)"
            )


def _matching_sites(
    student: onnx.ModelProto,
    teacher: onnx.ModelProto,
    inner: Any,
    teacher_inner: Any,
    batch: dict[str, np.ndarray],
    given: list[str],
) -> dict[str, str]:
    """``site_outputs`` whose values have the same shape in both models on ``batch``, the
    student given the teacher's picks ``given`` (its last inputs, ``force_picks``)."""
    sites = site_outputs(student, teacher)
    if not sites:
        return {}
    values = list(sites.values())
    shapes = []
    for m in (teacher_inner, inner):
        keep = m.output_names
        m.output_names = list(keep) + values + (given if m is teacher_inner else [])
        feeds = {n: torch.from_numpy(np.asarray(batch[n])) for n in batch}
        try:
            with torch.no_grad():
                got = m(*(feeds[n] for n in m.input_names))
        finally:
            m.output_names = keep
        shapes.append([tuple(v.shape) for v in got[len(keep) : len(keep) + len(values)]])
        if m is teacher_inner:  # its picks, given to the student
            batch = batch | dict(zip(given, got[len(keep) + len(values) :], strict=True))
    return {
        s: v
        for (s, v), b, a in zip(sites.items(), shapes[0], shapes[1], strict=True)
        if a == b and len(a)
    }


def _write_back(student: onnx.ModelProto, inner: Any, trained: dict[str, str]) -> onnx.ModelProto:
    tuned = onnx.ModelProto()
    tuned.CopyFrom(student)
    values = {name: getattr(inner, key).detach().cpu().numpy() for name, key in trained.items()}
    main = {n for n in values if n in inner._const_names}
    # main-graph values into the main graph, a body's own into its body (a name both hold
    # trained only the main graph's copy: the body's stays)
    for g in [tuned.graph, *loop_bodies(tuned.graph)]:
        for t in g.initializer:
            if t.name in values and ((g is tuned.graph) == (t.name in main)):
                dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
                new = values[t.name].astype(dtype).reshape(tuple(t.dims))
                t.CopyFrom(numpy_helper.from_array(new, t.name))
    return tuned
