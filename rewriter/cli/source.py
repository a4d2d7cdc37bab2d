"""The rewrite summary's lines for a TFLite / SavedModel / Keras / torch.export input: what the
conversion did, and the converted and rewritten ONNX models against the source in its own runtime
(LiteRT, TensorFlow or PyTorch), from the front end's ``source_check``. Nothing for an ONNX
input."""

from __future__ import annotations

import argparse
from typing import Any


def report_source(
    a: argparse.Namespace, original: Any, rewritten: Any, inputs: Any, report: dict[str, Any]
) -> str | None:
    """Add ``report["source"]`` and print its lines, when ``a.model`` is not an ONNX file.

    ``rewritten`` is None on a dry run (only the converted model is compared); without inputs
    (a dry run whose inputs cannot be generated) only the conversion notes are printed.

    Returns:
        The error line when the model to write does not compute what the source does
        (``SourceCheck.broken``): a converter's error, which verifying the rewrite against the
        converted model cannot see. None otherwise.
    """
    from rewriter.frontends.common import frontend_for

    frontend = frontend_for(a.model) if a.model else None
    if frontend is None:
        return None
    check = None
    if inputs is None:
        notes = frontend.convert(a.model).notes
        report["source"] = {"notes": notes}
        lines = notes
    else:
        check = frontend.source_check(a.model, original, rewritten, inputs.feeds, inputs.source)
        report["source"] = check.to_dict()
        lines = check.lines()
    if not a.quiet:
        for line in lines:
            print(line)
    if check is None or (why := check.broken()) is None:
        return None
    return (
        f"{a.model}: the model to write does not compute what the {check.kind} does in "
        f"{check.runtime} on {inputs.source} inputs ({why}); nothing written (--force writes "
        "it anyway)"
    )
