"""Budget options of the main command (``--calibration``, ``--labels``, ``--max-drop``, ``--min-cosine``, ``--max-rel-error``)."""

from __future__ import annotations

import argparse
from typing import Any

from rewriter.cli.common import nonnegative_arg
from rewriter.errors import UsageError


def add_budget_options(p: argparse.ArgumentParser) -> None:
    """Add --calibration, --labels, --max-drop, --min-cosine, --max-rel-error to ``rewrite``.

    ``--target``, ``--db`` and ``--allow-standard`` are the main command's own options (reused).
    """
    g = p.add_argument_group("accuracy budget (with --target: fastest plan within the budget)")
    g.add_argument(
        "--calibration",
        help=".npz keyed by input name (or folder of .npy) the budget is measured on",
    )
    g.add_argument(
        "--labels", help="name of the labels array in the calibration .npz, for --max-drop"
    )
    g.add_argument(
        "--max-drop",
        type=nonnegative_arg,
        help="accuracy points (percent) the model may lose (needs --labels)",
    )
    g.add_argument(
        "--min-cosine",
        type=float,
        help="smallest cosine of the outputs to the original's, e.g. 0.999",
    )
    g.add_argument(
        "--max-rel-error",
        type=nonnegative_arg,
        help="largest relative L2 error of the outputs, e.g. 0.01",
    )
    g.add_argument(
        "--recover",
        action="store_true",
        help="also try replacements beyond the budget, retrain the network towards the original "
        "on the calibration data, and keep those that come back inside it",
    )
    g.add_argument(
        "--train",
        choices=("all", "weights", "coefficients"),
        default="all",
        help="with --recover: what retraining trains (default all: every float weight)",
    )
    g.add_argument(
        "--augment",
        choices=("none", "mixup", "shift"),
        default="none",
        help="with --recover: retraining matches the original on the calibration inputs as "
        "given (none, the default), on mixed pairs of them as well (mixup; float inputs "
        "only), or on the images moved by a random offset (shift; 4-d float inputs); both "
        "help some image models, see the README",
    )
    g.add_argument(
        "--schedule",
        choices=("constant", "onecycle"),
        default="constant",
        help="with --recover: each retraining run's rate, constant with early stopping (the "
        "default), or one cycle (up, then annealed to ~0 over every epoch); which recovers "
        "more depends on the site, see the README",
    )
    g.add_argument(
        "--recover-runs",
        type=int,
        default=8,
        help="with --recover: most retraining runs (default 8)",
    )


def budget_requested(a: argparse.Namespace) -> bool:
    return any(getattr(a, k, None) is not None for k in ("max_drop", "min_cosine", "max_rel_error"))


def run_budget(a: argparse.Namespace, model: Any, console: Any = None, inputs: Any = None) -> Any:
    """``plan_budget`` from the main command's options; prints the plan unless ``--quiet``.

    ``inputs`` (``cli.common.ModelInputs``): the budget is measured on ``--calibration``, else on
    ``--inputs``, else on generated batches shaped by ``--input-shapes`` / ``--val-range``."""
    from rewriter.cli.common import model_inputs, progress
    from rewriter.plan import plan_budget, plan_recover
    from rewriter.report import print_budget, print_recover

    if not getattr(a, "target", None):
        raise UsageError(
            "--max-drop/--min-cosine/--max-rel-error need --target (e.g. ort-cpu:threads=1)"
        )
    if getattr(a, "dry_run", False):
        raise UsageError("an accuracy budget builds and measures models; drop --dry-run")
    if getattr(a, "recover", False) and getattr(a, "calibration", None) is None:
        raise UsageError(
            "--recover retrains on data and verifies on a held-out part of it; pass --calibration "
            "data.npz (samples the model really sees)"
        )
    quiet = bool(getattr(a, "quiet", False))
    inputs = inputs if inputs is not None else model_inputs(a, model)
    common: dict[str, Any] = {
        "max_drop": a.max_drop,
        "min_cosine": a.min_cosine,
        "max_rel_error": a.max_rel_error,
        "allow_standard": bool(getattr(a, "allow_standard", False)),
        "labels": getattr(a, "labels", None),
        "db": getattr(a, "db", None),
        "shapes": inputs.shapes,
        "ranges": inputs.ranges,
    }
    pipeline = getattr(a, "pipeline", "pau_all")
    if getattr(a, "recover", False):
        res = plan_recover(
            model,
            pipeline,
            a.target,
            inputs.calibration,
            train=a.train,
            augment=a.augment,
            schedule=a.schedule,
            max_runs=a.recover_runs,
            progress=progress("recover", quiet),
            **common,
        )
        if not quiet:
            print_recover(res, console)
        return res
    res = plan_budget(
        model, pipeline, a.target, inputs.calibration, progress=progress("budget", quiet), **common
    )
    if not quiet:
        print_budget(res, console)
    return res
