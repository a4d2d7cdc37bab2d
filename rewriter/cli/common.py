"""What every subcommand shares: the argparse class that turns usage errors into one line, option
types, the input options of every command that runs a model, the console tables print to, and
the JSON report writer."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from rewriter.errors import UsageError

__all__ = [
    "Parser",
    "add_cluster_option",
    "degrees_arg",
    "add_input_options",
    "model_inputs",
    "ModelInputs",
    "console",
    "progress",
    "write_json",
]


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (one line, exit 2) instead of printing usage; shared by
    every subcommand."""

    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """Parse; with ``--cluster HEAD`` (``add_cluster_option``) also attach the cluster, and
        give ``--input-shapes`` and ``--inputs`` (or none) to the TorchScript front end, which
        converts at them."""
        a = super().parse_args(args, namespace)
        from rewriter.frontends.common import use_input_file, use_input_shapes

        use_input_shapes(getattr(a, "input_shapes", None))  # none: an earlier command's go
        use_input_file(getattr(a, "inputs", None))  # read by a front end that asks
        if getattr(a, "cluster", None):
            attach_cluster(a.cluster, getattr(a, "target", None))
        return a


def add_cluster_option(p: argparse.ArgumentParser) -> None:
    """``--cluster HEAD``: every measurement of the command runs on a device worker of the Ray
    cluster at HEAD that advertises the target (``rewrite worker``), not in this process."""
    p.add_argument(
        "--cluster",
        metavar="HEAD",
        help="measure on the Ray cluster at HEAD (HOST:PORT or ray://HOST:PORT): on a worker "
        "started with `rewrite worker --target T --address HEAD` (pip install 'pau-rewriter[ray]')",
    )


def attach_cluster(address: str, target: str | None = None) -> Any:
    """Route this process's measurements to the cluster at ``address`` (until the command ends:
    ``rewriter.cli.main`` closes it); with ``target``, fail now, in one line, when no device
    worker advertises it."""
    from rewriter.cost.measure import use_measurer
    from rewriter.fleet import RemoteMeasurer

    m = use_measurer(RemoteMeasurer(address))
    if target:
        from rewriter.cost.targets import get_target

        m.device(get_target(target))
    return m


def _number(text: str, positive: bool) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        want = "a number > 0" if positive else "a number >= 0"
        raise argparse.ArgumentTypeError(f"want {want}, got {text!r}")
    return v


def nonnegative_arg(text: str) -> float:
    """argparse type for a finite number >= 0 (tolerances, error bounds)."""
    return _number(text, positive=False)


def positive_arg(text: str) -> float:
    """argparse type for a finite number > 0 (seconds, rates, widths)."""
    return _number(text, positive=True)


def degrees_arg(text: str) -> tuple[int, int]:
    """argparse type for ``--degrees M,N``."""
    try:
        m, n = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--degrees wants M,N such as 5,4, got {text!r}") from None
    if m < 1 or n < 1 or m > 12 or n > 12:
        raise argparse.ArgumentTypeError(f"--degrees {text}: M and N must be between 1 and 12")
    return m, n


def _shapes_arg(text: str) -> dict[str, tuple[int, ...]]:
    from rewriter.inputs import parse_input_shapes

    try:
        return parse_input_shapes(text)
    except UsageError as e:  # argparse would replace the message by "invalid value"
        raise argparse.ArgumentTypeError(str(e).removeprefix("--input-shapes: ")) from None


