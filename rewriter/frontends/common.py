"""What every file front end gives the commands: the conversion to ONNX and its check against the
source model in the source's own runtime (``rewriter.frontends.tf``, ``rewriter.frontends.pt2``).

``frontend_for(path)`` says which front end reads a path (None for an ONNX file); it imports no
framework, so every command can ask it about any path.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import onnx


@dataclass
class Conversion:
    """A source model converted to ONNX, and what the conversion did.

    Attributes:
        model: the ONNX model (input names and NHWC/NCHW layout as in the source).
        kind: ``tflite``, ``keras``, ``saved_model``, ``pt2`` or ``torchscript``.
        converter: e.g. ``tf2onnx 1.17.0``.
        seconds: conversion time, the framework's import included.
        notes: one line each, for the rewrite summary (fused activations, float16 weights,
            layout, ops lowered here).
    """

    model: onnx.ModelProto
    kind: str
    path: str
    converter: str
    seconds: float
    notes: list[str] = field(default_factory=list)


CONVERSION_LIMIT = 0.5  # relative L2 to the source's output beyond which a model is wrong
# ... when it is also off by more than this anywhere: MediaPipe's pose presence score is
# sigmoid(-27) = 1.5e-12 in LiteRT and 0 in ONNX Runtime (rel-L2 1, nothing wrong)
CONVERSION_ATOL = 1e-6
# a PyTorch module exported by torch.onnx computes the same float ops in ONNX Runtime: its
# rounding was at most 3e-5 relative L2 over 120 of the archive sweep's families, and exports
# that held only at their traced sizes were off by 0.2 (BiT at 224, traced at 64) and 0.48
# (PatchTST's patch count baked in), both within CONVERSION_LIMIT and written as if right
TORCH_CONVERSION_LIMIT = 0.01


def _off(d: Any, limit: float = CONVERSION_LIMIT) -> str | None:
    """The worst output of ``d`` (a ``Deviation`` from the source's outputs) that is NaN/inf
    where the source's is finite or beyond ``limit`` relative L2, said; None when none is."""
    bad = [
        o
        for o in d.judged
        if not (math.isfinite(o.rel_l2) and (o.rel_l2 <= limit or o.max_abs <= CONVERSION_ATOL))
    ]
    if not bad:
        return None
    o = max(bad, key=lambda o: o.rel_l2)
    what = o.note if not math.isfinite(o.max_abs) and o.note else f"rel-L2 {o.rel_l2:.3g}"
    return f"output '{o.name}': {what.replace('the original', 'the source')}"


def _rounding(o: Any) -> bool:
    """Whether an output differs from the source's by at most ``CONVERSION_ATOL`` everywhere
    while its relative numbers say more (values near 0 in both)."""
    return math.isfinite(o.max_abs) and o.max_abs <= CONVERSION_ATOL and o.rel_l2 > 1e-3


@dataclass
class SourceCheck:
    """Converted and rewritten ONNX models against the source model in its own runtime."""

    kind: str
    runtime: str
    converter: str
    converted: Any  # rewriter.verify.Deviation: converted ONNX (ORT) vs source runtime
    rewritten: Any | None  # rewritten ONNX (ORT) vs source runtime; None on a dry run
    notes: list[str] = field(default_factory=list)
    # the converted model's relative L2 beyond which the converter is wrong (the rewritten one
    # may differ more: its budget is --tolerance, against the converted model)
    limit: float = CONVERSION_LIMIT
    # where the converted model differs: a TopK meeting equal values on the compared inputs
    # (``_tied_picks``), which the source and ONNX Runtime may pick among differently
    ties: str | None = None

    def lines(self) -> list[str]:
        """The rewrite summary's lines: conversion notes, then both comparisons."""

        def one(d: Any) -> str:
            # an output within CONVERSION_ATOL everywhere (a score of 1e-12 in LiteRT, 0 in ORT)
            # is rounding: its rel-L2 of 1 and cosine of 0 are said apart, not as the worst
            near = [o for o in d.judged if _rounding(o)]
            rest = [o for o in d.judged if not _rounding(o)]
            shown = rest or d.judged
            if not shown:
                return "no output compared"
            line = (
                f"max-abs {max(o.max_abs for o in shown):.3g}, "
                f"rel-L2 {max(o.rel_l2 for o in shown):.3g}, "
                f"cosine {min(o.cosine for o in shown):.6f}"
            )
            if near and rest:
                names = ", ".join(repr(o.name) for o in near)
                line += (
                    f"; {names} within {CONVERSION_ATOL:g} everywhere (values near 0, where "
                    "relative numbers are rounding)"
                )
            return line

        out = list(self.notes)
        out.append(
            f"converted ({self.converter}) vs {self.kind} in {self.runtime}: " + one(self.converted)
        )
        if self.rewritten is not None:
            out.append(f"rewritten vs {self.kind} in {self.runtime}: " + one(self.rewritten))
        return out

    def conversion_off(self) -> str | None:
        """How the converted model differs from the source beyond ``limit`` (``broken``'s
        first clause, with no word on whose error it is), or None; None too where a TopK met
        equal values (``ties``), which the two may pick among differently."""
        return None if self.ties else _off(self.converted, self.limit)

    def broken(self) -> str | None:
        """Why the model to write (the rewritten one; the converted one on a dry run) does not
        compute what the source does, and whose error that is; or None. Wrong is an output
        NaN/inf where the source's is finite, or off by more than ``CONVERSION_LIMIT``
        relative L2 (not rounding: a dynamic-range TFLite model, whose LiteRT kernels round
        their inputs to 8 bits, differs by 0.08-0.15) and by more than ``CONVERSION_ATOL``
        somewhere (an output of 1e-12 is all rounding); the converted model of a PyTorch
        source beyond ``TORCH_CONVERSION_LIMIT`` (``limit``)."""
        why = _off(self.converted, self.limit)
        if why is not None and self.ties:
            return f"{why}; {self.ties}, so the two may differ where neither is wrong"
        if why is not None:
            return f"{why}; {self.converter} converted it wrong"
        if self.rewritten is not None and (why := _off(self.rewritten)) is not None:
            return f"{why}; the converted model matches the source, the rewrite does not"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "runtime": self.runtime,
            "converter": self.converter,
            "notes": self.notes,
            "converted_vs_source": self.converted.to_dict(),
            "rewritten_vs_source": self.rewritten.to_dict() if self.rewritten else None,
        }


