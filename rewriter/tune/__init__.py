"""The fine-tuning stage: recover the accuracy a rewrite lost, after replacement.

Public API::

    from rewriter import finetune           # = rewriter.tune.finetune

Modules: ``refit`` (layer-wise: each site's rational refitted on the inputs it really sees,
no gradients), ``e2e`` (end-to-end distillation of an ONNX student through the project's
ONNX-to-torch interpreter: its rational coefficients, its weights, or both, written back into
the student's own initializers), ``distill`` (the training loop; distillation of a torch
student, coefficients, weights or all). ``rewrite finetune`` (``rewriter.cli.finetune``) is the command line over them.
Every refit uses the one fit, ``rewriter.rational.fit(..., samples=x)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["finetune", "Tuned", "TRAIN"]

# what end-to-end distillation trains (``rewriter.tune.e2e.trainable_initializers``)
TRAIN = ("coefficients", "weights", "all")


@dataclass
class Tuned:
    """What ``finetune`` did to an ONNX student.

    Attributes:
        model: the tuned ``onnx.ModelProto`` (the student is not modified).
        mode: "layerwise", "distill" or "e2e".
        sites: per-site ``RefitResult`` (layerwise).
        history: per-epoch dicts (distill, e2e); a ``rewriter.tune.e2e.History``.
        heldout: the held-out split's deviation from the teacher before and after, with
            accuracies when labels were given (``rewriter.tune.e2e.HeldOut``; distill, e2e).
    """

    model: Any
    mode: str
    sites: list[Any] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    heldout: Any = None


def finetune(
    student: Any,
    teacher: Any,
    data: Any,
    *,
    mode: str | None = None,
    **options: Any,
) -> Any:
    """Tune a rewritten ``student`` towards its original ``teacher`` on ``data``.

    A torch student (``torch.nn.Module``, e.g. from ``rewrite(module)``) is distilled in place
    (``rewriter.tune.distill.distill``: output MSE or KL, plus cross-entropy when batches carry
    labels; PAU coefficients only by default, ``train="weights"`` or ``"all"`` to retrain the
    network); the result is the per-epoch history. An ONNX student (path or ``ModelProto``
    written by ``rewrite``) is tuned by ``mode``: "layerwise" (default) refits each site's
    rational on the inputs the site sees in the teacher (``rewriter.tune.refit.refit_onnx``),
    "distill" trains it end to end against the teacher's outputs and site activations,
    ``train="all"`` (default), ``"weights"`` or ``"coefficients"``
    (``rewriter.tune.e2e.finetune_e2e``; the values are written back into the student's own
    initializers), "e2e" is "distill" with ``train="coefficients"`` by default; the result is
    a ``Tuned``. Labels for distillation: ``labels=array`` (one class index per sample), or
    the ``labels`` array of the ``.npz`` given as ``data``.

    Args:
        student: the rewritten model (torch module, or ONNX path / ModelProto).
        teacher: the model it was rewritten from (same kind).
        data: torch: an iterable of batches (tensors, tuples, or (inputs, labels) pairs);
            ONNX: anything ``rewriter.calibrate.load_calibration`` takes (.npz path, folder,
            feed dicts, None for generated inputs) or a ``Calibration``.
        mode: ONNX students: "layerwise" (default), "distill" or "e2e"; torch students are
            always distilled (None or "distill").
        **options: passed on: torch ``epochs, lr, train, labels, loss, ...``; layerwise
            ``degrees, form, max_samples``; distill/e2e ``train, epochs, lr, seed,
            val_fraction, patience, labels, site_weight, loss, progress``.

    Returns:
        torch: ``list[dict]``, one per epoch. ONNX: ``Tuned(model, mode, sites, history)``.

    Raises:
        UsageError: an unknown mode, or a mode given for a torch student.
        ModelError: the ONNX student was not written by ``rewrite`` from ``teacher``.

    Example (the worked example of the README's digits CNN)::

        >>> import rewriter
        >>> student = rewriter.rewrite("digits.onnx", "pau_all")          # doctest: +SKIP
        >>> tuned = rewriter.finetune(student, "digits.onnx", "digits_test.npz")  # doctest: +SKIP
        >>> [(s.name, f"{s.old_max_abs:.1e} -> {s.new_max_abs:.1e}") for s in tuned.sites]
        ... # doctest: +SKIP
        [('gelu_0', '3.4e-04 -> 6.5e-05'), ('silu_0', '2.2e-04 -> 4.9e-05'), ...]
        >>> onnx.save(tuned.model, "digits_tuned.onnx")                   # doctest: +SKIP

        >>> tuned = rewriter.finetune("student.onnx", "model.onnx", "data.npz",
        ...                           mode="distill", train="all")          # doctest: +SKIP
        >>> tuned.heldout.before.rel_l2, tuned.heldout.after.rel_l2        # doctest: +SKIP

        >>> gm = rewriter.rewrite(torch_model, example_inputs=(x,))        # doctest: +SKIP
        >>> history = rewriter.finetune(gm, torch_model, [x1, x2, x3], epochs=5)  # doctest: +SKIP
    """
    from rewriter.errors import UsageError

    if _is_torch_module(student):
        if mode not in (None, "distill"):
            raise UsageError(
                f"finetune: mode={mode!r} is for ONNX students; a torch student is distilled "
                "(pass train='coefficients', 'weights' or 'all')"
            )
        from rewriter.tune.distill import distill

        return distill(student, teacher, data, **options)
    mode = mode or "layerwise"
    if mode == "layerwise":
        from rewriter.tune.refit import refit_onnx

        model, sites = refit_onnx(student, teacher, data, **options)
        return Tuned(model, mode, sites=sites)
    if mode in ("distill", "e2e"):
        from rewriter.calibrate import as_calibration
        from rewriter.ir import load_model
        from rewriter.tune.e2e import finetune_e2e, npz_labels

        s, t = load_model(student), load_model(teacher)
        cal = as_calibration(data, t)
        options.setdefault("train", "all" if mode == "distill" else "coefficients")
        if options.get("labels") is None:
            options["labels"] = npz_labels(data, t)
        model, history = finetune_e2e(s, t, cal.batches, **options)
        return Tuned(model, mode, history=history, heldout=history.heldout)
    raise UsageError(f"finetune: unknown mode {mode!r}; use 'layerwise', 'distill' or 'e2e'")


def _is_torch_module(obj: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)