def _ranges_arg(text: str) -> dict[str, tuple[float, float]]:
    from rewriter.inputs import parse_val_ranges

    try:
        return parse_val_ranges(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--val-range: ")) from None


def add_input_options(p: argparse.ArgumentParser) -> None:
    """``--inputs``, ``--input-shapes`` and ``--val-range``: what a command runs the model on
    (``model_inputs`` turns them, and ``--calibration`` where the command has it, into feeds)."""
    g = p.add_argument_group(
        "inputs the model is run on (default: derived from its graph, see rewriter.inputs)"
    )
    g.add_argument("--inputs", help=".npz of inputs keyed by input name")
    g.add_argument(
        "--input-shapes",
        type=_shapes_arg,
        metavar="NAME:1x3x640x640,...",
        help="fix generated inputs' shapes (and the dim names in them); other dims are probed",
    )
    g.add_argument(
        "--val-range",
        type=_ranges_arg,
        metavar="NAME:[LO,HI],...",
        help="value range of generated inputs (integers LO..HI inclusive); [LO,HI] alone: all",
    )


@dataclass
class ModelInputs:
    """Feeds one command runs a model on, and where they came from.

    Attributes:
        feeds: one feed dict (verification, site shapes, whole-model timings).
        source: ``"--inputs"``, ``"--calibration"`` or ``"generated"``.
        shapes, ranges: ``--input-shapes`` / ``--val-range`` (for more generated feeds).
        calibration: what to pass as ``calibration=``: ``--calibration``, else the
            ``--inputs`` feeds as one batch, else None (generated batches).
        notes: per generated input, how it was derived.
    """

    feeds: dict[str, Any]
    source: str
    shapes: dict[str, tuple[int, ...]] | None = None
    ranges: dict[str, tuple[float, float]] | None = None
    calibration: Any = None
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, int] | None = None  # generated inputs' dynamic dims (more seeds reuse them)
    unit: dict[str, str] | None = None  # generated images given pixels in [0, 1) (more seeds too)
    # inputs the model declares (ONNX Runtime asks for them) but no node reads: SFace's 29 float
    # weights left beside their quantized copies; the line counts them rather than list them
    unread: tuple[str, ...] = ()
    # draws of generated inputs made so far (``draw``): each made once (a KV cache's first pass,
    # one run of the model, is part of making one)
    drawn: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def generated(self) -> bool:
        return self.source == "generated"

    def shapes_text(self) -> str:
        """``"input_ids 1x64, attention_mask 1x64"``: the shapes these feeds have (inputs no
        node reads counted, not listed, where there are more than two)."""
        hide = set(self.unread) if len(self.unread) > 2 else set()
        text = ", ".join(
            f"{k} {'x'.join(map(str, getattr(v, 'shape', ()))) or 'scalar'}"
            for k, v in self.feeds.items()
            if k not in hide
        )
        if hide:
            first = ", ".join(k for k in self.feeds if k in hide)
            if len(first) > 60:
                first = first[:60].rsplit(", ", 1)[0] + ", ..."
            text += f" (and {len(hide)} inputs no node reads: {first})"
        return text

    def line(self) -> str:
        """One line for the terminal: which inputs the model ran on, and, for generated ones,
        that they are guesses at a deployment's sizes and how to give the real ones."""
        if not self.generated:
            return f"inputs ({self.source}): {self.shapes_text()}"
        return (
            f"inputs (generated at typical deployment sizes, see -v): {self.shapes_text()}; "
            "sites are measured and verified at these sizes: pass --input-shapes NAME:DIMS or "
            "--inputs data.npz for yours"
        )

    def to_dict(self) -> dict[str, Any]:
        """The report's ``inputs``: source, shape per input, and how each generated input was
        derived."""
        return {
            "source": self.source,
            "shapes": {k: list(getattr(v, "shape", ())) for k, v in self.feeds.items()},
            **({"notes": list(self.notes)} if self.notes else {}),
        }

    def verify(self, original: Any, rewritten: Any, tolerance: float | None = None) -> Any:
        """``rewriter.verify.verify`` of ``rewritten`` on these feeds, with more generated
        inputs where an output is constant (``more``) or an If branch was not run
        (``branching``); with ``tolerance``, on more draws (batches) where the first leave
        the verdict open."""
        from rewriter.verify import verify

        return verify(
            original,
            rewritten,
            self.feeds,
            self.source,
            more_feeds=self.draw(original) if self.generated else None,
            batches=self.batches()[1:],
            branch_feeds=self.branching(original),
            tolerance=tolerance,
        )

    def branching(self, model: Any) -> Callable[[dict[str, tuple[float, float]]], dict[str, Any]]:
        """``values -> feeds``: inputs that take other If branches (``rewriter.verify.verify``),
        generated with those inputs' values fixed and this command's ``--input-shapes`` and
        ``--val-range``; generated alike when the data are the user's, as their branches are
        what the rewrite must also be right on."""
        from rewriter.inputs import generate_inputs

        shapes = self.shapes if self.generated else None
        return lambda values: (
            generate_inputs(model, shapes=shapes, ranges={**(self.ranges or {}), **values}).feeds
        )

    def batches(self) -> list[dict[str, Any]]:
        """The user's batches verification may judge beside ``feeds`` (``--calibration``'s
        first ``rewriter.verify.MORE_DRAWS``, of which it judges ``DRAWS`` where they settle
        it; ``--inputs`` is one)."""
        from rewriter.verify import MORE_DRAWS

        cal = self.calibration if self.source == "--calibration" else None
        return list(getattr(cal, "batches", [self.feeds]))[:MORE_DRAWS] or [self.feeds]

    def draw(self, model: Any) -> Callable[[int], dict[str, Any]]:
        """``k -> feeds``: draw ``k`` of the verification inputs (``verify``: 0 these feeds, the
        others generated with ``more``, or the user's next batches)."""
        more = self.more(model)

        def draw(k: int) -> dict[str, Any]:
            if k == 0:
                return self.feeds
            if more is None:
                return self.batches()[k]
            if k not in self.drawn:
                self.drawn[k] = more(k)
            return self.drawn[k]

        return draw

    def fit_on(self, model: Any) -> list[dict[str, Any]]:
        """The feeds ``pau_learned`` regions are fitted on: every draw verification may judge
        (``rewriter.verify.MORE_DRAWS`` of generated inputs, or of the user's batches), so that
        none takes a region outside its fitted range (fitted on the three judged first, a
        ReLU^2 region met values outside its range on a ninth, judged where the three left the
        verdict open: rel-L2 0.014)."""
        from rewriter.verify import MORE_DRAWS

        draw = self.draw(model)
        return [draw(k) for k in range(MORE_DRAWS if self.generated else len(self.batches()))]

    def more(self, model: Any) -> Callable[[int], dict[str, Any]] | None:
        """``seed -> feeds`` for verification's constant outputs (generated inputs only)."""
        if not self.generated:
            return None
        from rewriter.verify import make_inputs

        return lambda seed: make_inputs(
            model,
            seed=seed,
            shapes=self.shapes,
            ranges=self.ranges,
            sizes=self.sizes,
            unit=self.unit,
        )