def compare_with_source(
    ref: list[Any],
    converted: onnx.ModelProto,
    rewritten: onnx.ModelProto | None,
    feeds: Any,
    source: str,
    *,
    kind: str,
    runtime: str,
    converter: str,
    notes: list[str],
    limit: float = CONVERSION_LIMIT,
) -> SourceCheck:
    """The source's outputs ``ref`` (in the converted model's output order) against both ONNX
    models run in ONNX Runtime on ``feeds``; the rewritten one's deviation includes the
    conversion's."""
    from rewriter.ir.picks import drawn
    from rewriter.ir.runtime import runner
    from rewriter.verify import deviation

    names = [o.name for o in converted.graph.output]
    d_conv = deviation(ref, runner(converted)(dict(feeds)), names, inputs=source)
    d_new = None
    if rewritten is not None:
        d_new = deviation(ref, runner(rewritten)(dict(feeds)), names, inputs=source)
    # an output a random draw is behind differs from the source's in any conversion: not
    # compared, and said (the rewrite is still verified against the converted model, both
    # given the same seeds)
    behind = drawn(converted.graph)
    random = [n for n in names if n in behind]
    for d in (d_conv, d_new):
        for o in d.outputs if d is not None else []:
            if o.name in random:
                o.checked, o.note = False, "drawn at random"
    if random:
        said = ", ".join(repr(n) for n in random)
        notes = [
            *notes,
            f"{said} drawn from random ops ({len(random)} of {len(names)} outputs): ONNX "
            f"Runtime's draws are not {runtime}'s, so not compared with the {kind}",
        ]
    check = SourceCheck(kind, runtime, converter, d_conv, d_new, notes, limit)
    if _off(d_conv, limit) is not None:
        check.ties = _tied_picks(converted, feeds, runtime)
    return check


