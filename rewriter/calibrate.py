"""Calibration data: what each site's input really looks like on the user's data.

Two steps, each usable alone:

``load_calibration(source, model)`` turns the user's data into ONNX Runtime feed batches:

* a path to an ``.npz`` with one array per model input (extra arrays such as ``labels`` are
  ignored), or a folder of ``<input name>.npy`` files (characters that cannot be in a file name
  replaced by ``_``);
* an iterable of feed dicts (Python API), each one batch;
* ``None``: inputs generated from the model's shapes (``rewriter.verify.make_inputs`` with
  seeds 0..n-1); the result says so (``Calibration.generated``, ``Calibration.source``).

Arrays are stacked samples: an array of the model input's rank is split along its batch axis
(batches of ``batch_size`` samples, or of the static batch size): the first axis, or where the
model's shared batch dimension sits (``batch_axes``: a sequence-first GRU's
``x[sequence, batch, 8]`` and ``h0[1, batch, 16]`` are split along axis 1, as the model is
fed); an array of rank + 1 holds unbatched samples, fed one at a time. Every input must have the same number of
samples; floating data is cast to the input's floating type, integer data to its integer type.

``observe_sites(model, sites, calibration)`` runs the *original* model once per batch with every
site's input exposed as an extra graph output and returns a ``SiteObservation`` per site: exact
count, min, max, mean and std, plus percentiles and a fixed-bin histogram computed on a
deterministic subsample of at most ``max_samples`` values (exact when the data is smaller).

Sites inside ``If``/``Loop``/``Scan`` bodies are not observed: their values exist once per
iteration or branch and cannot be exposed as graph outputs without rewriting the body. They get
an observation with ``count == 0`` and a ``note``; callers (``refit``) keep their fit as it is.

Example:
    >>> cal = load_calibration("data.npz", model)          # doctest: +SKIP
    >>> obs = observe_sites(model, find_sites(model), cal)  # doctest: +SKIP
    >>> obs["gelu_0"].percentiles["99.9"]                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.errors import UsageError
from rewriter.ir.runtime import run_values

__all__ = [
    "Calibration",
    "SiteObservation",
    "load_calibration",
    "as_calibration",
    "batch_axes",
    "check_array",
    "run_shapes",
    "observe_sites",
    "PERCENTILES",
]

PERCENTILES = (0.1, 1.0, 50.0, 99.0, 99.9)
HISTOGRAM_BINS = 64
DEFAULT_BATCH = 32
GENERATED_SEEDS = 8


@dataclass
class Calibration:
    """Feed batches plus where they came from; iterates like a list of feed dicts.

    Attributes:
        batches: one ``{input name: array}`` per ONNX Runtime run.
        source: a readable origin, e.g. ``"data.npz"`` or ``"generated (8 seeded batches)"``.
        generated: True when no user data was given (sampled from the model's shapes).
        samples: number of samples over all batches.
        axes: the sample (batch) axis of each input whose batch axis is not the first
            (``batch_axes``: a sequence-first GRU's ``x[sequence, batch, 8]`` has 1).
    """

    batches: list[dict[str, np.ndarray]]
    source: str
    generated: bool = False
    samples: int = 0
    axes: dict[str, int] = field(default_factory=dict)  # sample axis per input when not 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.batches[i]


# -- loading ------------------------------------------------------------------------------


def _model_inputs(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return {vi.name: vi for vi in model.graph.input if vi.name not in inits}


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def _read_source(path: str, wanted: Iterable[str]) -> dict[str, np.ndarray]:
    if os.path.isdir(path):
        out: dict[str, np.ndarray] = {}
        for name in wanted:
            for fname in (f"{name}.npy", f"{_file_name(name)}.npy"):
                full = os.path.join(path, fname)
                if os.path.isfile(full):
                    try:
                        out[name] = np.load(full, allow_pickle=False)
                    except Exception as e:
                        if _pickled(e):
                            raise _objects(full, name) from None
                        raise UsageError(
                            f"{full}: cannot read calibration array ({type(e).__name__}: {e}); "
                            "save it with numpy.save"
                        ) from None
                    break
        return out
    if not os.path.exists(path):
        raise UsageError(
            f"{path}: no such calibration file; pass an .npz keyed by input name or a folder of .npy"
        )
    try:
        return read_arrays(path)
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(
            f"{path}: cannot read calibration data ({type(e).__name__}: {e}); "
            "pass an .npz keyed by input name (numpy.savez) or a folder of <input>.npy files"
        ) from None


def read_arrays(path: str) -> dict[str, np.ndarray]:
    """The arrays of the .npz at ``path`` by name, never unpickled.

    Raises:
        UsageError: an array of Python objects (strings from pandas' ``.values``), named, with
            how to save it.
        ValueError, OSError: not an .npz.
    """
    with np.load(path, allow_pickle=False) as data:
        if not hasattr(data, "files"):
            raise ValueError("a single .npy array, not an .npz archive")
        out = {}
        for k in data.files:
            try:
                out[k] = data[k]
            except ValueError as e:
                if _pickled(e):
                    raise _objects(path, k) from None
                raise
        return out


def _pickled(e: BaseException) -> bool:
    """Whether ``e`` is numpy's refusal to unpickle an object array."""
    return isinstance(e, ValueError) and "allow_pickle" in str(e)


def _objects(path: str, name: str) -> UsageError:
    return UsageError(
        f"{path}: array {name!r} holds Python objects (strings from pandas' .values, most "
        "often), which are not read from files (unpickling can run code); save it as a "
        f"string array: numpy.savez(..., {name}=array.astype(str))"
    )


def _dims(vi: onnx.ValueInfoProto) -> list[int | None]:
    return [
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
        for d in vi.type.tensor_type.shape.dim
    ]


def batch_axes(model: onnx.ModelProto) -> dict[str, int]:
    """Per model input, the axis that holds the samples.

    1. A dim named as a batch (``batch``, ``batch_size``, ``N``: ``rewriter.inputs.batch_name``)
       says so wherever it sits: a sequence-first GRU's ``x[sequence, batch, 8]``,
       ``h0[1, batch, 16]``, ``sequence_lens[batch]`` give 1, 1, 0.
    2. Else the graph's one dynamic dimension that every input shares (made-up names such as
       torch.export's ``s0`` say only which dims are equal). When several are shared, the one
       first in every input wins (``[s0, s1]`` token ids and mask). A shared dim at axis 1 of an
       integer ``[s4, s0]`` input whose axis 0 is dynamic too is its sequence, not its batch:
       token ids and masks are batch-first, and torch.export can leave the batches of
       ``input_ids`` and ``attention_mask`` unrelated (``s4``, ``s6``) while their sequences
       are one ``s0``.
    3. Else axis 0 for every input."""
    from rewriter.inputs import batch_name

    wanted = _model_inputs(model)
    named = {
        n: [d.dim_param or None for d in vi.type.tensor_type.shape.dim] for n, vi in wanted.items()
    }
    zero = dict.fromkeys(wanted, 0)
    by_name = {
        n: next((k for k, p in enumerate(v) if p and batch_name(p)), None) for n, v in named.items()
    }
    if any(k is not None for k in by_name.values()):
        return {n: k or 0 for n, k in by_name.items()}
    ranked = [v for v in named.values() if v]
    if not ranked:
        return zero
    common = set.intersection(*({p for p in v if p} for v in ranked))
    if len(common) > 1:
        common = {c for c in common if all(v[0] == c for v in ranked)}
    elem = {n: vi.type.tensor_type.elem_type for n, vi in wanted.items()}
    ints = {onnx.TensorProto.INT64, onnx.TensorProto.INT32}
    common = {
        c
        for c in common
        if not any(elem[n] in ints and len(v) == 2 and v[1] == c and v[0] for n, v in named.items())
    }
    if len(common) != 1:
        return zero
    (sym,) = common
    return {n: v.index(sym) if sym in v else 0 for n, v in named.items()}


def _cast(where: str, name: str, a: np.ndarray, vi: onnx.ValueInfoProto) -> np.ndarray:
    """``a`` as the input's element type, or UsageError when the kinds differ."""
    want = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
    if a.dtype == want:
        return a
    if want.kind == "O" and a.dtype.kind in "US":  # strings: an npz holds them as unicode
        return a.astype(str).astype(object)
    kind = {"f": "float", "i": "int", "u": "int", "b": "bool"}
    have_k, want_k = kind.get(a.dtype.kind, a.dtype.kind), kind.get(want.kind, want.kind)
    if have_k != want_k:
        raise UsageError(
            f"{where}: input {name!r} has dtype {a.dtype}, the model wants {want}; "
            f"save it as {want} (float data can be any float type, integer data any int type)"
        )
    if (
        want_k == "int"
        and a.size
        and (a.min() < np.iinfo(want).min or a.max() > np.iinfo(want).max)
    ):
        raise UsageError(f"{where}: input {name!r} has values that do not fit in {want}")
    return a.astype(want)


def check_array(
    where: str, name: str, a: Any, vi: onnx.ValueInfoProto, stacked: bool, axis: int = 0
) -> tuple[np.ndarray, bool]:
    """Validate one array (``axis``: its sample axis); returns it cast, and whether it holds
    unbatched samples (rank + 1)."""
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception:
            raise UsageError(f"{where}: input {name!r} is not an array") from None
    if a.dtype == object:
        raise UsageError(f"{where}: input {name!r} holds Python objects; pass a numeric array")
    dims = _dims(vi)
    rank = len(dims)
    if a.ndim == rank:
        extra = False
    elif stacked and a.ndim == rank + 1:
        extra = True
    else:
        want = f"{rank}" + (f" (or {rank + 1} for stacked unbatched samples)" if stacked else "")
        raise UsageError(
            f"{where}: input {name!r} has rank {a.ndim} (shape {list(a.shape)}), the model wants "
            f"rank {want}; reshape it to the model's input shape"
        )
    shape = a.shape[1:] if extra else a.shape
    for k, (have, want_d) in enumerate(zip(shape, dims, strict=True)):
        if want_d is not None and have != want_d and not (k == axis and not extra and stacked):
            raise UsageError(
                f"{where}: input {name!r} has size {have} on axis {k + int(extra)}, the model "
                f"wants {want_d}; check the data's layout"
            )
    if extra or not stacked or len(dims) <= axis or dims[axis] is None:
        pass
    elif a.shape[axis] % dims[axis]:
        raise UsageError(
            f"{where}: input {name!r} has {a.shape[axis]} samples, not a multiple of the model's "
            f"static batch size {dims[axis]}; drop the remainder"
        )
    return _cast(where, name, a, vi), extra


def _split(
    where: str, arrays: dict[str, np.ndarray], model: onnx.ModelProto, batch_size: int
) -> tuple[list[dict[str, np.ndarray]], int, dict[str, int]]:
    """Batches, samples, and the inputs whose batch axis is not 0 (``Calibration.axes``)."""
    wanted = _model_inputs(model)
    axes = batch_axes(model)
    checked: dict[str, tuple[np.ndarray, bool]] = {}
    for name, vi in wanted.items():
        got = check_array(where, name, arrays[name], vi, stacked=True, axis=axes[name])
        # the sample axis first while splitting (moved back in each batch)
        move = not got[1] and axes[name] and got[0].ndim > axes[name]
        checked[name] = (np.moveaxis(got[0], axes[name], 0) if move else got[0], got[1])
    # a scalar input (a VAD's sample rate) is the same for every sample: fed to every batch
    counts = {n: a.shape[0] for n, (a, _) in checked.items() if a.ndim}
    if len(set(counts.values())) > 1:
        moved = {n: k for n, k in axes.items() if k}
        where_axes = (
            f" (samples along axis {', '.join(f'{k} of {n!r}' for n, k in sorted(moved.items()))}"
            ", 0 of the others, from the model's batch dimension)"
            if moved
            else " (first axis)"
        )
        raise UsageError(
            f"{where}: inputs have different sample counts {dict(sorted(counts.items()))}; "
            f"give every input the same number of samples{where_axes}"
        )
    n = next(iter(counts.values()), 1)  # every input a scalar: one sample
    if n == 0:
        raise UsageError(f"{where}: calibration data has no samples (first axis is 0)")
    kinds = {extra for _, extra in checked.values()}
    if len(kinds) > 1:
        raise UsageError(
            f"{where}: some inputs are stacked unbatched samples (rank + 1) and some are batched "
            "(the model's rank); give every input the model's rank"
        )
    if kinds == {True}:  # unbatched samples: one run each
        return [{k: a[i] for k, (a, _) in checked.items()} for i in range(n)], n, {}
    step = batch_size
    for name in checked:  # a static batch size wins
        dims = _dims(wanted[name])
        d0 = dims[axes[name]] if dims else None
        if d0 is not None:
            step = d0
    batches = [
        {
            k: a if a.ndim == 0 else np.ascontiguousarray(np.moveaxis(a[i : i + step], 0, axes[k]))
            for k, (a, _) in checked.items()
        }
        for i in range(0, n, step)
    ]
    return batches, n, {k: v for k, v in axes.items() if v}


def load_calibration(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | None,
    model: onnx.ModelProto,
    *,
    batch_size: int = DEFAULT_BATCH,
    seeds: int = GENERATED_SEEDS,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> Calibration:
    """Feed batches for ``model`` from ``source`` (see the module docstring), validated.

    Args:
        source: .npz path, folder of .npy, iterable of feed dicts, or None (generated inputs).
        model: the model the data is for (its graph inputs give names, ranks and dtypes).
        batch_size: samples per run for a dynamic batch axis.
        seeds: number of generated batches when ``source`` is None.
        shapes, ranges: ``--input-shapes`` / ``--val-range`` for generated batches
            (``rewriter.inputs.generate_inputs``).

    Returns:
        A ``Calibration`` (iterates as feed dicts).

    Raises:
        UsageError: one line naming the input, what is wrong and what to do.

    Example:
        >>> cal = load_calibration("examples/digits_test.npz", onnx.load("examples/digits_cnn.onnx"))
        >>> len(cal), cal.samples, cal.source  # doctest: +SKIP
        (15, 450, 'examples/digits_test.npz')
    """
    if batch_size < 1:
        raise UsageError(f"calibration batch size must be >= 1, got {batch_size}")
    wanted = _model_inputs(model)
    for name, vi in wanted.items():
        if not vi.type.HasField("tensor_type"):
            raise UsageError(
                f"model input {name!r} is not a tensor; calibration needs tensor inputs"
            )
    if source is None:
        from rewriter.inputs import generate_inputs

        first = generate_inputs(model, shapes=shapes, ranges=ranges)  # probes sizes once
        batches = [first.feeds] + [
            generate_inputs(
                model, shapes=shapes, ranges=ranges, seed=s, sizes=first.sizes, unit=first.unit
            ).feeds
            for s in range(1, seeds)
        ]
        n = sum(
            next(iter(b.values())).shape[0] if b and next(iter(b.values())).ndim else 1
            for b in batches
        )
        return Calibration(
            batches,
            f"generated ({seeds} seeded batches derived from the graph; pass calibration data for real ranges)",
            generated=True,
            samples=n,
        )
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        arrays = _read_source(where, wanted)
        missing = sorted(set(wanted) - set(arrays))
        if missing:
            have = sorted(arrays)
            raise UsageError(
                f"{where}: no array for model input(s) {missing} (found {have}); "
                f"name the arrays after the model's inputs {sorted(wanted)}"
            )
        batches, n, axes = _split(where, arrays, model, batch_size)
        return Calibration(batches, where, samples=n, axes=axes)
    if isinstance(source, Mapping):
        raise UsageError(
            "calibration: got one dict; pass a list of feed dicts (one per batch), or a path"
        )
    if not isinstance(source, Iterable):
        raise UsageError(
            f"calibration: expected a path, an iterable of feed dicts or None, not {type(source).__name__}"
        )
    batches = []
    n = 0
    for i, feed in enumerate(source):
        where = f"calibration batch {i}"
        if not isinstance(feed, Mapping):
            raise UsageError(
                f"{where}: expected a dict of input name -> array, not {type(feed).__name__}"
            )
        missing = sorted(set(wanted) - set(feed))
        if missing:
            raise UsageError(
                f"{where}: no array for model input(s) {missing}; the model's inputs are {sorted(wanted)}"
            )
        out = {k: check_array(where, k, feed[k], vi, stacked=False)[0] for k, vi in wanted.items()}
        counts = {k: int(a.shape[0]) if a.ndim else 1 for k, a in out.items()}
        if len(set(counts.values())) > 1:
            raise UsageError(
                f"{where}: inputs have different batch sizes {dict(sorted(counts.items()))}; "
                "give every input the same first axis"
            )
        n += next(iter(counts.values()), 1)
        batches.append(out)
    if not batches:
        raise UsageError(
            "calibration: the iterable of feed dicts is empty; pass at least one batch"
        )
    return Calibration(batches, "feeds", samples=n)


def as_calibration(
    source: Any,
    model: onnx.ModelProto,
    *,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> Calibration:
    """``source`` when it is a ``Calibration`` already, else ``load_calibration(source, model)``."""
    if isinstance(source, Calibration):
        return source
    return load_calibration(source, model, shapes=shapes, ranges=ranges)


# -- observation --------------------------------------------------------------------------


@dataclass
class SiteObservation:
    """What one site's input looked like on the calibration data.

    ``count``, ``min``, ``max``, ``mean``, ``std`` and ``nonfinite`` are exact over all values;
    ``percentiles`` (keys "0.1", "1", "50", "99", "99.9") and ``histogram`` are computed on
    ``samples`` (a deterministic subsample of at most ``max_samples`` finite values).
    """

    site: str
    count: int = 0
    nonfinite: int = 0
    min: float = float("nan")
    max: float = float("nan")
    mean: float = float("nan")
    std: float = float("nan")
    percentiles: dict[str, float] = field(default_factory=dict)
    histogram: dict[str, list[float]] = field(default_factory=dict)
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    note: str | None = None

    @property
    def observed(self) -> bool:
        return self.samples.size > 0

    @property
    def range(self) -> tuple[float, float]:
        return (self.min, self.max)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the samples)."""
        return {
            "site": self.site,
            "count": self.count,
            "nonfinite": self.nonfinite,
            "samples": int(self.samples.size),
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "percentiles": dict(self.percentiles),
            "histogram": {k: list(v) for k, v in self.histogram.items()},
            "note": self.note,
        }


def _pct_key(p: float) -> str:
    return f"{p:g}"


class _Accumulator:
    """Streaming exact moments plus a deterministic capped subsample."""

    def __init__(self, site: str, max_samples: int, seed: int) -> None:
        self.site, self.cap = site, max_samples
        self.rng = np.random.default_rng(seed)
        self.parts: list[np.ndarray] = []
        self.kept = 0
        self.count = self.nonfinite = 0
        self.s1 = self.s2 = 0.0
        self.lo, self.hi = np.inf, -np.inf

    def add(self, a: np.ndarray) -> None:
        x = np.asarray(a, dtype=np.float64).ravel()
        self.count += x.size
        ok = np.isfinite(x)
        if not ok.all():
            self.nonfinite += int(x.size - ok.sum())
            x = x[ok]
        if not x.size:
            return
        self.s1 += float(x.sum())
        self.s2 += float(np.dot(x, x))
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
        if x.size > self.cap:  # keep at most cap per batch; the union is thinned at the end
            x = x[np.sort(self.rng.choice(x.size, self.cap, replace=False))]
        self.parts.append(x)
        self.kept += x.size
        if self.kept > 4 * self.cap:
            self._thin()

    def _thin(self) -> None:
        x = np.concatenate(self.parts)
        if x.size > self.cap:
            x = x[np.sort(self.rng.choice(x.size, self.cap, replace=False))]
        self.parts, self.kept = [x], x.size

    def result(self) -> SiteObservation:
        self._thin() if self.parts else None
        x = self.parts[0] if self.parts else np.zeros(0)
        n = self.count - self.nonfinite
        if n == 0:
            return SiteObservation(self.site, self.count, self.nonfinite, note="no finite values")
        mean = self.s1 / n
        std = float(np.sqrt(max(self.s2 / n - mean * mean, 0.0)))
        pct = np.percentile(x, PERCENTILES)
        lo, hi = self.lo, self.hi if self.hi > self.lo else self.lo + 1.0
        counts, edges = np.histogram(x, bins=HISTOGRAM_BINS, range=(lo, hi))
        return SiteObservation(
            site=self.site,
            count=self.count,
            nonfinite=self.nonfinite,
            min=float(self.lo),
            max=float(self.hi),
            mean=float(mean),
            std=std,
            percentiles={_pct_key(p): float(v) for p, v in zip(PERCENTILES, pct, strict=True)},
            histogram={"edges": [float(e) for e in edges], "counts": [float(c) for c in counts]},
            samples=x,
        )


def run_shapes(
    model: onnx.ModelProto, sites: Iterable[Any], feeds: Mapping[str, np.ndarray]
) -> None:
    """Set each site's ``input_shape`` to the shape its input has on a run of ``model`` with
    ``feeds`` (shape inference leaves dynamic models' shapes symbolic, e.g.
    ``batchx8xunk__0``). A site in an If branch gets it from the model with the branches these
    feeds take spliced in (``rewriter.ir.branches``), one in a Loop/Scan body the shape at
    its first iteration; sites in branches not taken keep theirs."""
    from rewriter.ir.branches import take_branches
    from rewriter.ir.runtime import run_values

    sites = list(sites)
    if not sites:
        return
    names = {s.name: s.input for s in sites}
    if any(s.graph for s in sites):
        flat = take_branches(model, feeds, loops=True)
        model = flat.model
        todo = [s for s in sites if flat.where(s.graph) == ""]
        names = {s.name: flat.value(s.graph, s.input) for s in todo}
    else:
        todo = sites
    if not todo:
        return
    got = next(run_values(model, sorted(set(names.values())), [feeds]))
    for s in todo:
        a = got.get(names[s.name])
        if a is not None:
            s.input_shape = [int(d) for d in np.shape(a)]


def observe_sites(
    model: onnx.ModelProto,
    sites: Iterable[Any],
    calibration: Iterable[Mapping[str, np.ndarray]],
    *,
    max_samples: int = 100_000,
    seed: int = 0,
) -> dict[str, SiteObservation]:
    """Observe every site's input on ``calibration`` in one pass of the original ``model``.

    Args:
        model: the model the sites were found in (the original, or the canonicalized copy a
            pipeline's ``before`` passes produce: ``rewrite_onnx(..., dry_run=True).model``).
        sites: ``rewriter.Site`` objects (``name``, ``input``, ``graph``).
        calibration: feed batches (a ``Calibration`` or any iterable of feed dicts).
        max_samples: cap of kept values per site (deterministic subsample, seeded).
        seed: seed of the subsampling.

    Returns:
        ``site name -> SiteObservation``; sites inside subgraph bodies get ``count == 0`` and a
        ``note`` saying why.
    """
    sites = list(sites)
    accs = {s.name: _Accumulator(s.name, max_samples, seed + 7919 * k) for k, s in enumerate(sites)}
    if any(s.graph for s in sites):
        _observe_branches(model, sites, calibration, accs)
    else:
        by_value: dict[str, list[str]] = {}
        for s in sites:
            by_value.setdefault(s.input, []).append(s.name)
        if by_value:
            for values in run_values(model, list(by_value), calibration):
                for v, names in by_value.items():
                    for name in names:
                        accs[name].add(values[v])
    unseen = [s for s in sites if s.graph and accs[s.name].count == 0]
    if unseen and iter(calibration) is not calibration:  # a second pass over the data
        _observe_in_bodies(model, unseen, calibration, accs)
    notes: dict[str, str] = {}
    for s in sites:
        if s.graph and accs[s.name].count == 0:
            notes[s.name] = (
                f"inside {s.graph!r}: not observed (a branch the calibration data never take, or "
                "a body the ONNX-to-torch interpreter cannot run); its rational is kept as fitted"
            )
            del accs[s.name]
    out: dict[str, SiteObservation] = {}
    for s in sites:
        if s.name in accs:
            out[s.name] = accs[s.name].result()
        else:
            out[s.name] = SiteObservation(s.name, note=notes[s.name])
    return out


def _observe_in_bodies(
    model: onnx.ModelProto,
    sites: list[Any],
    calibration: Iterable[Mapping[str, np.ndarray]],
    accs: dict[str, _Accumulator],
) -> None:
    """Sites in Loop/Scan bodies, whose values no graph output can expose: the model runs in
    the ONNX-to-torch interpreter, which records them at every iteration (``OnnxModule.watch``).
    A value name two graphs of the model define is not watched (it would mix them); a model the
    interpreter does not cover leaves the sites unobserved."""
    import torch

    from rewriter.cost.torch_convert import UnsupportedOps, to_torch
    from rewriter.ir import all_nodes

    defined = Counter(o for n in all_nodes(model.graph) for o in n.output)
    names = {s.input for s in sites if defined[s.input] == 1}
    if not names:
        return
    try:
        module = to_torch(model).eval()
    except UnsupportedOps:
        return
    module.watch = {v: [] for v in names}
    with torch.no_grad():
        for batch in calibration:
            try:
                module(*(torch.from_numpy(np.array(batch[n])) for n in module.input_names))
            except Exception:  # best effort: what the interpreter cannot run stays unobserved
                return
            for s in sites:
                for v in module.watch.get(s.input, []):
                    accs[s.name].add(v.numpy())
            for seen in module.watch.values():
                seen.clear()


def _observe_branches(
    model: onnx.ModelProto,
    sites: list[Any],
    calibration: Iterable[Mapping[str, np.ndarray]],
    accs: dict[str, _Accumulator],
) -> None:
    """``observe_sites`` for a model with sites in If branches: each batch runs on the model with
    the branches it takes spliced in (one run per batch while the branches stay the same)."""
    from rewriter.ir.branches import take_branches
    from rewriter.ir.runtime import run_values

    flat = None
    for batch in calibration:
        if flat is not None:
            here = [s for s in sites if flat.where(s.graph) == ""]
            fetch = [*{s.input for s in here}, *flat.conditions]
            values = next(run_values(flat.model, fetch, [batch]))
            if not flat.same_branches(values):
                flat = None
        if flat is None:  # the first batch, or one that takes other branches
            flat = take_branches(model, batch)
            here = [s for s in sites if flat.where(s.graph) == ""]
            values = next(run_values(flat.model, [s.input for s in here], [batch]))
        for s in here:
            accs[s.name].add(values[s.input])


# -- held-out split -----------------------------------------------------------------------


@dataclass
class CalibrationSplit:
    """Calibration data split in two: ``fit`` (planning, retraining) and ``check`` (the accuracy
    contract is verified there and nowhere else).

    Attributes:
        fit, check: the two parts (``check`` is None when the data cannot be split: one sample).
        fit_labels, check_labels: the labels of each part (None without labels).
        describe: one line saying which samples were held out, for the report.
    """

    fit: Calibration
    check: Calibration | None
    fit_labels: np.ndarray | None
    check_labels: np.ndarray | None
    describe: str


def _batch_rows(
    batch: Mapping[str, np.ndarray], unbatched: bool, axes: Mapping[str, int] | None = None
) -> int:
    if unbatched:
        return 1
    axes = axes or {}
    return next((int(a.shape[axes.get(k, 0)]) for k, a in batch.items() if np.ndim(a) >= 1), 1)


def holdout(cal: Calibration, labels: np.ndarray | None = None, every: int = 4) -> CalibrationSplit:
    """Hold out every ``every``-th batch of ``cal`` (interleaved, so sorted data stays balanced).

    With fewer than ``every`` batches the last one is held out; one batch is split by rows (its
    last quarter held out) when every input has a batch axis of at least 2 rows. One sample
    cannot be split: ``check`` is None and the report says the contract was verified on the
    planning data.
    """
    batches = list(cal.batches)
    unbatched = cal.samples == len(batches) and not cal.generated and len(batches) > 1
    rows = [_batch_rows(b, unbatched, cal.axes) for b in batches]
    starts = np.cumsum([0, *rows])
    if len(batches) >= 2:
        held = (
            [i for i in range(len(batches)) if i % every == every - 1]
            if len(batches) >= every
            else [len(batches) - 1]
        )
        fit_b = [b for i, b in enumerate(batches) if i not in held]
        chk_b = [batches[i] for i in held]
        idx_chk = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in held])
        idx_fit = np.concatenate(
            [np.arange(starts[i], starts[i + 1]) for i in range(len(batches)) if i not in held]
        )
        what = (
            f"every {every}th batch, {len(held)} of {len(batches)}"
            if len(held) > 1
            else f"batch {held[0] + 1} of {len(batches)}"
        )
    else:
        n = rows[0]
        ax = cal.axes
        nonscalar = {k: a for k, a in batches[0].items() if np.ndim(a) >= 1}
        if n < 2 or unbatched or any(a.shape[ax.get(k, 0)] != n for k, a in nonscalar.items()):
            return CalibrationSplit(
                cal,
                None,
                labels,
                None,
                f"the planning data ({cal.source}): one sample cannot be split; pass more "
                "calibration samples to verify on held-out data",
            )
        cut = n - max(1, n // every)

        def rows_of(a: np.ndarray, k: str, sl: slice) -> np.ndarray:
            if np.ndim(a) < 1:
                return a
            return np.take(a, np.arange(a.shape[ax.get(k, 0)])[sl], axis=ax.get(k, 0))

        fit_b = [{k: rows_of(a, k, slice(None, cut)) for k, a in batches[0].items()}]
        chk_b = [{k: rows_of(a, k, slice(cut, None)) for k, a in batches[0].items()}]
        idx_fit, idx_chk = np.arange(0, cut), np.arange(cut, n)
        what = f"rows {cut + 1}-{n} of its one batch"
    n_fit, n_chk = int(idx_fit.size), int(idx_chk.size)
    fit = Calibration(fit_b, cal.source, cal.generated, n_fit, dict(cal.axes))
    chk = Calibration(chk_b, cal.source, cal.generated, n_chk, dict(cal.axes))
    fl = cl = None
    if labels is not None:
        lab = np.asarray(labels).ravel()
        fl, cl = lab[idx_fit], lab[idx_chk]
    return CalibrationSplit(
        fit,
        chk,
        fl,
        cl,
        f"{n_chk} held-out sample(s) of {os.path.basename(cal.source) or cal.source} ({what}; "
        "not used for planning or training)",
    )