def model_inputs(a: argparse.Namespace, model: Any) -> ModelInputs:
    """The feeds of ``add_input_options`` (and ``--calibration`` when the command has it):
    ``--inputs`` first, then the calibration data's first batch, else generated from the graph
    with ``--input-shapes`` / ``--val-range``.

    Raises:
        UsageError: unreadable data, or shapes/ranges given along with data they cannot shape.
        InputError: no generated inputs run (one line naming the input, node and flags).
    """
    from rewriter.errors import UsageError

    shapes, ranges = getattr(a, "input_shapes", None), getattr(a, "val_range", None)
    data = getattr(a, "inputs", None)
    cal = getattr(a, "calibration", None)
    if (shapes or ranges) and (data or cal):
        flag = "--input-shapes" if shapes else "--val-range"
        given = f"--inputs {data}" if data else f"--calibration {cal}"
        raise UsageError(
            f"{flag} shapes generated inputs, but {given} gives the inputs; drop one of them"
        )
    if data:
        from rewriter.verify import load_inputs

        feeds = load_inputs(data, model)
        return ModelInputs(feeds, "--inputs", calibration=cal or [feeds])
    if cal:
        from rewriter.calibrate import load_calibration

        c = load_calibration(cal, model)  # loaded and checked once; passed on as it is
        return ModelInputs(c.batches[0], "--calibration", calibration=c)
    from rewriter.errors import ModelError
    from rewriter.inputs import InputError, generate_inputs

    try:
        gen = generate_inputs(model, shapes=shapes, ranges=ranges)
    except (InputError, ModelError):  # no size ran it, or ONNX Runtime refused it
        _blame_conversion(getattr(a, "model", None))
        raise
    return ModelInputs(
        gen.feeds, "generated", shapes, ranges, None, gen.notes, gen.sizes, gen.unit, _unread(model)
    )


def _unread(model: Any) -> tuple[str, ...]:
    """The graph inputs of ``model`` no node reads, in any graph, nor the graph returns."""
    from rewriter.ir import all_nodes

    read = {v for n in all_nodes(model.graph) for v in n.input} | {
        o.name for o in model.graph.output
    }
    return tuple(i.name for i in model.graph.input if i.name not in read)


def _blame_conversion(path: Any) -> None:
    """Where no generated inputs run a model converted from another framework, the converter's
    own line when its model fails at the example the source ran on (a TorchScript export that
    ONNX Runtime cannot run: no input size helps); nothing otherwise."""
    from rewriter.frontends.common import frontend_for

    frontend = frontend_for(path) if isinstance(path, str) else None
    check = getattr(frontend, "export_check", None)
    if check is not None:
        check(path)


def progress(tag: str, quiet: bool = False) -> Callable[[str], None]:
    """Progress lines (``[plan] ...``) for stderr, so stdout holds only tables and results."""
    if quiet:
        return lambda s: None
    return lambda s: print(f"[{tag}] {s}", file=sys.stderr, flush=True)


def console() -> Any:
    """The rich console every command prints its tables to."""
    from rich.console import Console

    return Console(stderr=False, highlight=False, width=140)


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write a JSON report atomically (sorted keys, usual file mode)."""
    from rewriter.ir import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=float))


def speed_said(result: Any, plan: Any, backoff: Any) -> str:
    """What the last line says of the written model's speed: measured (on which target, how
    much, faster or not), or not measured, or the input's computation when nothing changed.
    ``result`` has ``replaced``; ``plan`` (or None) ``target``, ``whole`` and ``budget``; the
    back-off's ``whole``, when it ran, times the model as finally written."""
    if not result.replaced:
        if backoff is not None:
            why = " (every site kept to stay within --tolerance)"
        elif not result.sites:  # no site: nothing was measured
            why = ""
        elif plan is not None and plan.target:
            within = "both within the accuracy budget and " if plan.budget is not None else ""
            how = "predicted" if getattr(plan, "strategy", "") == "predicted" else "measured"
            why = f" (no replacement {within}{how} faster on {plan.target})"
        else:
            why = ""
        return "it computes what the input does" + why
    if plan is None or not plan.target:
        return "speed not measured (no --target)"
    w = backoff.whole if backoff is not None and backoff.whole is not None else plan.whole
    if w is None:
        return f"speed on {plan.target} not measured for the whole model"
    verdict = "faster" if w.faster else "NOT faster beyond noise"
    return (
        f"measured x{w.speedup:.2f} on {plan.target} (95% CI {w.speedup_lo:.2f}-"
        f"{w.speedup_hi:.2f}): {verdict}"
    )