def _tied_picks(model: onnx.ModelProto, feeds: Any, runtime: str) -> str | None:
    """Where a TopK of ``model``'s main graph meets equal float values among the k it picks and
    the next one on ``feeds`` (a router's scores for its experts): the source's
    runtime and ONNX Runtime break such ties each their own way, so the picks, and what follows
    them, may differ (AFMoE's router, zero at initialization: every expert tied for every
    token, and its conversion differed by rel-L2 0.15). The first such TopK, said; None."""
    import numpy as np

    from rewriter.ir.runtime import run_values

    tops = [n for n in model.graph.node if n.op_type == "TopK" and len(n.input) > 1]
    if not tops:
        return None
    try:
        wanted = [v for n in tops for v in n.input[:2]]  # only the nodes before them run
        got = next(iter(run_values(model, wanted, [dict(feeds)], needed_only=True)))
    except Exception:  # noqa: BLE001 - no diagnosis, the comparison's line stands
        return None
    for n in tops:
        x, k = np.asarray(got[n.input[0]]), int(np.asarray(got[n.input[1]]).ravel()[0])
        attrs = {a.name: a.i for a in n.attribute}
        if x.ndim == 0 or not 0 < k or x.dtype.kind != "f":  # scores: integer keys (the
            continue  # experts' ids a mixture of experts sorts) tie by design, in any order
        rows = np.sort(np.moveaxis(x, attrs.get("axis", -1), -1), axis=-1)
        rows = rows[..., ::-1] if attrs.get("largest", 1) else rows
        tied = (np.diff(rows[..., : k + 1], axis=-1) == 0).any(axis=-1)
        if tied.any():
            return (
                f"TopK {n.name or n.output[0]!r} meets equal values among its top {k} on these "
                f"inputs ({int(tied.sum())} of {tied.size} rows), and {runtime} and ONNX Runtime "
                "pick among equals each their own way (an untrained router's scores tie; a "
                "trained one's rarely do)"
            )
    return None


# --input-shapes of the running command (``use_input_shapes``): a front end that must make up
# an example to convert at (a TorchScript archive records no input shapes) takes these first
_REQUESTED: dict[str, tuple[int, ...]] = {}


def use_input_shapes(shapes: Mapping[str, tuple[int, ...]] | None) -> None:
    """The shapes the command was given (``--input-shapes``, or none); the CLI's parser sets
    them for every command, before the model is loaded."""
    _REQUESTED.clear()
    _REQUESTED.update(shapes or {})


# --inputs of the running command (``use_input_file``): such a front end converts at them,
# values and all (a grid of patches, ids offset per codebook: sizes alone do not run it)
_GIVEN: list[str | None] = [None]


def use_input_file(path: Any) -> None:
    """The ``--inputs`` file of the command (a .npz, or none); the CLI's parser sets it for
    every command, before the model is loaded. Read only where a front end asks
    (``given_inputs``)."""
    _GIVEN[0] = path if isinstance(path, str) and path.lower().endswith(".npz") else None


def given_inputs() -> dict[str, Any]:
    """``--inputs`` of the running command by input name (empty outside the CLI, or where the
    file does not read: ``--inputs`` says why when the model is run)."""
    if _GIVEN[0] is None:
        return {}
    import numpy as np

    try:
        with np.load(_GIVEN[0], allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return {}


def requested_shapes() -> dict[str, tuple[int, ...]]:
    """``--input-shapes`` of the running command by input name (empty outside the CLI), or the
    ``shapes=`` of the Python API call under way (``shapes_for_conversion``)."""
    return dict(_REQUESTED)


@contextlib.contextmanager
def shapes_for_conversion(
    shapes: Mapping[str, Any] | None, restore: bool = False
) -> Iterator[None]:
    """``rewriter.rewrite(path, shapes=...)`` / ``rewriter.plan``: the shapes a front end
    converts at for the duration of the call (the CLI's ``--input-shapes`` otherwise), then
    what was there before. Without shapes, nothing changes, unless ``restore`` (the CLI's
    ``main``: whatever a command sets, ``--inputs`` too, is undone after it)."""
    if not shapes and not restore:
        yield
        return
    saved, given = dict(_REQUESTED), _GIVEN[0]
    if shapes:
        use_input_shapes({k: tuple(int(d) for d in v) for k, v in shapes.items()})
    try:
        yield
    finally:
        use_input_shapes(saved)
        use_input_file(given)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def with_requested_shapes(f: Callable[_P, _R]) -> Callable[_P, _R]:
    """``f``'s keyword ``shapes=`` are the shapes a front end converts at during the call
    (``shapes_for_conversion``), as ``--input-shapes`` are for a command."""

    @functools.wraps(f)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        shapes: Mapping[str, Any] | None = kwargs.get("shapes")  # type: ignore[assignment]
        with shapes_for_conversion(shapes):
            return f(*args, **kwargs)

    return call


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """A framework's C++ logging, progress prints and deprecation warnings off the terminal: fds
    1 and 2 go to a temporary file for the duration (Python's own prints there are not
    expected)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def frontend_for(path: str | os.PathLike[str]) -> ModuleType | None:
    """The front end package that converts ``path`` (it has ``convert`` and ``source_check``),
    or None for an ONNX file (or anything else, which the ONNX loader then explains)."""
    from rewriter.frontends import pt2, tf

    for fe in (tf, pt2):
        if fe.source_kind(path) is not None:
            return fe
    return None
